"""Scale of the asset graph: a year of 5-minute partitions.

Measures, with a year of tile windows (~105k partitions per asset):
1. Definitions load time (fresh interpreter), against a 1-day partition set as baseline;
2. the UI's partition-status query (GraphQL, in process) with materialisations
   recorded for a realistic fraction of windows, against a 1-day asset history;
3. one incoming-files sensor tick over 100k files: cold (no cursor) and steady
   state (high-water mark set), against a plain recursive listing of the tree.

Usage: python bench/partitions.py [--fraction 0.3] [--files 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def year_start() -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=365)).strftime("%Y-%m-%dT00:00")


def load_time(partition_start: str) -> float:
    code = "import time; t = time.perf_counter(); import dsa110_assets.definitions as d; " \
           "d.defs.get_repository_def(); print(time.perf_counter() - t)"
    env = dict(os.environ, DSA110_PARTITION_START=partition_start)
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd=REPO)
    return float(out.stdout.strip().splitlines()[-1])


STATUS_QUERY = """{ assetNodes(assetKeys: [{path: ["measurement_set"]}]) {
  partitionStats { numMaterialized numPartitions numFailed }
  assetPartitionStatuses { ... on TimePartitionStatuses { ranges { startKey endKey status } } } } }"""


def partition_status_time(fraction: float, home: Path, partition_start: str) -> tuple[float, float, int]:
    """(first query s, repeat query s, materialised windows) for the UI's status query."""
    os.environ["DSA110_PARTITION_START"] = partition_start
    from dagster import AssetKey, AssetMaterialization, DagsterInstance
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster_graphql.test.utils import execute_dagster_graphql

    from dsa110_assets.partitions import tile_partitions

    keys = tile_partitions.get_partition_keys()
    step = max(1, round(1 / fraction)) if fraction > 0 else len(keys) + 1
    chosen = keys[::step]
    home.mkdir(parents=True, exist_ok=True)
    with DagsterInstance.local_temp(str(home)) as instance:
        t = time.perf_counter()
        store_materialisations(instance, [
            AssetMaterialization(asset_key=AssetKey("measurement_set"), partition=key) for key in chosen
        ])
        print(f"  recorded {len(chosen)} materialisations in {time.perf_counter() - t:.1f} s")
        target = ModuleTarget(module_name="dsa110_assets.definitions", attribute="defs",
                              working_directory=str(REPO), location_name="dsa110")
        with WorkspaceProcessContext(instance, target) as context:
            timings = []
            for _ in range(2):
                t = time.perf_counter()
                result = execute_dagster_graphql(context.create_request_context(), STATUS_QUERY)
                timings.append(time.perf_counter() - t)
                assert not result.errors, result.errors
            stats = result.data["assetNodes"][0]["partitionStats"]
            assert stats["numMaterialized"] == len(chosen), stats
    return timings[0], timings[1], len(chosen)


def store_materialisations(instance, materialisations, batch: int = 2000) -> None:
    """Record runless materialisations in batches (one at a time takes ~10 ms each)."""
    import logging

    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    entries = [
        EventLogEntry(
            user_message="", level=logging.INFO, job_name=RUNLESS_JOB_NAME, run_id=RUNLESS_RUN_ID,
            error_info=None, timestamp=time.time(),
            dagster_event=DagsterEvent(
                event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
                event_specific_data=StepMaterializationData(m), job_name=RUNLESS_JOB_NAME,
            ),
        )
        for m in materialisations
    ]
    for start in range(0, len(entries), batch):
        instance.event_log_storage.store_event_batch(entries[start:start + batch])


def make_incoming(root: Path, n_files: int) -> str:
    """Empty files with real names, date-sharded; returns the newest tile id."""
    start = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
    n_tiles = n_files // 16
    last = None
    for i in range(n_tiles):
        when = start + dt.timedelta(seconds=309 * i)
        day = root / when.strftime("%Y-%m-%d")
        if i == 0 or when.date() != last.date():
            day.mkdir(parents=True, exist_ok=True)
        for sb in range(16):
            (day / f"{(when + dt.timedelta(seconds=sb % 3)):%Y-%m-%dT%H:%M:%S}_sb{sb:02d}.hdf5").touch()
        last = when
    return last.strftime("%Y-%m-%dT%H:%M:%S")


def sensor_times(root: Path, newest: str) -> dict[str, float]:
    from dsa110_resources.conversion.resource import IngestResource
    from dsa110_sensors.incoming import list_recent_files, plan_tile_runs

    # The files were all just touched: count them as settled, as a real backlog is.
    ingest = IngestResource(incoming_dir=str(root), incomplete_wait_seconds=600, settle_seconds=0)
    now = dt.datetime.now(dt.UTC)
    out = {}
    t = time.perf_counter()
    n = sum(len(files) for _, _, files in os.walk(root))
    out["baseline: os.walk listing"] = time.perf_counter() - t
    t = time.perf_counter()
    cold = plan_tile_runs(list_recent_files(root, None), None, ingest, now)
    out["cold tick (no cursor)"] = time.perf_counter() - t
    print(f"  {n} files, cold tick requests {len(cold.requests)} tiles")
    t = time.perf_counter()
    # The cursor after the cold tick: its mark and the tiles it launched.
    plan = plan_tile_runs(list_recent_files(root, newest), newest, ingest, now, launched=cold.launched)
    out["steady tick (high-water mark)"] = time.perf_counter() - t
    assert plan.requests == [], "nothing new after the mark"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fraction", type=float, default=0.3, help="fraction of windows materialised")
    parser.add_argument("--files", type=int, default=100_000, help="files in the incoming tree")
    args = parser.parse_args()

    start_year = year_start()
    start_day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%dT00:00")
    print("1. Definitions load (fresh interpreter)")
    day_load, year_load = load_time(start_day), load_time(start_year)
    print(f"  1 day of windows: {day_load:.2f} s; 1 year: {year_load:.2f} s; ratio {year_load / day_load:.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"2. Partition-status query (GraphQL), {args.fraction:.0%} of a year materialised")
        first, repeat, n = partition_status_time(args.fraction, tmp / "home-year", start_year)
        print(f"  first {first:.2f} s, repeat {repeat:.2f} s over {n} materialised windows")

        print(f"3. Sensor tick over {args.files} incoming files")
        newest = make_incoming(tmp / "incoming", args.files)
        times = sensor_times(tmp / "incoming", newest)
        base = times["baseline: os.walk listing"]
        for label, seconds in times.items():
            print(f"  {label}: {seconds:.2f} s (x{seconds / base:.2f} of the listing)")


if __name__ == "__main__":
    main()
