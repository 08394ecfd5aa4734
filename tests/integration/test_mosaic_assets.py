"""Hourly and nightly mosaic assets, their checks and the hourly sensor, on synthetic tile images.

Three small synthetic tiles (256^2 at 60", beams scaled up to match) stand in
for the ``image`` asset's products: FITS files on disk plus the Tile and
Image rows the per-tile chain writes. One tile's image failed its noise gate
and one tile was quarantined, so the mosaic must leave both out and say why.
No CASA: runs in well under a minute.
"""

import datetime as dt

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.time import Time
from dagster import DagsterEventType, DagsterInstance, Definitions, build_sensor_context
from sqlalchemy import select

import dsa110_sensors.mosaics as mosaic_sensors
from dsa110_assets.mosaics import (
    MOSAIC_CHECKS,
    hourly_mosaic,
    hourly_mosaic_job,
    nightly_mosaic,
    nightly_mosaic_job,
)
from dsa110_resources import constants as C
from dsa110_resources.catalogs.resource import SkyCatalogResource
from dsa110_resources.catalogs.sky import SkyCatalog
from dsa110_resources.conversion.naming import window_key
from dsa110_resources.conversion.phasing import meridian_centre
from dsa110_resources.db import Image, Mosaic, ProductsDB, Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.mosaic.synthetic import drift_row
from dsa110_resources.photometry.forced import RestoringBeam
from dsa110_resources.stores.resource import StorageResource
from dsa110_sensors.mosaics import hourly_mosaic_sensor, nightly_mosaic_schedule

DEC = 54.57 * u.deg
START = Time("2025-10-13T13:00:05", scale="utc")
#: Drift scan: the tiles point at the meridian (the mosaic grids are planned from time and Dec).
RA0 = meridian_centre(START, DEC, C.site_location()).ra.to(u.deg)
HOUR = "2025-10-13T13:00"
BAD = 2  # the tile whose image failed the noise gate


def _utc(t: Time) -> dt.datetime:
    return t.utc.to_datetime(timezone=dt.UTC)


def add_tile(db, tile_id, when: dt.datetime, *, status="converted", reason=None, image=None, pb=None,
             noise=1e-3, noise_ratio=1.2):
    with db.session() as s:
        s.add(Tile(tile_id=tile_id, group_time=when, partition_key=window_key(when),
                   declination_deg=DEC.to_value(u.deg), status=status, reason=reason, n_subbands=16))
        if image is not None:
            for kind, path in (("image", image), ("pb", pb)):
                s.add(Image(tile_id=tile_id, path=str(path), kind=kind, noise_jy=noise,
                            qa={"noise_ratio": noise_ratio}, is_valid=True))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("mosaic_site")
    data = root / "data"
    images = data / "images" / "2025-10-13"
    images.mkdir(parents=True)
    rng = np.random.default_rng(3)
    sources = SkyCoord(RA0 + rng.uniform(0.3, 3.5, 10) * u.deg, DEC + rng.uniform(-0.8, 0.8, 10) * u.deg)
    fluxes = rng.uniform(0.3, 1.0, 10) * u.Jy
    tiles = drift_row(images, 3, START, RA0, DEC, (256, 256), 60 * u.arcsec, sources, fluxes,
                      beam=RestoringBeam(240 * u.arcsec, 150 * u.arcsec, 10 * u.deg), noise=1e-3 * u.Jy,
                      seed=5, with_pbcor=False)
    db_url = sqlite_url(data / "state" / "products.sqlite")
    db = ProductsDB(db_url)
    for k, tile in enumerate(tiles):
        add_tile(db, tile.tile_id, _utc(tile.start), image=f"{tile.prefix}.image.fits",
                 pb=f"{tile.prefix}.pb.fits", noise=tile.noise.to_value(u.Jy),
                 noise_ratio=25.0 if k == BAD else 1.2)
    quarantined = _utc(START + 3 * C.TILE_DURATION)
    add_tile(db, quarantined.strftime("%Y-%m-%dT%H:%M:%S"), quarantined, status="quarantined",
             reason="truncated file")
    catalog = SkyCatalog(np.array([f"S{i}" for i in range(10)], object), sources.ra.deg, sources.dec.deg,
                         fluxes.to_value(u.Jy), np.zeros(10))
    catalog_path = catalog.write_csv(root / "catalog.csv")
    resources = {
        "storage": StorageResource(data_root=str(data), fast_root=str(root / "shm")),
        "products_db": ProductsDBResource(url=db_url),
        "sky_catalog": SkyCatalogResource(path=str(catalog_path)),
    }
    definitions = Definitions(
        assets=[hourly_mosaic, nightly_mosaic],
        asset_checks=MOSAIC_CHECKS,
        jobs=[hourly_mosaic_job, nightly_mosaic_job],
        sensors=[hourly_mosaic_sensor],
        schedules=[nightly_mosaic_schedule],
        resources=resources,
    )
    return {"defs": definitions, "data": data, "db": db, "tiles": tiles, "quarantined": quarantined,
            "sources": sources}


