"""Partitions by observation time (UTC).

Per-tile assets use 5-minute windows keyed by window start (``2025-10-13T13:25``);
tiles are ~309 s apart, so a window holds at most one tile and many hold none
(telescope down). Calibration and mosaics use hourly and daily windows.
The start is configurable (``DSA110_PARTITION_START``) because Dagster's UI
and daemon slow down past ~100k partitions per asset: a year of 5-minute
windows. Sites keep the start recent and move it forward.
"""

from __future__ import annotations

import datetime as dt
import os

from dagster import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    TimeWindowPartitionsDefinition,
)

from dsa110_resources import constants
from dsa110_resources.conversion.naming import window_key

TILE_PARTITION_FORMAT = constants.TILE_WINDOW_FORMAT
TILE_MINUTES = constants.TILE_WINDOW_MINUTES

PARTITION_START = os.environ.get("DSA110_PARTITION_START", "2025-10-01T00:00")


def _start() -> dt.datetime:
    return dt.datetime.strptime(PARTITION_START, TILE_PARTITION_FORMAT).replace(tzinfo=dt.UTC)


tile_partitions = TimeWindowPartitionsDefinition(
    cron_schedule=f"*/{TILE_MINUTES} * * * *",
    start=_start(),
    fmt=TILE_PARTITION_FORMAT,
    timezone="UTC",
)
hourly_partitions = HourlyPartitionsDefinition(
    start_date=_start().replace(minute=0), timezone="UTC", fmt="%Y-%m-%dT%H:%M"
)
daily_partitions = DailyPartitionsDefinition(
    start_date=_start().replace(hour=0, minute=0), timezone="UTC"
)


def tile_partition_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """``[first window start, end of the newest window at now)``: a tile outside
    has no partition yet (the current window) or ever (before the start)."""
    end = dt.datetime.strptime(window_key(now), TILE_PARTITION_FORMAT).replace(tzinfo=dt.UTC)
    return tile_partitions.start, end


def tile_partition_key(time: dt.datetime) -> str:
    """The key of the 5-minute window holding ``time`` (a tile's group timestamp)."""
    return window_key(time)
