"""Downstream follows upstream, on a real Dagster instance (no CASA).

The hourly and nightly mosaics and the daily light curves of two hours and
two days are built by real runs of their jobs. Then a tile is added to one
hour (its image and photometry materialize in the instance, as a backfill or
reprocess records them) and later re-imaged; ``downstream_sensor`` must
request exactly that hour's mosaic, that day's nightly mosaic and (for new
photometry) that day's light curves, wait while a tile of the range is still
in the chain and during the quiet period, and not repeat a build that
already saw the change (its own, or one another path made). The requested runs are executed for real.
"""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import AssetKey, AssetMaterialization, DagsterInstance, Definitions, build_sensor_context

import dsa110_sensors.downstream as downstream
from dsa110_assets.mosaics import hourly_mosaic, hourly_mosaic_job, nightly_mosaic, nightly_mosaic_job
from dsa110_assets.photometry import daily_variability, science_daily_job
from dsa110_resources.catalogs.resource import SkyCatalogResource
from dsa110_resources.db import Image, ProductsDB, Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.stores.resource import StorageResource
from dsa110_sensors.downstream import QUIET, downstream_sensor

HOUR, OTHER_HOUR, DAY, OTHER_DAY = "2025-10-13T13:00", "2025-10-13T14:00", "2025-10-13", "2025-10-12"
WINDOW, BUSY_WINDOW = "2025-10-13T13:25", "2025-10-13T13:30"


@pytest.fixture
def site(tmp_path):
    data = tmp_path / "data"
    db_url = sqlite_url(data / "state" / "products.sqlite")
    defs = Definitions(
        assets=[hourly_mosaic, nightly_mosaic, daily_variability],
        jobs=[hourly_mosaic_job, nightly_mosaic_job, science_daily_job],
        sensors=[downstream_sensor],
        resources={"storage": StorageResource(data_root=str(data), fast_root=str(tmp_path / "shm")),
                   "products_db": ProductsDBResource(url=db_url), "sky_catalog": SkyCatalogResource()},
    )
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        yield defs, instance, ProductsDB(db_url), db_url


def add_tile(db, tile_id: str, *, imaged: bool, status: str = "converted"):
    when = dt.datetime.strptime(tile_id, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    with db.session() as s:
        s.merge(Tile(tile_id=tile_id, group_time=when, partition_key=tile_id[:16], declination_deg=54.6,
                     status=status, n_subbands=16))
        if imaged:
            for kind in ("image", "pb"):
                s.add(Image(tile_id=tile_id, path=f"/nowhere/{tile_id}.{kind}.fits", kind=kind, noise_jy=1e-3,
                            qa={"noise_ratio": 1.1}, is_valid=True))


def test_an_added_or_reprocessed_tile_rebuilds_its_hour_and_day_only(site, monkeypatch):
    defs, instance, db, db_url = site

    def run(job: str, key: str) -> None:
        assert defs.resolve_job_def(job).execute_in_process(partition_key=key, instance=instance).success

    def tick(cursor, after: dt.timedelta = dt.timedelta(0)):
        now = dt.datetime.now(dt.UTC) + after
        monkeypatch.setattr(downstream, "utc_now", lambda: now)
        context = build_sensor_context(instance=instance, cursor=cursor,
                                       resources={"products_db": ProductsDBResource(url=db_url)})
        result = downstream_sensor(context)
        return sorted((r.job_name, r.partition_key) for r in result.run_requests or []), result.cursor

    def materialize(asset: str, window: str) -> None:
        instance.report_runless_asset_event(AssetMaterialization(asset_key=AssetKey(asset), partition=window))

    for job, keys in ((hourly_mosaic_job.name, (HOUR, OTHER_HOUR)), (nightly_mosaic_job.name, (DAY, OTHER_DAY)),
                      (science_daily_job.name, (DAY, OTHER_DAY))):
        for key in keys:
            run(job, key)  # built (empty: "no mosaic" / "fewer than two epochs"), runs finished
    requested, cursor = tick(None)
    assert requested == []  # first tick: follows from now on, history is not replayed

    # A tile is added in 13:25 (imaged, photometry measured); the tile of 13:30 is still in the chain.
    add_tile(db, f"{WINDOW}:07", imaged=True)
    add_tile(db, f"{BUSY_WINDOW}:16", imaged=False)
    materialize("image", WINDOW)
    materialize("photometry", WINDOW)
    requested, cursor = tick(cursor)
    assert requested == []  # within the quiet period
    requested, cursor = tick(cursor, after=QUIET * 2)
    assert requested == []  # quiet, but a tile of the hour (and day) is still in the chain
    add_tile(db, f"{BUSY_WINDOW}:16", imaged=False, status="quarantined")
    requested, cursor = tick(cursor, after=QUIET * 2)
    expected = [(hourly_mosaic_job.name, HOUR), (nightly_mosaic_job.name, DAY), (science_daily_job.name, DAY)]
    assert requested == sorted(expected)  # that hour, that day; not 14:00, not the 12th

    for job, key in expected:  # the rebuilds run; they saw the change, so nothing more is asked
        run(job, key)
    requested, cursor = tick(cursor, after=QUIET * 2)
    assert requested == []

    # The tile is re-imaged only (a reprocess of `image`): the mosaics follow, the light curves do not.
    materialize("image", WINDOW)
    requested, cursor = tick(cursor, after=QUIET * 2)
    assert requested == sorted(expected[:2])

    # A tile imaged in 14:00 whose hour and day are then built by another path (the hourly
    # sensor, the nightly schedule) before the quiet period ends: those builds saw it.
    materialize("image", "2025-10-13T14:05")
    requested, cursor = tick(cursor)
    assert requested == []
    run(hourly_mosaic_job.name, OTHER_HOUR)
    run(nightly_mosaic_job.name, DAY)
    requested, cursor = tick(cursor, after=QUIET * 2)
    assert requested == []
