"""Mosaic automation: the hourly mosaic when its hour is ready, the nightly one after the day.

``hourly_mosaic_sensor`` asks the products DB, each tick, about the hours
after its high-water mark (the newest hour such that every hour up to it has
been decided). An hour is *ready* when it has ended and

* every tile of the hour known to the DB has an image (a tile still in the
  per-tile chain counts as not there yet), and no tile is missing at the end
  of the hour (``MosaicPlan.ready``: the last tile may still be arriving), or
* the deadline (``DSA110_MOSAIC_DEADLINE_MINUTES``, 30) after the hour's end
  has passed: the mosaic is built with the coverage there is.

A ready hour with at least one tile is requested with ``run_key=<hour key>``,
so it is launched once even if the cursor is lost. An hour without any tile
is passed over (once its deadline has passed: its data may only be late).

Late and reprocessed tiles. An hour built at the deadline without a tile
that is imaged later, or whose tiles are reprocessed, is rebuilt by
``downstream_sensor`` (dsa110_sensors/downstream.py), which follows every
image materialization, whatever run made it.

``nightly_mosaic_schedule`` runs ``nightly_mosaic_job`` at 01:00 UTC for the
previous UTC day (the last complete daily partition), after the last hour's
deadline.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field

import astropy.units as u
from astropy.time import Time
from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    build_schedule_from_partitioned_job,
    sensor,
)
from sqlalchemy import select

from dsa110_assets.mosaics import HOURLY_FORMAT, hourly_mosaic_job, is_pending, nightly_mosaic_job, tile_records
from dsa110_assets.partitions import hourly_partitions
from dsa110_resources.db import Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.mosaic import hourly_plan

HOUR = dt.timedelta(hours=1)
MOSAIC_TAG = "dsa110/mosaic_hour"
DEADLINE = dt.timedelta(minutes=float(os.environ.get("DSA110_MOSAIC_DEADLINE_MINUTES", 30)))
#: Without a cursor (first tick), hours older than this are not requested: backfill them.
LOOKBACK = dt.timedelta(hours=float(os.environ.get("DSA110_MOSAIC_LOOKBACK_HOURS", 48)))
MAX_REQUESTS_PER_TICK = 24


def utc_now() -> dt.datetime:
    """The sensor's clock (tests replace it)."""
    return dt.datetime.now(dt.UTC)


def _key(hour: dt.datetime) -> str:
    return hour.strftime(HOURLY_FORMAT)


def _hour(key: str) -> dt.datetime:
    return dt.datetime.strptime(key, HOURLY_FORMAT).replace(tzinfo=dt.UTC)


def _floor_hour(t: dt.datetime) -> dt.datetime:
    return t.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class HourState:
    """What the DB says about one hour, for the sensor."""

    hour: dt.datetime
    n_tiles: int  # tiles known to the DB
    n_imaged: int
    n_pending: int  # tiles still in the per-tile chain
    ready: bool
    complete: bool  # nothing pending, nothing missing at the end of the hour

    @property
    def key(self) -> str:
        return _key(self.hour)


def hour_state(db, hour: dt.datetime, now: dt.datetime, deadline: dt.timedelta = DEADLINE) -> HourState:
    records, not_imaged = tile_records(db, hour, hour + HOUR)
    pending = {t for t, why in not_imaged.items() if is_pending(why)}
    # Pending tiles are left out, so they count as gaps in the cadence until imaged.
    plan = hourly_plan([r for r in records if r.tile_id not in pending], Time(hour), check_files=False)
    past_deadline = now >= hour + HOUR + deadline
    ready = plan.ready(Time(now), deadline=deadline.total_seconds() * u.s) and (past_deadline or not pending)
    tail_missing = any(gap_end >= plan.end - 1 * u.s for _, gap_end, _ in plan.missing)
    return HourState(hour, len(records), len(records) - len(not_imaged), len(pending),
                     ready=ready, complete=not pending and not tail_missing)