def run(definitions, job, key):
    return definitions.resolve_job_def(job).execute_in_process(
        partition_key=key, instance=DagsterInstance.ephemeral(), raise_on_error=False
    )


def events(result, event_type):
    return [e for e in result.all_events if e.event_type == event_type]


def checks(result):
    return {e.event_specific_data.check_name: e.event_specific_data
            for e in events(result, DagsterEventType.ASSET_CHECK_EVALUATION)}


def test_hourly_mosaic_records_what_went_in_and_why(site):
    result = run(site["defs"], "hourly_mosaic_job", HOUR)
    assert result.success
    [materialization] = events(result, DagsterEventType.ASSET_MATERIALIZATION)
    assert materialization.partition == HOUR
    metadata = materialization.event_specific_data.materialization.metadata
    tiles = site["tiles"]
    good = [tiles[0].tile_id, tiles[1].tile_id]
    path = site["data"] / "mosaics" / "hourly" / "2025-10-13" / "2025-10-13T13.mosaic.fits"
    assert path.exists() and (path.parent / "2025-10-13T13.preview.png").exists()
    assert metadata["mosaic_path"].value == str(path)
    assert metadata["n_included"].value == 2 and metadata["n_excluded"].value == 2
    assert "image_noise: noise 25.0x" in metadata["tiles"].value
    with site["db"].session() as s:
        [row] = s.scalars(select(Mosaic).where(Mosaic.kind == "hourly")).all()
    assert row.partition_key == HOUR and row.path == str(path) and row.n_tiles == 2
    assert row.tiles["included"] == good
    excluded = row.tiles["excluded"]
    assert excluded[tiles[BAD].tile_id].startswith("QA failed: image_noise: noise 25.0x thermal")
    assert excluded[site["quarantined"].strftime("%Y-%m-%dT%H:%M:%S")] == "not imaged: tile quarantined (truncated file)"
    assert sum(m["tiles"] for m in row.tiles["missing"]) == 8  # 12 slots, 4 tiles known
    assert row.noise_jy > 0 and 0 < row.coverage < C.PRIMARY_BEAM_LIMIT + 1
    # Checks: evaluated from the stored QA. A third of an hour cannot cover the planned area.
    evaluated = checks(result)
    assert set(evaluated) == {"mosaic_noise", "mosaic_astrometry", "mosaic_overlap_flux", "mosaic_coverage"}
    assert evaluated["mosaic_noise"].passed, evaluated["mosaic_noise"].description
    assert evaluated["mosaic_astrometry"].passed, evaluated["mosaic_astrometry"].description
    assert evaluated["mosaic_astrometry"].metadata["evaluated"].value is True
    assert not evaluated["mosaic_coverage"].passed
    assert evaluated["mosaic_coverage"].severity.value == "WARN"
    assert row.qa["checks"]["noise"] is True and row.qa["astrometry_sources"] >= 3


def test_rerun_replaces_the_mosaic_row(site):
    assert run(site["defs"], "hourly_mosaic_job", HOUR).success
    with site["db"].session() as s:
        assert len(s.scalars(select(Mosaic).where(Mosaic.kind == "hourly")).all()) == 1


def test_hour_without_tiles_ends_with_no_mosaic(site):
    result = run(site["defs"], "hourly_mosaic_job", "2025-10-13T15:00")
    assert result.success
    assert events(result, DagsterEventType.ASSET_MATERIALIZATION) == []
    [observation] = events(result, DagsterEventType.ASSET_OBSERVATION)
    metadata = observation.event_specific_data.asset_observation.metadata
    assert metadata["outcome"].value == "no data" and metadata["reason"].value == "no tiles in this hour"
    assert checks(result) == {}


def test_nightly_mosaic_builds_blocks_and_overview(site):
    result = run(site["defs"], "nightly_mosaic_job", "2025-10-13")
    assert result.success
    [materialization] = events(result, DagsterEventType.ASSET_MATERIALIZATION)
    metadata = materialization.event_specific_data.materialization.metadata
    overview = site["data"] / "mosaics" / "nightly" / "2025-10-13" / "2025-10-13.overview.png"
    assert overview.exists() and metadata["overview_path"].value == str(overview)
    with site["db"].session() as s:
        rows = s.scalars(select(Mosaic).where(Mosaic.kind == "nightly")).all()
    assert 1 <= len(rows) <= 3  # the blocks near the tiles only
    assert all(r.partition_key == "2025-10-13" and "_RA" in r.path for r in rows)
    assert all(site["tiles"][BAD].tile_id in r.tiles["excluded"] for r in rows)
    assert checks(result)["mosaic_noise"].passed


