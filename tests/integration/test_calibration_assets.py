"""Calibration as assets on a real Dagster instance and real CASA (tiny simulated array).

A science tile observed 15 minutes before a 3C286 transit has no bandpass
when it runs: it waits. The later transit's tile solves its hour's
``bandpass_solutions``; ``calibration_sensor`` then releases the waiting
tile, which is calibrated with the later transit's tables and imaged. The
same instance then shows a change of imaging parameters marking the images
stale, a reprocess replacing them (the old record kept), a retired
bandpass re-queueing and staling the tiles it calibrated, and a re-solve
(materialising the hour's solutions again) releasing them once more.
"""

import datetime as dt
import shutil

import pytest
from astropy.time import Time, TimeDelta
from click.testing import CliRunner
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    build_sensor_context,
)
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime
from sqlalchemy import select

from dsa110_assets.definitions import defs as production_defs
from dsa110_assets.imaging import ImagingResource
from dsa110_assets.jobs import calibration_job, tile_job
from dsa110_assets.versions import with_code_versions
from dsa110_resources.casa.resource import CasaResource
from dsa110_resources.catalogs.calibrators import calibrator_catalog
from dsa110_resources.catalogs.resource import MasterCatalogResource, SkyCatalogResource
from dsa110_resources.cli import main
from dsa110_resources.conversion.naming import window_key
from dsa110_resources.conversion.resource import IngestResource
from dsa110_resources.db import (
    CalibrationApplication,
    CalibrationTable,
    Image,
    ImageHistory,
    MeasurementSet,
    ProductsDB,
    Tile,
)
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.simulation import SimulationConfig, calibrator_transit_start, write_tile
from dsa110_resources.stores.resource import StorageResource
from dsa110_sensors.calibration import calibration_sensor


pytestmark = [pytest.mark.casa, pytest.mark.slow]

CAL_START, DECLINATION = calibrator_transit_start("3C286", Time("2025-10-13T13:25:07", scale="utc"))
SCI_START = CAL_START - TimeDelta(15 * 60, format="sec")
CAL_WINDOW = window_key(CAL_START.to_datetime(timezone=dt.UTC))
SCI_WINDOW = window_key(SCI_START.to_datetime(timezone=dt.UTC))
HOUR = CAL_WINDOW[:14] + "00"


def definitions_for(data, catalog, imaging: ImagingResource) -> Definitions:
    """The production assets, checks and sensor with this site's resources (and their code versions)."""
    resources = {
        "storage": StorageResource(data_root=str(data), fast_root=None),
        "products_db": ProductsDBResource(url=sqlite_url(data / "state" / "products.sqlite")),
        "ingest": IngestResource(incoming_dir=str(data / "incoming"), min_subbands=1, incomplete_wait_seconds=0,
                                 settle_seconds=0),
        "casa": CasaResource(),
        "sky_catalog": SkyCatalogResource(path=str(catalog)),
        "master_catalog_files": MasterCatalogResource(),
        "imaging": imaging,
    }
    return Definitions(assets=with_code_versions(production_defs.assets, resources),
                       asset_checks=production_defs.asset_checks, jobs=[tile_job, calibration_job],
                       sensors=[calibration_sensor], resources=resources)


def tick(definitions, instance, cursor=None):
    with build_sensor_context(instance=instance, cursor=cursor, definitions=definitions,
                              resources={"products_db": definitions.resources["products_db"]}) as context:
        return calibration_sensor(context)


def launch(definitions, instance, request):
    """Execute a sensor's run request as the daemon would (same job, partition, assets, tags, run key)."""
    return definitions.resolve_job_def("tile_job").execute_in_process(
        partition_key=request.partition_key, asset_selection=request.asset_selection, instance=instance,
        tags={**request.tags, "dagster/run_key": request.run_key}, raise_on_error=False)


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.all_events
            if e.event_type == DagsterEventType.ASSET_MATERIALIZATION}