@dataclass
class HourlyDecision:
    requests: list[tuple[HourState, str]] = field(default_factory=list)  # (state, run key)
    high_water_mark: str | None = None
    waiting: list[str] = field(default_factory=list)


def _hours_with_tiles(db, start: dt.datetime, end: dt.datetime) -> set[dt.datetime]:
    with db.session() as s:
        times = s.scalars(select(Tile.group_time).where(Tile.group_time >= start, Tile.group_time < end)).all()
    return {_floor_hour(t if t.tzinfo else t.replace(tzinfo=dt.UTC)) for t in times}


def decide_hourly(db, cursor: dict, now: dt.datetime, deadline: dt.timedelta = DEADLINE) -> HourlyDecision:
    """Which hours to request this tick. Plain code: the DB and a clock, no Dagster."""
    partition_start = _hour(hourly_partitions.get_first_partition_key())
    mark = cursor.get("high_water_mark")
    first = _hour(mark) + HOUR if mark else _floor_hour(now - LOOKBACK)
    first = max(first, partition_start)
    current = _floor_hour(now)  # hours before this one have ended
    decision = HourlyDecision(high_water_mark=mark)
    with_tiles = _hours_with_tiles(db, first, current) if first < current else set()
    blocked = False
    hour = first
    while hour < current and len(decision.requests) < MAX_REQUESTS_PER_TICK:
        if hour not in with_tiles:
            if now < hour + HOUR + deadline:  # data may only be late
                blocked = True
        else:
            state = hour_state(db, hour, now, deadline)
            if state.ready:
                decision.requests.append((state, state.key))
            else:
                decision.waiting.append(state.key)
                blocked = True
        if not blocked:
            decision.high_water_mark = _key(hour)
        hour += HOUR
    return decision


@sensor(
    job=hourly_mosaic_job,
    minimum_interval_seconds=int(os.environ.get("DSA110_MOSAIC_SENSOR_INTERVAL", 60)),
    default_status=(
        DefaultSensorStatus.RUNNING
        if os.environ.get("DSA110_SENSOR_DEFAULT") == "running"
        else DefaultSensorStatus.STOPPED
    ),
    description="Requests an hourly mosaic once the hour's tiles are imaged or its deadline has passed.",
)
def hourly_mosaic_sensor(context: SensorEvaluationContext, products_db: ProductsDBResource):
    cursor = json.loads(context.cursor) if context.cursor else {}
    decision = decide_hourly(products_db.db(), cursor, utc_now())
    new_cursor = json.dumps({"high_water_mark": decision.high_water_mark})
    if not decision.requests:
        reason = (f"waiting for hour(s) {', '.join(decision.waiting)}" if decision.waiting
                  else f"no ended hour with tiles after {decision.high_water_mark or 'the lookback'}")
        return SensorResult(skip_reason=SkipReason(reason), cursor=new_cursor)
    requests = []
    for state, run_key in decision.requests:
        trigger = "complete" if state.complete else "deadline"
        context.log.info(f"hour {state.key}: {state.n_imaged}/{state.n_tiles} tiles imaged, "
                         f"{state.n_pending} pending ({trigger})")
        requests.append(RunRequest(run_key=run_key, partition_key=state.key,
                                   tags={MOSAIC_TAG: state.key, "dsa110/mosaic_trigger": trigger}))
    return SensorResult(run_requests=requests, cursor=new_cursor)


nightly_mosaic_schedule = build_schedule_from_partitioned_job(
    nightly_mosaic_job,
    name="nightly_mosaic_schedule",
    description="The previous UTC day's nightly mosaic, at 01:00 UTC (after the last hour's deadline).",
    hour_of_day=1,
    minute_of_hour=0,
    default_status=(
        DefaultScheduleStatus.RUNNING
        if os.environ.get("DSA110_SENSOR_DEFAULT") == "running"
        else DefaultScheduleStatus.STOPPED
    ),
)