def test_schedule_targets_the_previous_day(site):
    schedule = site["defs"].resolve_schedule_def("nightly_mosaic_schedule")
    assert schedule.cron_schedule == "0 1 * * *"


def test_sensor_requests_an_hour_once_when_ready(tmp_path, monkeypatch):
    db_url = sqlite_url(tmp_path / "products.sqlite")
    db = ProductsDB(db_url)
    t0 = Time("2025-10-13T16:00:05", scale="utc")
    for k in range(12):  # a full hour; the last tile still in the chain
        when = _utc(t0 + k * C.TILE_DURATION)
        tile_id = when.strftime("%Y-%m-%dT%H:%M:%S")
        imaged = k < 11
        add_tile(db, tile_id, when, image=f"/x/{tile_id}.image.fits" if imaged else None,
                 pb=f"/x/{tile_id}.pb.fits")
    for k in range(3):  # hour 13: three tiles, then the telescope stopped
        when = _utc(START + k * C.TILE_DURATION)
        tile_id = when.strftime("%Y-%m-%dT%H:%M:%S")
        add_tile(db, tile_id, when, image=f"/x/{tile_id}.image.fits", pb=f"/x/{tile_id}.pb.fits")
    resources = {"products_db": ProductsDBResource(url=db_url)}

    def tick(now, cursor):
        monkeypatch.setattr(mosaic_sensors, "utc_now", lambda: now.replace(tzinfo=dt.UTC))
        result = hourly_mosaic_sensor(build_sensor_context(cursor=cursor, resources=resources))
        return [(r.partition_key, r.run_key) for r in result.run_requests or []], result.cursor

    requested, cursor = tick(dt.datetime(2025, 10, 13, 13, 50), None)
    assert requested == []  # the hour has not ended
    requested, cursor = tick(dt.datetime(2025, 10, 13, 14, 5), cursor)
    assert requested == []  # ended, but tiles may still come: wait for the deadline
    requested, cursor = tick(dt.datetime(2025, 10, 13, 14, 31), cursor)
    assert requested == [(HOUR, HOUR)]  # deadline passed: built with what there is
    requested, cursor = tick(dt.datetime(2025, 10, 13, 14, 32), cursor)
    assert requested == []  # not twice

    requested, cursor = tick(dt.datetime(2025, 10, 13, 17, 2), cursor)
    assert requested == []  # hour 16 complete in time, but its last tile is not imaged yet
    last = _utc(t0 + 11 * C.TILE_DURATION).strftime("%Y-%m-%dT%H:%M:%S")
    with db.session() as s:
        s.add(Image(tile_id=last, path=f"/x/{last}.image.fits", kind="image", noise_jy=1e-3,
                    qa={"noise_ratio": 1.1}))
    requested, cursor = tick(dt.datetime(2025, 10, 13, 17, 3), cursor)
    assert requested == [("2025-10-13T16:00", "2025-10-13T16:00")]  # complete: no need to wait
    requested, cursor = tick(dt.datetime(2025, 10, 13, 17, 4), cursor)
    assert requested == []

    # A late tile of hour 13 is not this sensor's: downstream_sensor rebuilds built hours
    # (tests/integration/test_downstream.py).


@pytest.mark.parametrize("kind, key", [("hourly", HOUR), ("nightly", "2025-10-13")])
def test_mosaic_sources_are_found_and_stored(site, kind, key):
    """The mosaic jobs also find sources blind on the mosaics (their noise planes as the rms)."""
    from dsa110_assets.sources import hourly_mosaic_sources, nightly_mosaic_sources
    from dsa110_resources.db import SourceMeasurement

    definitions = Definitions(assets=[hourly_mosaic, nightly_mosaic, hourly_mosaic_sources, nightly_mosaic_sources],
                              jobs=[hourly_mosaic_job, nightly_mosaic_job], resources=site["defs"].resources)
    result = run(definitions, f"{kind}_mosaic_job", key)
    assert result.success
    made = {e.asset_key.to_user_string() for e in events(result, DagsterEventType.ASSET_MATERIALIZATION)}
    assert made == {f"{kind}_mosaic", f"{kind}_mosaic_sources"}
    with site["db"].session() as s:
        rows = s.execute(select(SourceMeasurement.ra_deg, SourceMeasurement.dec_deg, SourceMeasurement.snr)
                         .where(SourceMeasurement.image_kind == kind)).all()
    found = SkyCoord([r[0] for r in rows] * u.deg, [r[1] for r in rows] * u.deg)
    bright = np.array([r[2] for r in rows]) > 10
    _, sep, _ = found[bright].match_to_catalog_sky(site["sources"])
    assert bright.sum() >= 3 and (sep < 120 * u.arcsec).all()  # each bright detection is an injected source
    assert list((site["data"] / "sources" / kind).rglob("*.sources.parquet"))