def status(definitions, instance, asset: str, partition: str) -> StaleStatus:
    """What the UI shows for a partition: Dagster's stale-status resolver over this code's asset graph."""
    graph = definitions.resolve_asset_graph()
    view = AssetGraphView(temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
                          instance=instance, asset_graph=graph)
    return CachingStaleStatusResolver(instance, graph, view).get_status(AssetKey(asset), partition)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Both tiles run; the science tile first, so it waits; then the sensor releases it."""
    tmp = tmp_path_factory.mktemp("calassets")
    data, catalog = tmp / "data", tmp / "calibrators.csv"
    calibrator_catalog(["3C286"]).write_csv(catalog)
    config = SimulationConfig.tiny(seed=4, n_active_antennas=16, subbands=(0, 5, 10, 15), n_sources=0,
                                   declination=DECLINATION, calibrators=("3C286",), gains=True)
    incoming = data / "incoming" / CAL_START.to_datetime().strftime("%Y-%m-%d")
    cal_truth = write_tile(incoming, CAL_START, config)
    sci_truth = write_tile(incoming, SCI_START, config.replace(seed=5, calibrators=(), n_sources=3))
    definitions = definitions_for(data, catalog, ImagingResource(size=256))
    instance = DagsterInstance.ephemeral()
    db = ProductsDB(sqlite_url(data / "state" / "products.sqlite"))
    state = dict(definitions=definitions, instance=instance, db=db, data=data, catalog=catalog,
                 cal_tile=min(p.name[:19] for p in cal_truth.files.values()),
                 sci_tile=min(p.name[:19] for p in sci_truth.files.values()))
    job = definitions.resolve_job_def("tile_job")

    state["science_first"] = job.execute_in_process(partition_key=SCI_WINDOW, instance=instance,
                                                    raise_on_error=False)
    state["tick_waiting"] = tick(definitions, instance)
    state["calibrator"] = job.execute_in_process(partition_key=CAL_WINDOW, instance=instance, raise_on_error=False)
    state["tick_released"] = tick(definitions, instance, state["tick_waiting"].cursor)
    state["released"] = [launch(definitions, instance, r) for r in state["tick_released"].run_requests]
    state["tick_after"] = tick(definitions, instance, state["tick_released"].cursor)
    return state


def test_a_later_calibrator_transit_releases_the_waiting_tile(site):
    instance, db = site["instance"], site["db"]
    assert site["science_first"].success
    assert materialized(site["science_first"]) == {"subband_group", "measurement_set"}
    assert site["tick_waiting"].run_requests == [] and "1 tile(s) still awaiting" in site["tick_waiting"].skip_reason.skip_message

    # The transit's own run solves its hour's solutions in-line and records them as that asset's partition.
    assert site["calibrator"].success
    assert {"calibrated_ms", "image"} <= materialized(site["calibrator"])
    solutions = instance.get_latest_materialization_event(AssetKey("bandpass_solutions"))
    assert solutions.dagster_event.partition == HOUR
    assert solutions.run_id == site["calibrator"].run_id

    # The sensor releases the science tile (and only it), once.
    (request,) = site["tick_released"].run_requests
    assert request.partition_key == SCI_WINDOW and request.run_key.startswith(f"calibrate:{site['sci_tile']}:")
    assert {k.to_user_string() for k in request.asset_selection} == {"calibrated_ms", "image", "photometry"}
    (run,) = site["released"]
    assert run.success and {"calibrated_ms", "image"} <= materialized(run)
    checked = {e.event_specific_data.check_name for e in run.all_events
               if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION}
    assert {"calibration_quality", "image_noise"} <= checked  # the gates run on a released tile too
    assert site["tick_after"].run_requests == []

    # The instance holds the window as calibrated and imaged, by the released run.
    for asset in ("calibrated_ms", "image"):
        event = instance.get_latest_materialization_event(AssetKey(asset))
        latest = {r.partition_key: r.run_id for r in instance.fetch_materializations(
            AssetKey(asset), limit=10).records}
        assert latest[SCI_WINDOW] == run.run_id, (asset, event)
    # ... and the products DB: the later transit's bandpass applied, the wait cleared, an image made.
    with db.session() as s:
        assert s.get(Tile, site["sci_tile"]).reason is None
        applied = s.scalars(select(CalibrationTable).join(
            CalibrationApplication, CalibrationApplication.caltable_id == CalibrationTable.id)
            .where(CalibrationApplication.ms_path.like(f"%{site['sci_tile']}%"))).all()
        bandpass = [t for t in applied if t.caltype == "B"]
        assert [t.source_tile_id for t in bandpass] == [site["cal_tile"]]
        assert bandpass[0].solved_for > SCI_START.to_datetime(timezone=dt.UTC)  # solved later than the tile
        assert {i.kind for i in s.scalars(select(Image).where(Image.tile_id == site["sci_tile"]))} >= {"image", "pb"}


def test_a_parameter_change_marks_images_stale_and_a_reprocess_replaces_them(site):
    instance, db, data = site["instance"], site["db"], site["data"]
    current = site["definitions"]
    assert status(current, instance, "image", SCI_WINDOW) == StaleStatus.FRESH
    with db.session() as s:
        before = {i.kind: (i.path, i.version, i.noise_jy) for i in s.scalars(
            select(Image).where(Image.tile_id == site["sci_tile"]))}
    assert {v for _, v, _ in before.values()} == {1}

    changed = definitions_for(data, site["catalog"], ImagingResource(size=256, robust=-0.5))
    assert status(changed, instance, "image", SCI_WINDOW) == StaleStatus.STALE
    assert status(changed, instance, "image", CAL_WINDOW) == StaleStatus.STALE
    assert status(changed, instance, "calibrated_ms", SCI_WINDOW) == StaleStatus.FRESH  # not imaging's business

    # Reprocess the window's image with the new parameters.
    result = changed.resolve_job_def("tile_job").execute_in_process(
        partition_key=SCI_WINDOW, asset_selection=[AssetKey("image"), AssetKey("photometry")],
        instance=instance, raise_on_error=False)
    assert result.success and "image" in materialized(result)
    assert status(changed, instance, "image", SCI_WINDOW) == StaleStatus.FRESH
    with db.session() as s:
        after = {i.kind: i for i in s.scalars(select(Image).where(Image.tile_id == site["sci_tile"]))}
        history = {h.kind: h for h in s.scalars(select(ImageHistory).where(ImageHistory.tile_id == site["sci_tile"]))}
    assert set(after) == set(before) == set(history)
    for kind, (old_path, _, old_noise) in before.items():
        new = after[kind]
        assert new.version == 2 and ".v2." in new.path and new.run_id == result.run_id
        assert new.code_version == changed.resolve_asset_graph().get(AssetKey("image")).code_version
        assert history[kind].path == old_path and history[kind].superseded_by == new.path
        assert history[kind].version == 1 and history[kind].run_id == site["released"][0].run_id
        assert not (data / old_path).exists() and (data / new.path).exists()
    # Briggs -0.5 weights long baselines up: a different image, its noise measured anew; the old figure kept.
    assert history["image"].noise_jy == pytest.approx(before["image"][2])
    assert after["image"].noise_jy != pytest.approx(history["image"].noise_jy, rel=1e-3)


def test_retiring_the_bandpass_requeues_and_stales_what_it_calibrated(site):
    instance, db, definitions = site["instance"], site["db"], site["definitions"]
    with db.session() as s:
        bandpass = s.scalars(select(CalibrationTable).where(
            CalibrationTable.caltype == "B", CalibrationTable.source_tile_id == site["cal_tile"])).one()
    assert status(definitions, instance, "calibrated_ms", SCI_WINDOW) == StaleStatus.FRESH

    out = CliRunner().invoke(main, ["caltables", "retire", str(bandpass.id), "--reason", "RFI storm during solve",
                                    "--data-root", str(site["data"])])
    assert out.exit_code == 0, out.output
    assert f"retired B table {bandpass.id}" in out.output and "2 measurement set(s)" in out.output
    with db.session() as s:  # the images it calibrated are no longer valid products (mosaics leave them out)
        assert {i.is_valid for i in s.scalars(select(Image))} == {False}

    result = site["tick_retired"] = tick(definitions, instance, site["tick_after"].cursor)
    keys = {r.partition_key: r.run_key for r in result.run_requests}
    assert set(keys) == {SCI_WINDOW, CAL_WINDOW}
    assert all(k.startswith("recalibrate:") and k.endswith(f":{bandpass.id}") for k in keys.values())
    # The hour's solutions changed (data version), so the windows they calibrated are stale.
    instance.report_runless_asset_event(result.asset_events[0])  # what the daemon does with a sensor's events
    assert status(definitions, instance, "calibrated_ms", SCI_WINDOW) == StaleStatus.STALE

    # Re-calibrating the science tile finds no other bandpass: it waits, and its image is not remade.
    request = next(r for r in result.run_requests if r.partition_key == SCI_WINDOW)
    run = launch(definitions, instance, request)
    assert run.success and materialized(run) == set()
    with db.session() as s:
        assert s.get(Tile, site["sci_tile"]).reason.startswith("awaiting calibration: ")
        assert s.scalars(select(CalibrationApplication).where(
            CalibrationApplication.ms_path.like(f"%{site['sci_tile']}%"))).all() == []
    listed = CliRunner().invoke(main, ["caltables", "waiting", "--data-root", str(site["data"])])
    assert listed.exit_code == 0 and "1 tile(s) awaiting calibration" in listed.output
    assert site["sci_tile"] in listed.output and "bandpass" in listed.output


def test_rematerialising_the_solutions_resolves_and_releases_again(site):
    instance, db, definitions = site["instance"], site["db"], site["definitions"]
    with db.session() as s:
        before = s.scalars(select(CalibrationTable).where(
            CalibrationTable.caltype == "B", CalibrationTable.source_tile_id == site["cal_tile"])).one()
    assert before.status == "retired"  # by the test before

    solved = definitions.resolve_job_def("calibration_job").execute_in_process(
        partition_key=HOUR, instance=instance, raise_on_error=False)
    assert solved.success and materialized(solved) == {"bandpass_solutions"}
    with db.session() as s:
        after = s.get(CalibrationTable, before.id)
    # Solved again from the MS (a new file and registration), valid again, the retirement remembered.
    assert after.status == "valid" and after.created_at > before.created_at
    assert after.qa["previously"] == {"status": "retired", "reason": "RFI storm during solve",
                                      "at": before.qa["retired"]["at"]}
    latest = instance.get_latest_materialization_event(AssetKey("bandpass_solutions"))
    assert latest.run_id == solved.run_id and latest.dagster_event.partition == HOUR

    # The science tile's re-calibration left it waiting; the re-solve releases it (a new run key).
    result = tick(definitions, instance, site["tick_retired"].cursor)
    assert {r.partition_key for r in result.run_requests} == {SCI_WINDOW}
    (request,) = result.run_requests
    assert request.run_key.startswith(f"calibrate:{site['sci_tile']}:") and request.run_key not in {
        r.run_key for r in site["tick_released"].run_requests}

    # Housekeeping deleted the transit's MS: a re-solve says so, and what to do, instead of failing in CASA.
    with db.session() as s:
        cal_ms = s.scalars(select(MeasurementSet.path).where(MeasurementSet.tile_id == site["cal_tile"])).one()
    shutil.rmtree(cal_ms)
    failed = definitions.resolve_job_def("calibration_job").execute_in_process(
        partition_key=HOUR, instance=instance, raise_on_error=False)
    (failure,) = [e for e in failed.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    message = failure.event_specific_data.error.message
    assert not failed.success and cal_ms in message and "materialise measurement_set" in message
