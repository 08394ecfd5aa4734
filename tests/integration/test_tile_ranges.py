"""Ranged runs of the per-tile chain: every window keeps its own story.

A calibrator-transit tile and the science tile after it, in one run over the
two windows (what `dagster asset materialize --partition-range` does), on a
real on-disk Dagster instance.
"""

import datetime as dt

import pytest
from astropy.time import Time, TimeDelta
from dagster import DagsterEventType, instance_for_test
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from sqlalchemy import select

from dsa110_resources.catalogs.calibrators import calibrator_catalog
from dsa110_resources.conversion.naming import window_key
from dsa110_resources.db import Image, ProductsDB
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.simulation import SimulationConfig, calibrator_transit_start, write_tile

from test_tile_assets import START, events, make_site

pytestmark = [pytest.mark.casa, pytest.mark.slow]


def _key(time: Time) -> str:
    return window_key(time.to_datetime(timezone=dt.UTC))


def test_ranged_run_images_every_tile_with_its_own_metadata(tmp_path):
    start, declination = calibrator_transit_start("3C286", START)
    catalog = tmp_path / "calibrators.csv"
    calibrator_catalog(["3C286"]).write_csv(catalog)
    config = SimulationConfig.tiny(seed=4, n_active_antennas=12, n_sources=0, declination=declination,
                                   calibrators=("3C286",), gains=True)
    definitions, data, first = make_site(tmp_path, start, config, catalog)
    later = start + TimeDelta(309, format="sec")
    second = write_tile(data / "incoming" / later.to_datetime().strftime("%Y-%m-%d"), later,
                        config.replace(seed=5))
    keys = {_key(start): min(p.name[:19] for p in first.files.values()),
            _key(later): min(p.name[:19] for p in second.files.values())}
    first_key, last_key = sorted(keys)

    with instance_for_test() as instance:
        result = definitions.resolve_job_def("tile_job").execute_in_process(
            instance=instance, raise_on_error=False,
            tags={ASSET_PARTITION_RANGE_START_TAG: first_key, ASSET_PARTITION_RANGE_END_TAG: last_key},
        )
        # Ranged runs still share their gates (a failed blocking check blocks the
        # whole range), so only the image step itself is asserted here.
        failed = {e.step_key for e in events(result, DagsterEventType.STEP_FAILURE)}
        assert {"subband_group", "measurement_set", "calibrated_ms", "image"}.isdisjoint(failed), failed
        images = {
            e.event_specific_data.materialization.partition: e.event_specific_data.materialization.metadata
            for e in events(result, DagsterEventType.ASSET_MATERIALIZATION)
            if e.asset_key.to_user_string() == "image"
        }
    # Each window's materialization describes its own tile, preview included.
    assert {key: meta["tile_id"].value for key, meta in images.items()} == keys
    assert all(meta["preview"].value.startswith("![") for meta in images.values())
    db = ProductsDB(sqlite_url(data / "state" / "products.sqlite"))
    with db.session() as s:
        imaged = set(s.scalars(select(Image.tile_id).where(Image.kind == "image")))
    assert imaged == set(keys.values())
