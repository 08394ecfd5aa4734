"""The incoming-files sensor: grouping, run keys, high-water-mark cursor, timeout."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import pytest
from dagster import build_sensor_context
from sqlalchemy import select

from dsa110_resources.conversion.grouping import group_tiles
from dsa110_resources.conversion.registry import sync_groups
from dsa110_resources.db import ProductsDB, SubbandFile, Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.conversion.resource import IngestResource
from dsa110_resources.stores.resource import StorageResource
from dsa110_sensors.incoming import incoming_tiles_sensor, list_recent_files, plan_tile_runs

T0 = dt.datetime(2025, 10, 13, 13, 25, 7, tzinfo=dt.UTC)


def drop_tile(incoming, start, subbands=range(16), jitter_s=3, sharded=True, age_s=0):
    """Empty files with real names: the sensor only reads names and mtimes."""
    directory = incoming / start.strftime("%Y-%m-%d") if sharded else incoming
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, sb in enumerate(subbands):
        ts = start + dt.timedelta(seconds=(i * 7) % (jitter_s + 1))
        path = directory / f"{ts:%Y-%m-%dT%H:%M:%S}_sb{sb:02d}.hdf5"
        path.touch()
        if age_s:
            old = time.time() - age_s
            os.utime(path, (old, old))
        paths.append(path)
    return paths


def tick(ingest, cursor=None):
    root = Path(ingest.incoming_dir).parent
    db = ProductsDBResource(url=sqlite_url(root / "products.sqlite"))
    storage = StorageResource(data_root=str(root / "data"), fast_root=None)
    resources = {"ingest": ingest, "products_db": db, "storage": storage}
    with build_sensor_context(cursor=cursor, resources=resources) as context:
        result = incoming_tiles_sensor(context)
    return result, json.loads(result.cursor)


@pytest.fixture
def ingest(tmp_path):
    return IngestResource(incoming_dir=str(tmp_path / "incoming"), incomplete_wait_seconds=300,
                          settle_seconds=0)


def test_late_file_for_a_converted_tile_is_recorded_not_relaunched(ingest, tmp_path):
    incoming = tmp_path / "incoming"
    paths = drop_tile(incoming, T0, subbands=range(15), age_s=1000)
    result, cursor = tick(ingest)
    assert [r.run_key for r in result.run_requests] == ["2025-10-13T13:25:07"]
    db = ProductsDB(sqlite_url(tmp_path / "products.sqlite"))
    group = group_tiles(list_recent_files(incoming, None))[0]
    sync_groups(db, [group])  # what the tile run records, then it converts
    with db.session() as s:
        s.get(Tile, group.tile_id).status = "converted"
    late = incoming / "2025-10-13" / "2025-10-13T13:25:09_sb15.hdf5"
    late.touch()
    result, cursor = tick(ingest, json.dumps(cursor))
    assert result.run_requests == []  # never relaunched, never merged
    with db.session() as s:
        row = s.scalars(select(SubbandFile).where(SubbandFile.path == str(late))).one()
        assert row.status == "late" and row.tile_id == "2025-10-13T13:25:07"
        assert len(s.scalars(select(SubbandFile)).all()) == len(paths) + 1


def test_complete_tiles_launch_once_with_tile_run_keys(ingest, tmp_path):
    incoming = tmp_path / "incoming"
    drop_tile(incoming, T0)
    drop_tile(incoming, T0 + dt.timedelta(seconds=309), sharded=False)
    result, cursor = tick(ingest)
    keys = [r.run_key for r in result.run_requests]
    assert keys == ["2025-10-13T13:25:07", "2025-10-13T13:30:16"]
    assert [r.partition_key for r in result.run_requests] == ["2025-10-13T13:25", "2025-10-13T13:30"]
    assert result.run_requests[0].tags["dsa110/tile"] == "2025-10-13T13:25:07"
    assert result.run_requests[0].tags["dagster/priority"] == "10"  # live tiles before backfills
    assert cursor["high_water_mark"] == "2025-10-13T13:30:16"

    again, cursor2 = tick(ingest, json.dumps(cursor))
    assert again.run_requests == [] and cursor2 == cursor
    assert "no new tiles" in again.skip_reason.skip_message


def test_semi_complete_tile_waits_then_launches(ingest, tmp_path):
    incoming = tmp_path / "incoming"
    drop_tile(incoming, T0, subbands=range(14))
    result, cursor = tick(ingest)
    assert result.run_requests == []
    assert "waiting" in result.skip_reason.skip_message
    assert cursor["high_water_mark"] is None

    for path in (incoming / "2025-10-13").iterdir():  # the wait runs out
        os.utime(path, (time.time() - 301, time.time() - 301))
    result, cursor = tick(ingest, json.dumps(cursor))
    assert [r.run_key for r in result.run_requests] == ["2025-10-13T13:25:07"]
    assert result.run_requests[0].tags["dsa110/tile_state"] == "semi_complete"


def test_waiting_tile_holds_the_mark_but_not_later_tiles(ingest, tmp_path):
    incoming = tmp_path / "incoming"
    drop_tile(incoming, T0, subbands=range(13))  # waiting for stragglers
    drop_tile(incoming, T0 + dt.timedelta(seconds=309))  # complete
    result, cursor = tick(ingest)
    assert [r.run_key for r in result.run_requests] == ["2025-10-13T13:30:16"]
    assert cursor["high_water_mark"] is None  # the waiting tile is not passed over
    # The cursor remembers the launched tile; its run key would stop a repeat anyway.
    result, _ = tick(ingest, json.dumps(cursor))
    assert result.run_requests == []


def test_too_few_subbands_are_launched_to_be_reported(ingest, tmp_path):
    drop_tile(tmp_path / "incoming", T0, subbands=range(5), age_s=1000)
    result, cursor = tick(ingest)
    assert result.run_requests[0].tags["dsa110/tile_state"] == "too_few"
    assert cursor["high_water_mark"] == "2025-10-13T13:25:07"


def test_old_date_directories_are_not_listed(ingest, tmp_path):
    incoming = tmp_path / "incoming"
    drop_tile(incoming, T0 - dt.timedelta(days=3))
    drop_tile(incoming, T0)
    files = list_recent_files(incoming, "2025-10-13T13:25:07")
    assert {f.timestamp.date() for f in files} == {T0.date()}


def test_plan_is_pure_and_respects_the_mark(ingest, tmp_path):
    incoming = tmp_path / "incoming"
    drop_tile(incoming, T0)
    drop_tile(incoming, T0 + dt.timedelta(seconds=309))
    files = list_recent_files(incoming, None)
    plan = plan_tile_runs(files, "2025-10-13T13:25:07", ingest, dt.datetime.now(dt.UTC))
    assert [g.tile_id for g, _ in plan.requests] == ["2025-10-13T13:30:16"]
    assert [g.tile_id for g in plan.handled] == ["2025-10-13T13:25:07"]


def evaluate(ingest, tmp_path, cursor=None):
    """A tick as the daemon runs it: run requests checked against the job's partitions."""
    from dagster import DagsterInstance

    from dsa110_assets.definitions import defs

    resources = {
        "ingest": ingest,
        "products_db": ProductsDBResource(url=sqlite_url(tmp_path / "products.sqlite")),
        "storage": StorageResource(data_root=str(tmp_path / "data"), fast_root=None),
    }
    with build_sensor_context(cursor=cursor, resources=resources, definitions=defs,
                              instance=DagsterInstance.ephemeral()) as context:
        data = incoming_tiles_sensor.evaluate_tick(context)
    return data, json.loads(data.cursor)


