"""The per-tile chain materialised in process on a tiny simulated tile, with its checks."""

import datetime as dt
import os
import time

import pytest
from astropy.time import Time
from dagster import AssetSelection, DagsterEventType, DagsterInstance, Definitions, define_asset_job
from sqlalchemy import select

from dsa110_assets.definitions import defs as production_defs
from dsa110_assets.imaging import ImagingResource
from dsa110_assets.jobs import tile_job
from dsa110_resources.casa.resource import CasaResource
from dsa110_resources.catalogs.calibrators import calibrator_catalog
from dsa110_resources.catalogs.resource import MasterCatalogResource, SkyCatalogResource
from dsa110_resources.db import (
    CalibrationApplication,
    CalibrationTable,
    ForcedPhotometry,
    Image,
    MeasurementSet,
    ProductsDB,
    SubbandFile,
    Tile,
)
from dsa110_resources.conversion.naming import window_key
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.conversion.resource import IngestResource
from dsa110_resources.simulation import SimulationConfig, calibrator_transit_start, write_tile
from dsa110_resources.stores.resource import StorageResource
from writers import held_open_by_writer

pytestmark = pytest.mark.casa
START = Time("2025-10-13T13:25:07", scale="utc")
WINDOW = "2025-10-13T13:25"


#: Ingest and conversion only (with their checks): the calibration chain has its own test.
convert_job = define_asset_job(
    "convert_job", selection=AssetSelection.assets("subband_group", "measurement_set")
)


def make_site(tmp_path, start, config, catalog=None):
    data = tmp_path / "data"
    incoming = data / "incoming" / start.to_datetime().strftime("%Y-%m-%d")
    truth = write_tile(incoming, start, config)
    resources = {
        "storage": StorageResource(data_root=str(data), fast_root=str(tmp_path / "shm")),
        "products_db": ProductsDBResource(url=sqlite_url(data / "state" / "products.sqlite")),
        # The tiny preset writes 2 subbands; the completeness rule is an operator knob.
        "ingest": IngestResource(
            incoming_dir=str(data / "incoming"), min_subbands=1, incomplete_wait_seconds=0,
            settle_seconds=2, unready_retries=3,
        ),
        "casa": CasaResource(),
        "sky_catalog": SkyCatalogResource(path=str(catalog) if catalog else None),
        "master_catalog_files": MasterCatalogResource(),
        "imaging": ImagingResource(size=512),
    }
    definitions = Definitions(
        assets=production_defs.assets,
        asset_checks=production_defs.asset_checks,
        jobs=[tile_job, convert_job],
        resources=resources,
    )
    return definitions, data, truth


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path, START, SimulationConfig.tiny(seed=3))


def run(definitions, key, instance, job="convert_job"):
    return definitions.resolve_job_def(job).execute_in_process(
        partition_key=key, instance=instance, raise_on_error=False
    )


def events(result, event_type):
    return [e for e in result.all_events if e.event_type == event_type]


def test_tile_becomes_a_checked_measurement_set(site):
    definitions, data, truth = site
    instance = DagsterInstance.ephemeral()
    result = run(definitions, WINDOW, instance)
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in events(result, DagsterEventType.ASSET_MATERIALIZATION)}
    assert {"subband_group", "measurement_set"} <= materialized
    checks = {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in events(result, DagsterEventType.ASSET_CHECK_EVALUATION)
    }
    assert checks == {"ms_integrity": True, "ms_flag_fraction": True}

    tile_id = min(p.name[:19] for p in truth.files.values())
    ms_path = data / "ms" / "science" / "2025-10-13" / f"{tile_id}.ms"
    assert (ms_path / "table.dat").exists()
    db = ProductsDB(sqlite_url(data / "state" / "products.sqlite"))
    with db.session() as s:
        tile = s.get(Tile, tile_id)
        assert tile.status == "converted" and tile.partition_key == WINDOW
        assert tile.declination_deg == pytest.approx(SimulationConfig.tiny().declination.to_value("deg"), abs=1e-3)
        assert s.scalars(select(MeasurementSet.path)).all() == [str(ms_path)]
        assert len(s.scalars(select(SubbandFile)).all()) == len(truth.files)
    materialization = events(result, DagsterEventType.ASSET_MATERIALIZATION)[-1]
    metadata = materialization.event_specific_data.materialization.metadata
    assert metadata["tile_id"].value == tile_id and metadata["n_rows"].value > 0

    # Re-running the partition replaces the MS in place: one MS, one DB row.
    again = run(definitions, WINDOW, instance)
    assert again.success
    with db.session() as s:
        assert s.scalars(select(MeasurementSet.path)).all() == [str(ms_path)]
    assert sorted(p.name for p in ms_path.parent.iterdir()) == [ms_path.name]


