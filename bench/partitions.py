"""Scale of the asset graph: years of per-tile partitions, and the alternatives.

Measures, for each partition scheme and horizon (default 1 and 5 years):
1. the code location's Definitions load time (fresh interpreter) with the
   5-minute windows starting that long ago, against a 1-day partition set;
2. for a one-asset code location per scheme, with a telescope's history
   recorded (a tile every 309.2 s, up 90% of days, one outage day in ten):
   the time to record it, the UI's partition-status query (GraphQL, in
   process; first and repeat), the count the UI shows as "missing", and the
   enumeration of the partition keys (what a backfill launch and the daemon do);
3. one incoming-files sensor tick over 100k files: cold (no cursor) and
   steady state (high-water mark set), against a plain recursive listing.

Schemes:
  windows  5-minute TimeWindowPartitionsDefinition (today's scheme); with a
           moving start the horizon is what the site keeps (e.g. 1 year)
  tiles    DynamicPartitionsDefinition keyed by tile id, a key added per tile
           (by the incoming sensor): no empty windows, no calendar

Usage: python bench/partitions.py [--years 1,5] [--schemes windows,tiles] [--files 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TILE_SECONDS = 24 * 12.884902  # 309.2 s: one tile
UP_DAYS = 0.9  # one day in ten the telescope is down


def start_ago(days: float) -> dt.datetime:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)


def load_time(partition_start: str) -> float:
    code = "import time; t = time.perf_counter(); import dsa110_assets.definitions as d; " \
           "d.defs.get_repository_def(); print(time.perf_counter() - t)"
    env = dict(os.environ, DSA110_PARTITION_START=partition_start)
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd=REPO)
    return float(out.stdout.strip().splitlines()[-1])


def tile_times(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """A tile every 309.2 s while the telescope is up; down one day in ten."""
    out, t, step = [], start, dt.timedelta(seconds=TILE_SECONDS)
    while t < end:
        if (t - start).days % 10 != 9:
            out.append(t)
        t += step
    return out


#: A one-asset code location per scheme: the partition machinery alone, same for both.
BENCH_DEFS = textwrap.dedent('''
    import datetime as dt, os
    from dagster import (Definitions, DynamicPartitionsDefinition, TimeWindowPartitionsDefinition, asset)
    SCHEME, START = os.environ["BENCH_SCHEME"], os.environ["BENCH_START"]
    if SCHEME == "windows":
        partitions = TimeWindowPartitionsDefinition(
            cron_schedule="*/5 * * * *", fmt="%Y-%m-%dT%H:%M", timezone="UTC",
            start=dt.datetime.strptime(START, "%Y-%m-%dT%H:%M").replace(tzinfo=dt.UTC))
    else:
        partitions = DynamicPartitionsDefinition(name="tiles")
    @asset(partitions_def=partitions)
    def measurement_set():
        return None
    defs = Definitions(assets=[measurement_set])
''')

STATUS_QUERY = """{ assetNodes(assetKeys: [{path: ["measurement_set"]}]) {
  partitionStats { numMaterialized numPartitions numFailed }
  assetPartitionStatuses {
    ... on TimePartitionStatuses { ranges { startKey endKey status } }
    ... on DefaultPartitionStatuses { materializedPartitions } } } }"""


def scheme_figures(scheme: str, years: float, home: Path) -> dict[str, float]:
    """Record the history, then time the UI's status query and the key enumeration."""
    from dagster import AssetKey, AssetMaterialization, DagsterInstance
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster_graphql.test.utils import execute_dagster_graphql

    from dsa110_resources.conversion.naming import format_timestamp, window_key

    start = start_ago(365.25 * years)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    tiles = tile_times(start, now)
    keys = [window_key(t) for t in tiles] if scheme == "windows" else [format_timestamp(t) for t in tiles]
    home.mkdir(parents=True, exist_ok=True)
    (home / "bench_defs.py").write_text(BENCH_DEFS)
    os.environ.update(BENCH_SCHEME=scheme, BENCH_START=start.strftime("%Y-%m-%dT%H:%M"))
    out: dict[str, float] = {"tiles": len(keys)}
    with DagsterInstance.local_temp(str(home)) as instance:
        t = time.perf_counter()
        if scheme == "tiles":
            for i in range(0, len(keys), 5000):
                instance.add_dynamic_partitions("tiles", keys[i:i + 5000])
        store_materialisations(instance, [
            AssetMaterialization(asset_key=AssetKey("measurement_set"), partition=key) for key in keys
        ])
        out["record s"] = time.perf_counter() - t
        target = ModuleTarget(module_name="bench_defs", attribute="defs", working_directory=str(home),
                              location_name="bench")
        sys.path.insert(0, str(home))
        with WorkspaceProcessContext(instance, target) as context:
            for label in ("status first s", "status repeat s"):
                t = time.perf_counter()
                result = execute_dagster_graphql(context.create_request_context(), STATUS_QUERY)
                out[label] = time.perf_counter() - t
                assert not result.errors, result.errors
            node = result.data["assetNodes"][0]
            stats = node["partitionStats"]
            assert stats["numMaterialized"] == len(keys), stats
            out["partitions"] = stats["numPartitions"]
            out["shown missing"] = stats["numPartitions"] - stats["numMaterialized"] - stats["numFailed"]
            ranges = node["assetPartitionStatuses"].get("ranges")
            out["status ranges"] = len(ranges) if ranges is not None else float("nan")
            from bench_defs import partitions

            t = time.perf_counter()
            n = len(partitions.get_partition_keys(dynamic_partitions_store=instance))
            out["enumerate keys s"] = time.perf_counter() - t
            assert n == out["partitions"]
        sys.path.remove(str(home))
        sys.modules.pop("bench_defs", None)
    return out