def test_a_file_outside_the_partitions_is_quarantined_and_the_rest_launch(ingest, tmp_path):
    incoming = tmp_path / "incoming"
    drop_tile(incoming, T0, age_s=1000)
    (future,) = drop_tile(incoming, dt.datetime(2030, 1, 1, tzinfo=dt.UTC), [3], sharded=False, age_s=1000)
    past = drop_tile(incoming, dt.datetime(2020, 1, 1, tzinfo=dt.UTC), age_s=1000)  # before the start
    data, cursor = evaluate(ingest, tmp_path)
    assert [r.run_key for r in data.run_requests] == ["2025-10-13T13:25:07"]
    assert cursor["high_water_mark"] == "2025-10-13T13:25:07"
    for raw in (future, past[0]):
        assert not raw.exists()
        kept = next((tmp_path / "data" / "quarantine").glob(f"*/*/{raw.name}"))
        reason = (kept.parent / "reason.txt").read_text()
        assert raw.name in reason and "outside the tile partitions" in reason
    db = ProductsDB(sqlite_url(tmp_path / "products.sqlite"))
    with db.session() as s:
        assert s.get(Tile, "2030-01-01T00:00:00").status == "quarantined"
    drop_tile(incoming, T0 + dt.timedelta(seconds=309), age_s=1000)
    data, cursor = evaluate(ingest, tmp_path, json.dumps(cursor))
    assert [r.run_key for r in data.run_requests] == ["2025-10-13T13:30:16"]


