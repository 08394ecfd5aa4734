"""Downstream follows upstream: rebuild mosaics and light curves whose tiles changed after they were built.

Every tile image or photometry table that materializes, whatever the run
(a live tile, a backfill, a reprocess, a late tile), is an event in the
Dagster instance. ``downstream_sensor`` reads those events (its cursor: the
last storage id read) and marks the partitions that hold the tile's window:

=================  ==============  ======================================
upstream asset     marks           rebuilt by
=================  ==============  ======================================
``image``          hour, day       ``hourly_mosaic_job``, ``nightly_mosaic_job``
``photometry``     day             ``science_daily_job`` (``lightcurves``, ``ese_candidates``)
=================  ==============  ======================================

A marked partition is requested once

* its last run of that job *started before* the newest upstream event in its
  range (so a build that already saw the tile is not repeated) and no run of
  it is queued or running,
* no tile of its range is still in the per-tile chain (products DB) and no
  ``tile_job`` run for a window of its range is queued or running,
* its range has been quiet for ``DSA110_DOWNSTREAM_QUIET_MINUTES`` (5): a
  backfill images an hour's tiles one run at a time, so the hour is rebuilt
  once after them, not twelve times,
* and, if it was never built, its first build's time has passed: first
  builds stay with the live paths (``hourly_mosaic_sensor`` at the hour's
  deadline, ``nightly_mosaic_schedule`` at 01:00 UTC, the daily science
  schedule at 02:00), this sensor only covers what they missed.

The nightly mosaic so waits a bounded time for late tiles (the 01:00
schedule, after the last hour's deadline) and is rebuilt when they land.
A changed day rebuilds that day's light curves only; later days' "as of"
light curves take the change in at their next build.

The decision is plain code (``decide``), fed by ``PartitionState`` read from
the instance and the products DB; the sensor body only reads and requests.
A tick reads at most 1000 new events per upstream asset and looks at 200
marked partitions, in turns, so a reprocess of months stays cheap per tick.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from dsa110_assets.mosaics import hourly_mosaic_job, is_pending, nightly_mosaic_job, tile_records
from dsa110_assets.photometry import science_daily_job
from dsa110_resources.db.resource import ProductsDBResource

from .mosaics import DEADLINE as HOURLY_DEADLINE

HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
QUIET = dt.timedelta(minutes=float(os.environ.get("DSA110_DOWNSTREAM_QUIET_MINUTES", 5)))
#: After a first build's due time, how long the live path has to make it before this sensor does.
GRACE = dt.timedelta(minutes=15)
EVENTS_PER_TICK = 1000
#: Marked partitions looked at per tick (each costs a few queries); the rest wait their turn.
EVALUATIONS_PER_TICK = 200
ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
          DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class Target:
    """One downstream job over one partition granularity."""

    job: str
    span: dt.timedelta
    fmt: str
    first_build_after: dt.timedelta  # after the partition's end, when the live path builds it

    def key(self, window_start: dt.datetime) -> str:
        start = window_start.replace(minute=0, second=0, microsecond=0)
        if self.span == DAY:
            start = start.replace(hour=0)
        return start.strftime(self.fmt)

    def start(self, key: str) -> dt.datetime:
        return dt.datetime.strptime(key, self.fmt).replace(tzinfo=dt.UTC)


HOURLY = Target(hourly_mosaic_job.name, HOUR, "%Y-%m-%dT%H:%M", HOURLY_DEADLINE)
NIGHTLY = Target(nightly_mosaic_job.name, DAY, "%Y-%m-%d", dt.timedelta(hours=1))
DAILY_SCIENCE = Target(science_daily_job.name, DAY, "%Y-%m-%d", dt.timedelta(hours=2))
TARGETS = {t.job: t for t in (HOURLY, NIGHTLY, DAILY_SCIENCE)}
#: Which downstream jobs an upstream asset's new materialization marks.
FOLLOWS = {"image": (HOURLY, NIGHTLY), "photometry": (DAILY_SCIENCE,)}


@dataclass(frozen=True)
class PartitionState:
    """What the instance and the products DB say about one marked partition."""

    last_run_start: dt.datetime | None  # the newest finished run of the job for it
    run_active: bool  # a run of the job for it is queued or running
    tiles_busy: bool  # a tile of its range is in the per-tile chain (DB or a tile_job run)


@dataclass
class Decision:
    requests: list[tuple[str, str]] = field(default_factory=list)  # (job, partition key)
    marked: dict[str, float] = field(default_factory=dict)  # "job|key" -> newest upstream event (epoch s)
    waiting: dict[str, str] = field(default_factory=dict)  # "job|key" -> why not yet
    resume: str = ""  # the last entry looked at: the next tick starts after it


def decide(marked: dict[str, float], state_of, now: dt.datetime, quiet: dt.timedelta = QUIET,
           resume: str = "", limit: int = EVALUATIONS_PER_TICK) -> Decision:
    """Which marked partitions to request now. ``state_of(target, key)`` gives a PartitionState.

    At most ``limit`` entries are looked at, in turn after ``resume`` (a year's
    reprocess marks ~9k hours; a tick must stay short)."""
    decision = Decision()
    entries = sorted(marked)
    turn = [e for e in entries if e > resume] + [e for e in entries if e <= resume]
    for entry in turn[limit:]:
        decision.marked[entry] = marked[entry]
    for entry in turn[:limit]:
        newest = marked[entry]
        decision.resume = entry
        job, key = entry.split("|", 1)
        target = TARGETS[job]
        newest_at = dt.datetime.fromtimestamp(newest, dt.UTC)
        state = state_of(target, key)
        if state.last_run_start is not None and state.last_run_start >= newest_at and not state.run_active:
            continue  # built after the change: nothing to do
        why = None
        if state.run_active:
            why = "a run for it is queued or running"
        elif state.tiles_busy:
            why = "tiles of its range are still in the per-tile chain"
        elif now - newest_at < quiet:
            why = f"upstream changed {int((now - newest_at).total_seconds())} s ago (quiet period {quiet})"
        elif state.last_run_start is None and now < target.start(key) + target.span + target.first_build_after + GRACE:
            why = "never built and its first build is not due yet"
        if why:
            decision.marked[entry] = newest
            decision.waiting[entry] = why
        else:
            decision.requests.append((job, key))
    return decision


def _window_start(partition_key: str) -> dt.datetime:
    return dt.datetime.strptime(partition_key, "%Y-%m-%dT%H:%M").replace(tzinfo=dt.UTC)


def read_upstream_events(instance, after: int, marked: dict[str, float]) -> int:
    """Mark the partitions of new upstream materializations; returns the new cursor."""
    newest_id = after
    for asset, targets in FOLLOWS.items():
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), after_storage_id=after), limit=EVENTS_PER_TICK,
            ascending=True,
        )
        for record in result.records:
            if record.partition_key is None:
                continue
            for target in targets:
                entry = f"{target.job}|{target.key(_window_start(record.partition_key))}"
                marked[entry] = max(marked.get(entry, 0.0), record.timestamp)
        if result.records:
            newest_id = max(newest_id, result.records[-1].storage_id)
    return newest_id


def _partition_state(instance, db, busy_windows: set[str], target: Target, key: str) -> PartitionState:
    runs = instance.get_run_records(RunsFilter(job_name=target.job, tags={"dagster/partition": key}), limit=20)
    active = any(r.dagster_run.status in ACTIVE for r in runs)
    finished = [r for r in runs if r.dagster_run.status not in ACTIVE and r.start_time is not None]
    last_start = max((dt.datetime.fromtimestamp(r.start_time, dt.UTC) for r in finished), default=None)
    start = target.start(key)
    busy = any(start <= _window_start(w) < start + target.span for w in busy_windows)
    if not busy:
        _, not_imaged = tile_records(db, start, start + target.span)
        busy = any(is_pending(why) for why in not_imaged.values())
    return PartitionState(last_start, active, busy)


def _busy_tile_windows(instance) -> set[str]:
    runs = instance.get_runs(RunsFilter(job_name="tile_job", statuses=ACTIVE))
    return {r.tags["dagster/partition"] for r in runs if "dagster/partition" in r.tags}


def utc_now() -> dt.datetime:
    """The sensor's clock (tests replace it)."""
    return dt.datetime.now(dt.UTC)


