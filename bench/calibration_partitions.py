"""How to partition the calibrator solutions so lineage and staleness work.

A tile's calibration may use a bandpass solved up to 12 h away, so each
``calibrated_ms`` window depends on every solutions partition within +/-12 h.
Three shapes for the solutions asset, the same toy graph each (no CASA; the
Dagster bookkeeping is what differs):

* per transit window (5-minute partitions, the tile's): 289 parents per window
* hourly (the choice): 25 parents per window
* daily: 3 parents per window (+/-1 day, the coarsest that still covers +/-12 h)

Measured on a fresh ephemeral instance: the run time of materialising one
downstream window (Dagster reads its parents' data versions), the time of
the UI's stale-status question for it after one parent re-solve, whether
that re-solve makes it stale at all, and how many windows one re-solve marks
(the validity says 288 + 12 for an hour's transits). The baseline is the
same downstream with a single identity-mapped parent, measured in the same run.

    python bench/calibration_partitions.py
"""

from __future__ import annotations

import datetime as dt
import time

from dagster import (
    AssetDep,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    TimeWindowPartitionMapping,
    TimeWindowPartitionsDefinition,
    asset,
    materialize,
)
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.data_version import DATA_VERSION_TAG, CachingStaleStatusResolver
from dagster._time import get_current_datetime

START = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
WINDOW = "2025-10-13T13:25"
WINDOWS = TimeWindowPartitionsDefinition(cron_schedule="*/5 * * * *", start=START, fmt="%Y-%m-%dT%H:%M",
                                         timezone="UTC")
SHAPES = {
    # name: (upstream partitions, mapping from a 5-min window, the partition a 13:xx transit re-solves)
    "identity (baseline)": (WINDOWS, TimeWindowPartitionMapping(), WINDOW),
    "per transit window": (WINDOWS, TimeWindowPartitionMapping(start_offset=-144, end_offset=144,
                                                               allow_nonexistent_upstream_partitions=True),
                           "2025-10-13T13:10"),
    "hourly (chosen)": (HourlyPartitionsDefinition(start_date="2025-10-01-00:00", timezone="UTC"),
                        TimeWindowPartitionMapping(start_offset=-144, end_offset=144,
                                                   allow_nonexistent_upstream_partitions=True),
                        "2025-10-13-13:00"),
    "daily": (DailyPartitionsDefinition(start_date="2025-10-01", timezone="UTC"),
              TimeWindowPartitionMapping(start_offset=-288, end_offset=288,
                                         allow_nonexistent_upstream_partitions=True),
              "2025-10-13"),
}


def _graph(upstream_def, mapping):
    @asset(partitions_def=upstream_def, code_version="1")
    def solutions():
        return None

    @asset(partitions_def=WINDOWS, code_version="1", deps=[AssetDep(solutions, partition_mapping=mapping)])
    def calibrated():
        return None

    return solutions, calibrated


def _report(instance, partition: str, version: str) -> None:
    instance.report_runless_asset_event(AssetMaterialization(
        asset_key=AssetKey("solutions"), partition=partition, tags={DATA_VERSION_TAG: version}))


def _status(instance, graph, partition: str):
    view = AssetGraphView(temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
                          instance=instance, asset_graph=graph)
    t = time.perf_counter()
    status = CachingStaleStatusResolver(instance, graph, view).get_status(AssetKey("calibrated"), partition)
    return status, time.perf_counter() - t


def measure(name: str, repeats: int = 5) -> dict:
    upstream_def, mapping, resolved = SHAPES[name]
    solutions, calibrated = _graph(upstream_def, mapping)
    graph = AssetGraph.from_assets([solutions, calibrated])
    instance = DagsterInstance.ephemeral()
    parents = list(mapping.get_upstream_mapped_partitions_result_for_partitions(
        WINDOWS.subset_with_partition_keys([WINDOW]), WINDOWS, upstream_def).partitions_subset.get_partition_keys())
    for key in parents:
        _report(instance, key, "a")
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        materialize([calibrated], partition_key=WINDOW, instance=instance,
                    selection=[calibrated], raise_on_error=True)
        runs.append(time.perf_counter() - t)
    _report(instance, resolved, "b")  # one re-solve
    status, seconds = min((_status(instance, graph, WINDOW) for _ in range(repeats)), key=lambda s: s[1])
    marked = len(list(mapping.get_downstream_partitions_for_partitions(
        upstream_def.subset_with_partition_keys([resolved]), upstream_def, WINDOWS).get_partition_keys()))
    return {"parents": len(parents), "run_s": min(runs), "status_s": seconds, "stale": status.value,
            "windows_marked": marked}


def main() -> None:
    import logging

    logging.getLogger("dagster").setLevel(logging.WARNING)
    measure("identity (baseline)")  # warm-up: imports and first-run caches out of the figures
    rows = {name: measure(name) for name in SHAPES}
    base = rows["identity (baseline)"]
    print(f"{'shape':22s} {'parents':>7s} {'run s':>7s} {'x base':>6s} {'status ms':>9s} {'x base':>6s} "
          f"{'after re-solve':>14s} {'windows marked':>14s}")
    for name, r in rows.items():
        print(f"{name:22s} {r['parents']:7d} {r['run_s']:7.2f} {r['run_s'] / base['run_s']:6.2f} "
              f"{r['status_s'] * 1e3:9.1f} {r['status_s'] / base['status_s']:6.2f} {r['stale']:>14s} "
              f"{r['windows_marked']:14d}")


if __name__ == "__main__":
    main()