def test_a_tile_completed_after_a_later_one_was_launched_is_launched(ingest, tmp_path):
    incoming = tmp_path / "incoming"
    drop_tile(incoming, T0 + dt.timedelta(seconds=309))
    data, cursor = evaluate(ingest, tmp_path)
    assert [r.run_key for r in data.run_requests] == ["2025-10-13T13:30:16"]
    db = ProductsDB(sqlite_url(tmp_path / "products.sqlite"))
    sync_groups(db, group_tiles(list_recent_files(incoming, None)))  # its run records it
    drop_tile(incoming, T0)  # an earlier tile, delivered late
    data, cursor = evaluate(ingest, tmp_path, json.dumps(cursor))
    assert [r.run_key for r in data.run_requests] == ["2025-10-13T13:25:07"]
    assert cursor["high_water_mark"] == "2025-10-13T13:30:16"  # the mark never goes back
    data, cursor = evaluate(ingest, tmp_path, json.dumps(cursor))
    assert data.run_requests == []  # asked for once


def test_the_database_follows_the_grouping_until_the_tile_is_final(tmp_path):
    from dsa110_resources.conversion.registry import recorded_group

    incoming = tmp_path / "incoming"
    db = ProductsDB(sqlite_url(tmp_path / "products.sqlite"))
    drop_tile(incoming, T0, subbands=[sb for sb in range(16) if sb != 4])
    (stray,) = drop_tile(incoming, T0 + dt.timedelta(seconds=25), [4])  # the only sb04 so far
    sync_groups(db, group_tiles(list_recent_files(incoming, None)))
    assert recorded_group(db, "2025-10-13T13:25:07").files[4].path == stray
    (real,) = drop_tile(incoming, T0 + dt.timedelta(seconds=1), [4])
    sync_groups(db, group_tiles(list_recent_files(incoming, None)))
    group = recorded_group(db, "2025-10-13T13:25:07")
    assert group.files[4].path == real and [d.path for d in group.duplicates] == [stray]


def test_a_tile_still_being_written_waits_until_its_files_settle(tmp_path):
    ingest = IngestResource(incoming_dir=str(tmp_path / "incoming"), settle_seconds=60)
    paths = drop_tile(tmp_path / "incoming", T0)  # 16 names, the last still growing
    result, cursor = tick(ingest)
    assert result.run_requests == [] and "being written" in result.skip_reason.skip_message
    for path in paths:
        os.utime(path, (time.time() - 61, time.time() - 61))
    result, cursor = tick(ingest, json.dumps(cursor))
    assert [r.run_key for r in result.run_requests] == ["2025-10-13T13:25:07"]