@sensor(
    jobs=[hourly_mosaic_job, nightly_mosaic_job, science_daily_job],
    minimum_interval_seconds=int(os.environ.get("DSA110_DOWNSTREAM_SENSOR_INTERVAL", 60)),
    default_status=(
        DefaultSensorStatus.RUNNING
        if os.environ.get("DSA110_SENSOR_DEFAULT") == "running"
        else DefaultSensorStatus.STOPPED
    ),
    description="Rebuilds hourly/nightly mosaics and daily light curves whose tiles were added or "
                "reprocessed after they were built.",
)
def downstream_sensor(context: SensorEvaluationContext, products_db: ProductsDBResource):
    instance = context.instance
    cursor = json.loads(context.cursor) if context.cursor else None
    if cursor is None:  # first tick: follow changes from now on, do not replay history
        start = instance.event_log_storage.get_maximum_record_id() or 0
        return SensorResult(skip_reason=SkipReason(f"following upstream events after storage id {start}"),
                            cursor=json.dumps({"after": start, "marked": {}}))
    marked = dict(cursor["marked"])
    after = read_upstream_events(instance, cursor["after"], marked)
    db, busy_windows = products_db.db(), _busy_tile_windows(instance)
    decision = decide(marked, lambda t, k: _partition_state(instance, db, busy_windows, t, k), utc_now(),
                      resume=cursor.get("resume", ""))
    new_cursor = json.dumps({"after": after, "marked": decision.marked, "resume": decision.resume})
    for entry, why in decision.waiting.items():
        context.log.info(f"{entry}: waiting ({why})")
    if not decision.requests:
        return SensorResult(skip_reason=SkipReason(
            f"{len(decision.marked)} partition(s) waiting" if decision.marked else "no upstream change"),
            cursor=new_cursor)
    requests = [
        RunRequest(job_name=job, partition_key=key, run_key=f"{job}|{key}|{after}",
                   tags={"dsa110/trigger": "upstream changed"})
        for job, key in decision.requests
    ]
    for job, key in decision.requests:
        context.log.info(f"{job} {key}: upstream changed after its last build, rebuilding")
    return SensorResult(run_requests=requests, cursor=new_cursor)
