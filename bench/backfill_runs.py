"""What a backfill costs per window: one ranged run vs one run per window.

Starts ``dagster dev`` (webserver, daemon, the default run launcher and
multiprocess executor, as an operator runs it), then launches ``tile_job``
over the same windows both ways over GraphQL:
1. N empty windows (telescope down): pure run overhead;
2. N windows each holding a tiny simulated science tile (no calibration
   registered, so the chain stops at calibration: conversion plus flagging).
Prints wall seconds per window (runs go through the queued coordinator,
two at a time by dagster.yaml), summed run seconds per window, seconds from
a run's creation to its start (queue, process start, code load) and
event-log entries per window, for each shape, and the ratios.

Usage: python bench/backfill_runs.py [--empty 6] [--tiny 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "e2e")]

from dagster_dev import LOCATION, REPOSITORY, DagsterDev  # noqa: E402

FIRST_WINDOW = dt.datetime(2025, 10, 13, 13, 0, tzinfo=dt.UTC)

LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUNS = """query($ids: [String!]) { runsOrError(filter: {runIds: $ids}) {
  ... on Runs { results { runId status creationTime startTime endTime } } } }"""
EVENTS = """query($id: ID!) { logsForRun(runId: $id, limit: 100000) {
  ... on EventConnection { events { __typename } } } }"""


def window_keys(first: int, n: int) -> list[str]:
    return [(FIRST_WINDOW + dt.timedelta(minutes=5 * (first + i))).strftime("%Y-%m-%dT%H:%M")
            for i in range(n)]


def launch(dev: DagsterDev, tags: dict[str, str]) -> str:
    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                           "jobName": "tile_job"},
              "runConfigData": "{}",
              "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]}}
    out = dev.graphql(LAUNCH, {"p": params})["launchRun"]
    if out["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launch failed: {out}")
    return out["run"]["runId"]


def measure(dev: DagsterDev, keys: list[str], ranged: bool) -> dict[str, float]:
    started = time.monotonic()
    if ranged:
        run_ids = [launch(dev, {"dagster/asset_partition_range_start": keys[0],
                                "dagster/asset_partition_range_end": keys[-1]})]
    else:
        run_ids = [launch(dev, {"dagster/partition": key}) for key in keys]

    def finished():
        runs = dev.graphql(RUNS, {"ids": run_ids})["runsOrError"]["results"]
        done = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        return runs if len(done) == len(run_ids) else None

    runs = dev.wait_for(finished, 1800, f"{len(run_ids)} run(s)", interval=0.5)
    wall = time.monotonic() - started
    events = sum(len(dev.graphql(EVENTS, {"id": r})["logsForRun"]["events"]) for r in run_ids)
    run_seconds = sum(r["endTime"] - r["startTime"] for r in runs)
    # Queue wait + process start + code load: what the run records do not count.
    start_seconds = sum(r["startTime"] - r["creationTime"] for r in runs)
    return {"wall_s": wall / len(keys), "run_s": run_seconds / len(keys), "events": events / len(keys),
            "start_s": start_seconds / len(run_ids), "statuses": ",".join(sorted({r["status"] for r in runs}))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--empty", type=int, default=6, help="empty windows per shape")
    parser.add_argument("--tiny", type=int, default=2, help="windows with a tiny tile per shape")
    args = parser.parse_args()

    from astropy.time import Time

    from dsa110_resources.simulation import SimulationConfig, write_tile

    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        data = Path(tmp) / "data"
        tiny = window_keys(0, args.tiny)
        for i, key in enumerate(tiny):
            start = Time(dt.datetime.strptime(key, "%Y-%m-%dT%H:%M") + dt.timedelta(seconds=20), scale="utc")
            write_tile(data / "incoming" / key[:10], start, SimulationConfig.tiny(seed=10 + i))
        empty = window_keys(args.tiny + 2, args.empty)
        env = {"DSA110_ENV": "ci", "DSA110_DATA_ROOT": str(data), "DSA110_MIN_SUBBANDS": "1",
               "DSA110_INCOMPLETE_WAIT": "0", "DSA110_PARTITION_START": "2025-10-13T00:00"}
        dev = DagsterDev(Path(tmp) / "dagster_home", env)
        try:
            dev.wait_ready()
            rows = []
            for label, keys in (("empty", empty), ("tiny tile", tiny)):
                for ranged in (True, False):
                    figures = measure(dev, keys, ranged)
                    rows.append((label, "one ranged run" if ranged else "one run per window", figures))
                    print(f"{label:9s} {rows[-1][1]:19s} {len(keys)} windows: "
                          f"{figures['wall_s']:6.1f} s/window wall, {figures['run_s']:6.1f} s/window in runs, "
                          f"{figures['events']:6.1f} events/window ({figures['statuses']})", flush=True)
        finally:
            dev.stop()
    for label in ("empty", "tiny tile"):
        ranged, single = (f for lab, _, f in rows if lab == label)
        print(f"{label}: per-window runs cost {single['wall_s'] / ranged['wall_s']:.2f}x wall, "
              f"{single['run_s'] / ranged['run_s']:.2f}x run time, "
              f"{single['events'] / ranged['events']:.2f}x events of one ranged run")


if __name__ == "__main__":
    main()