def test_rematerialising_leaves_a_late_file_out_as_the_database_says(site, tmp_path):
    from casacore import tables as ct

    definitions, data, truth = site
    instance = DagsterInstance.ephemeral()
    assert run(definitions, WINDOW, instance).success
    # sb07 of the same tile arrives after the tile was converted.
    late_dir = tmp_path / "late"
    write_tile(late_dir, START, SimulationConfig.tiny(seed=3, subbands=(7,)))
    (late,) = late_dir.glob("*_sb07.hdf5")
    late = late.rename(data / "incoming" / "2025-10-13" / late.name)
    assert run(definitions, WINDOW, instance).success
    db = ProductsDB(sqlite_url(data / "state" / "products.sqlite"))
    with db.session() as s:
        assert s.scalars(select(SubbandFile.status).where(SubbandFile.path == str(late))).one() == "late"
        assert "7" in s.scalars(select(Tile.missing_subbands)).one().split(",")
        ms_path = s.scalars(select(MeasurementSet.path)).one()
    with ct.table(ms_path, ack=False) as ms:
        flags = ms.getcol("FLAG")
    sb07 = slice(768 - 8 * 48, 768 - 7 * 48)  # ascending channels; sb00 is the highest
    assert flags[:, sb07].all()  # not merged


def test_empty_window_ends_as_no_data(site):
    definitions, data, _ = site
    result = run(definitions, "2025-10-13T13:40", DagsterInstance.ephemeral(), job="tile_job")
    assert result.success
    assert events(result, DagsterEventType.ASSET_MATERIALIZATION) == []
    observations = events(result, DagsterEventType.ASSET_OBSERVATION)
    assert observations[0].event_specific_data.asset_observation.metadata["outcome"].value == "no data"
    skipped = {e.step_key for e in events(result, DagsterEventType.STEP_SKIPPED)}
    assert {"measurement_set", "calibrated_ms", "image"} <= skipped


def test_corrupt_file_quarantines_the_tile_and_names_the_file(site):
    definitions, data, truth = site
    bad = sorted(truth.files.values())[0]
    bad.write_bytes(bad.read_bytes()[:4096])  # truncated mid-write, and the writer long gone
    os.utime(bad, (time.time() - 3600, time.time() - 3600))
    result = run(definitions, WINDOW, DagsterInstance.ephemeral(), job="tile_job")
    assert not result.success
    failure = events(result, DagsterEventType.STEP_FAILURE)[0]
    message = failure.event_specific_data.error.message + str(failure.event_specific_data.user_failure_data)
    assert bad.name in message
    quarantine = data / "quarantine" / "2025-10-13"
    reason = next(quarantine.glob("*/reason.txt")).read_text()
    assert bad.name in reason
    assert not bad.exists()  # moved, not left for the next sensor tick
    db = ProductsDB(sqlite_url(data / "state" / "products.sqlite"))
    with db.session() as s:
        assert s.scalars(select(Tile.status)).all() == ["quarantined"]
        assert s.scalars(select(MeasurementSet)).all() == []


