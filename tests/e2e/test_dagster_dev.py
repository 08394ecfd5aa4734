"""End to end: dagster dev + daemon, the sensor turned on over GraphQL, a tile dropped in.

Then the window is reprocessed by a GraphQL-launched asset backfill (what the
UI's "Materialize" on a partition does). Ranges with empty windows: test_backfill.py.
"""

from __future__ import annotations

import datetime as dt

import pytest
from astropy.time import Time
from sqlalchemy import select

from dagster_dev import LOCATION, REPOSITORY
from dsa110_resources.conversion.naming import window_key
from dsa110_resources.db import Image, MeasurementSet, ProductsDB, Tile
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.simulation import SimulationConfig, calibrator_transit_start, write_tile

pytestmark = [pytest.mark.e2e, pytest.mark.casa]
# A 3C286 transit: the tile solves its own calibration, so the whole chain runs.
TILE_START, DECLINATION = calibrator_transit_start("3C286", Time("2025-10-13T13:25:00", scale="utc"))
TILE_WINDOW = window_key(TILE_START.to_datetime(timezone=dt.UTC))

RUNS = """query($tag: String!) { runsOrError(filter: {tags: [{key: "dsa110/tile", value: $tag}]}) {
  ... on Runs { results { runId status } } } }"""
CHECKS = """query($check: String!) { assetCheckExecutions(assetKey: {path: ["measurement_set"]},
  checkName: $check, limit: 5) { status partition } }"""
BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL_STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status partitionStatusCounts { runStatus count } } } }"""


def test_sensor_run_then_backfill(dagster):
    dev, data = dagster
    started = dev.graphql(
        """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) {
           __typename ... on Sensor { sensorState { status } } } }""",
        {"s": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
               "sensorName": "incoming_tiles_sensor"}},
    )["startSensor"]
    assert started["sensorState"]["status"] == "RUNNING", started

    config = SimulationConfig.tiny(seed=5, n_active_antennas=16, subbands=(0, 5, 10, 15), n_sources=0,
                                   declination=DECLINATION, calibrators=("3C286",))
    truth = write_tile(data / "incoming" / "2025-10-13", TILE_START, config)
    tile_id = min(p.name[:19] for p in truth.files.values())

    def finished_run():
        runs = dev.graphql(RUNS, {"tag": tile_id})["runsOrError"]["results"]
        done = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        return done[0] if done else None

    run = dev.wait_for(finished_run, 600, f"a finished run for tile {tile_id}")
    assert run["status"] == "SUCCESS", dev.log_tail()

    ms_path = data / "ms" / "calibrators" / "2025-10-13" / f"{tile_id}.ms"
    assert (ms_path / "table.dat").exists()
    db = ProductsDB(sqlite_url(data / "state" / "products.sqlite"))
    with db.session() as s:
        assert s.get(Tile, tile_id).status == "converted"
        assert s.scalars(select(MeasurementSet.path)).all() == [str(ms_path)]
        assert {i.kind for i in s.scalars(select(Image))} >= {"image", "pbcor", "pb", "residual"}
    for check in ("ms_integrity", "ms_flag_fraction"):
        executions = dev.graphql(CHECKS, {"check": check})["assetCheckExecutions"]
        assert [e["status"] for e in executions] == ["SUCCEEDED"], (check, executions)

    launched = dev.graphql(BACKFILL, {"params": {
        "partitionNames": [TILE_WINDOW],
        "assetSelection": [{"path": ["subband_group"]}, {"path": ["measurement_set"]}],
    }})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    def backfill_done():
        info = dev.graphql(BACKFILL_STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]
        return info if info["status"] in ("COMPLETED", "FAILED", "CANCELED", "COMPLETED_SUCCESS",
                                          "COMPLETED_FAILED") else None

    info = dev.wait_for(backfill_done, 300, "the backfill to finish")
    assert info["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), (info, dev.log_tail())
    counts = {c["runStatus"]: c["count"] for c in info["partitionStatusCounts"]}
    assert counts.get("FAILURE", 0) == 0, counts
    with db.session() as s:  # the re-run replaced the MS in place
        assert s.scalars(select(MeasurementSet.path)).all() == [str(ms_path)]