def store_materialisations(instance, materialisations, batch: int = 5000) -> None:
    """Record runless materialisations: the first and last through the instance (they
    create and update the asset's index row), the rest as the same event-log rows
    inserted in bulk, one transaction per batch (one at a time costs 4-25 ms each)."""
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
    storage = instance.event_log_storage
    storage.store_event(entries[0])
    middle = entries[1:-1]
    for start in range(0, len(middle), batch):
        chunk = middle[start:start + batch]
        # Both shards hold asset events on SQLite (the run's and the cross-run index).
        for connect in (lambda: storage.run_connection(RUNLESS_RUN_ID), storage.index_connection):
            with connect() as conn:
                conn.execute(storage.prepare_insert_event_batch(chunk))
    if len(entries) > 1:
        storage.store_event(entries[-1])


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
    parser.add_argument("--years", default="1,5", help="horizons to measure, comma-separated")
    parser.add_argument("--schemes", default="windows,tiles", help="partition schemes, comma-separated")
    parser.add_argument("--files", type=int, default=100_000, help="files in the incoming tree (0: skip)")
    parser.add_argument("--skip-load", action="store_true", help="skip the code location load times")
    args = parser.parse_args()
    horizons = [float(y) for y in args.years.split(",")]

    if not args.skip_load:
        print("1. Definitions load (fresh interpreter), 5-minute windows from the start")
        base = load_time(start_ago(1).strftime("%Y-%m-%dT%H:%M"))
        print(f"  1 day of windows: {base:.2f} s")
        for years in horizons:
            seconds = load_time(start_ago(365.25 * years).strftime("%Y-%m-%dT%H:%M"))
            print(f"  {years:g} year(s): {seconds:.2f} s (x{seconds / base:.2f})")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("2. Partition status with a telescope's history (a tile every 309.2 s, up 9 days in 10)")
        for scheme in args.schemes.split(","):
            for years in horizons:
                f = scheme_figures(scheme, years, tmp / f"home-{scheme}-{years:g}")
                print(f"  {scheme:7s} {years:g} y: {f['partitions']:.0f} partitions, {f['tiles']:.0f} tiles, "
                      f"{f['shown missing']:.0f} shown missing, {f['status ranges']:.0f} status ranges; "
                      f"record {f['record s']:.1f} s, status query first {f['status first s']:.2f} s, "
                      f"repeat {f['status repeat s']:.2f} s, enumerate keys {f['enumerate keys s']:.2f} s",
                      flush=True)

        if args.files:
            print(f"3. Sensor tick over {args.files} incoming files")
            newest = make_incoming(tmp / "incoming", args.files)
            times = sensor_times(tmp / "incoming", newest)
            base = times["baseline: os.walk listing"]
            for label, seconds in times.items():
                print(f"  {label}: {seconds:.2f} s (x{seconds / base:.2f} of the listing)")


if __name__ == "__main__":
    main()
