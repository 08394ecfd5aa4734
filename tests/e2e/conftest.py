"""A ``dagster dev`` with its own data root, calibrator catalog and instance, per test."""

from __future__ import annotations

import pytest

from dagster_dev import DagsterDev
from dsa110_resources.catalogs.calibrators import calibrator_catalog


@pytest.fixture
def dagster(tmp_path):
    data = tmp_path / "data"
    catalog = tmp_path / "calibrators.csv"
    calibrator_catalog(["3C286"]).write_csv(catalog)
    env = {
        "DSA110_SKY_CATALOG": str(catalog),
        "DSA110_ENV": "ci",
        "DSA110_DATA_ROOT": str(data),
        "DSA110_SENSOR_INTERVAL": "5",
        "DSA110_MIN_SUBBANDS": "1",  # the tiny preset writes 2 subbands
        "DSA110_INCOMPLETE_WAIT": "0",
        "DSA110_SETTLE": "1",  # files land by atomic rename: nothing is written in place
    }
    dev = DagsterDev(tmp_path / "dagster_home", env)
    try:
        dev.wait_ready()
        yield dev, data
    finally:
        dev.stop()