def _copy_slowly(victim, whole: bytes, db_file) -> None:
    """Keep the partial file growing until the run's first look at the tile
    (its files are in the products DB), then finish the copy."""
    import sqlite3

    first_look, deadline = None, time.time() + 60
    while time.time() < deadline and (first_look is None or time.time() - first_look < 0.5):
        os.utime(victim)  # still being written
        try:
            with sqlite3.connect(db_file) as db:
                if first_look is None and db.execute("select count(*) from subband_files").fetchone()[0]:
                    first_look = time.time()
        except sqlite3.Error:
            pass  # not created yet
        time.sleep(0.1)
    victim.write_bytes(whole)


def test_a_file_still_being_copied_is_retried_not_quarantined(site):
    import threading

    definitions, data, truth = site
    victim = sorted(truth.files.values())[-1]
    whole = victim.read_bytes()
    victim.write_bytes(whole[: len(whole) // 3])  # the copy is a third done
    copier = threading.Thread(target=_copy_slowly, args=(victim, whole, data / "state" / "products.sqlite"))
    copier.start()
    result = run(definitions, WINDOW, DagsterInstance.ephemeral())
    copier.join()
    assert result.success
    assert events(result, DagsterEventType.STEP_UP_FOR_RETRY)
    assert not (data / "quarantine").exists() and victim.read_bytes() == whole
    db = ProductsDB(sqlite_url(data / "state" / "products.sqlite"))
    with db.session() as s:
        assert s.scalars(select(Tile.status)).all() == ["converted"]


def test_a_file_locked_by_its_writer_is_quarantined_after_the_bounded_wait(site):
    definitions, data, truth = site
    victim = sorted(truth.files.values())[0]
    with held_open_by_writer(victim):
        result = run(definitions, WINDOW, DagsterInstance.ephemeral(), job="tile_job")
    assert not result.success
    assert len(events(result, DagsterEventType.STEP_UP_FOR_RETRY)) == 3
    reason = next((data / "quarantine").glob("*/*/reason.txt")).read_text()
    assert victim.name in reason and "still not readable" in reason and "lock" in reason


@pytest.mark.slow
def test_calibrator_tile_runs_the_whole_chain(tmp_path):
    """A 3C286 transit tile: detected, converted, solved and registered, applied, imaged."""
    start, declination = calibrator_transit_start("3C286", START)
    catalog = tmp_path / "calibrators.csv"
    calibrator_catalog(["3C286"]).write_csv(catalog)
    config = SimulationConfig.tiny(seed=4, n_active_antennas=16, subbands=(0, 5, 10, 15), n_sources=0,
                                   declination=declination, calibrators=("3C286",), gains=True)
    definitions, data, truth = make_site(tmp_path, start, config, catalog)
    window = window_key(start.to_datetime(timezone=dt.UTC))
    result = run(definitions, window, DagsterInstance.ephemeral(), job="tile_job")
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in events(result, DagsterEventType.ASSET_MATERIALIZATION)}
    # the hour's calibrator solutions, solved in-line by the transit's own run, are an asset too
    assert materialized == {"subband_group", "measurement_set", "bandpass_solutions", "calibrated_ms", "image",
                            "photometry", "sources"}
    checks = {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in events(result, DagsterEventType.ASSET_CHECK_EVALUATION)
    }
    assert checks == {name: True for name in (
        "ms_integrity", "ms_flag_fraction", "calibration_quality", "image_noise", "image_flux_scale",
        "image_dynamic_range", "sources_catalog_recovery")}

    db = ProductsDB(sqlite_url(data / "state" / "products.sqlite"))
    tile_id = min(p.name[:19] for p in truth.files.values())
    with db.session() as s:
        tile = s.get(Tile, tile_id)
        assert tile.calibrator == "3C286"
        ms = s.scalars(select(MeasurementSet)).one()
        assert "/ms/calibrators/" in ms.path
        solved = {t.caltype: t for t in s.scalars(select(CalibrationTable))}
        assert {"B", "G"} <= set(solved) and solved["B"].source_tile_id == tile_id
        applied = s.scalars(select(CalibrationApplication).where(CalibrationApplication.ms_path == ms.path)).all()
        assert {a.caltable.caltype for a in applied} >= {"B", "G"}
        image = s.scalars(select(Image).where(Image.kind == "pbcor")).one()
        recovery = image.qa["recovery"]
        # The calibrator, measured on the beam-corrected image, against its catalog flux.
        assert recovery["n_measured"] == 1
        assert abs(recovery["flux_ratio_median"] - 1) < 0.1
        # ... and by forced photometry (the light-curve measurement) at its catalog position.
        measured = s.scalars(select(ForcedPhotometry).where(ForcedPhotometry.band == "full")).one()
        assert measured.source_id == "3C286" and measured.tile_id == tile_id
        assert abs(measured.flux_jy / 14.9 - 1) < 0.1 and measured.flux_err_jy > 0
        # ... and on each of the four sub-band images, at four distinct frequencies.
        sub = {r.band: r for r in s.scalars(select(ForcedPhotometry).where(ForcedPhotometry.band != "full"))}
        assert sorted(sub) == ["sb0", "sb1", "sb2", "sb3"], sorted(sub)
        assert len({r.freq_hz for r in sub.values()}) == 4, {b: r.freq_hz for b, r in sub.items()}
        assert all(abs(r.flux_jy / 14.9 - 1) < 0.15 for r in sub.values()), {b: r.flux_jy for b, r in sub.items()}
    image_event = [e for e in events(result, DagsterEventType.ASSET_MATERIALIZATION)
                   if e.asset_key.to_user_string() == "image"][0]
    metadata = image_event.event_specific_data.materialization.metadata
    assert metadata["preview"].value.startswith("![")
    assert metadata["noise_mjy"].value > 0


def _observations(result, asset):
    return {
        e.event_specific_data.asset_observation.partition: e.event_specific_data.asset_observation.metadata
        for e in events(result, DagsterEventType.ASSET_OBSERVATION) if e.asset_key.to_user_string() == asset
    }


def test_uncalibrated_tile_waits_and_is_imaged_only_on_request(site):
    """No bandpass registered: the window awaits calibration; DATA is imaged only when asked."""
    definitions, data, truth = site
    instance = DagsterInstance.ephemeral()
    result = run(definitions, WINDOW, instance, job="tile_job")
    assert result.success  # waiting for calibration is a state, not a failure
    materialized = {e.asset_key.to_user_string() for e in events(result, DagsterEventType.ASSET_MATERIALIZATION)}
    assert materialized == {"subband_group", "measurement_set"}
    waiting = _observations(result, "calibrated_ms")[WINDOW]
    assert waiting["outcome"].value == "awaiting calibration" and "bandpass" in waiting["reason"].value
    db = ProductsDB(sqlite_url(data / "state" / "products.sqlite"))
    tile_id = min(p.name[:19] for p in truth.files.values())
    with db.session() as s:
        assert s.get(Tile, tile_id).reason.startswith("awaiting calibration: ")

    # The image step alone (a later run, a backfill of `image`) will not image raw DATA ...
    image_job = define_asset_job("image_only", selection=AssetSelection.assets("image")).resolve(
        asset_graph=definitions.resolve_asset_graph())
    alone = image_job.execute_in_process(partition_key=WINDOW, instance=instance, raise_on_error=False)
    assert alone.success and events(alone, DagsterEventType.ASSET_MATERIALIZATION) == []
    assert _observations(alone, "image")[WINDOW]["outcome"].value == "awaiting calibration"
    with db.session() as s:
        assert s.scalars(select(Image)).all() == []
    # ... unless a person asks for it in the run's config.
    opted = image_job.execute_in_process(
        partition_key=WINDOW, instance=instance, raise_on_error=False,
        run_config={"resources": {"imaging": {"config": {"allow_uncalibrated": True}}}})
    assert opted.success
    metadata = events(opted, DagsterEventType.ASSET_MATERIALIZATION)[0].event_specific_data.materialization.metadata
    assert "UNCALIBRATED" in metadata["data_column"].value and metadata["caltables"].value == "none"
