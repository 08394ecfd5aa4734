"""The incoming-files sensor: one run per ready tile, never twice.

Each tick lists subband file *names* under the incoming directory (no file is
opened), groups them into tiles and asks for a run of the per-tile job for
every tile that is ready (16 subbands, or 12-15 after the straggler wait, or
too few after the wait so the run records why it is not converted).

The cursor is a high-water mark: the id of the newest tile such that every
tile up to it has been requested. It never grows with the number of tiles, and
date-sharded directories older than the mark are not even listed, so a tick
stays fast with a year of files on disk. A tile is requested with
``run_key=<tile id>``, so a restart or a re-listed tile never launches twice.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from dsa110_assets.jobs import tile_job
from dsa110_assets.partitions import tile_partition_key
from dsa110_resources.conversion.grouping import (
    SubbandPath,
    TileGroup,
    TileState,
    find_subband_files,
    group_tiles,
)
from dsa110_resources.conversion import registry
from dsa110_resources.conversion.naming import format_timestamp, parse_tile_id
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.conversion.resource import IngestResource

TILE_TAG = "dsa110/tile"
#: Tiles this close before the high-water mark are still listed, so a file
#: that lands late but inside the grouping tolerance joins its tile by name.
_DATE_DIR_SLACK = dt.timedelta(days=1)


@dataclass(frozen=True)
class TilePlan:
    """What one tick decided: runs to request and the new high-water mark."""

    requests: list[tuple[TileGroup, TileState]]
    waiting: list[TileGroup]
    handled: list[TileGroup]  # at or before the mark: already launched
    high_water_mark: str | None


def listing_start(high_water_mark: str | None) -> dt.datetime | None:
    """The oldest time whose date directory a tick still lists."""
    if high_water_mark is None:
        return None
    day = (parse_tile_id(high_water_mark) - _DATE_DIR_SLACK).replace(hour=0, minute=0, second=0)
    return day


def list_recent_files(incoming: Path, high_water_mark: str | None) -> list[SubbandPath]:
    """Subband files in flat incoming/ and in date directories not older than the mark."""
    if high_water_mark is None:
        return find_subband_files(incoming)[0]
    oldest_day = listing_start(high_water_mark).strftime("%Y-%m-%d")
    files: list[SubbandPath] = []
    try:
        entries = list(os.scandir(incoming))
    except FileNotFoundError:
        return files
    flat = False
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if len(entry.name) == 10 and entry.name[4] == "-" and entry.name < oldest_day:
                continue  # a day wholly before the mark: already handled
            files += find_subband_files(Path(entry.path), max_depth=1)[0]
        elif entry.name.endswith(".hdf5"):
            flat = True
    if flat:
        files += find_subband_files(incoming, max_depth=1)[0]
    return files


def plan_tile_runs(
    files: list[SubbandPath],
    high_water_mark: str | None,
    ingest: IngestResource,
    now: dt.datetime,
    known_tiles: list[str] = (),
) -> TilePlan:
    """Decide which tiles to launch. Pure: no Dagster, no I/O beyond mtimes.

    ``known_tiles`` (ids already in the products DB) anchor stragglers to
    their tile; groups at or before the mark come back as ``handled``.
    """
    known = [*known_tiles, *([high_water_mark] if high_water_mark else [])]
    groups = group_tiles(files, tolerance=ingest.tolerance, known_tiles=known)
    mark = parse_tile_id(high_water_mark) if high_water_mark else None
    requests: list[tuple[TileGroup, TileState]] = []
    waiting: list[TileGroup] = []
    handled: list[TileGroup] = []
    new_mark = mark
    blocked = False  # the mark may only advance over a prefix of decided tiles
    for group in groups:
        if mark is not None and group.time <= mark:
            handled.append(group)
            continue
        state = group.state(now=now, wait=ingest.incomplete_wait, min_subbands=ingest.min_subbands)
        if state is TileState.WAITING:
            waiting.append(group)
            blocked = True
            continue
        requests.append((group, state))
        if not blocked:
            new_mark = group.time
    return TilePlan(
        requests=requests,
        waiting=waiting,
        handled=handled,
        high_water_mark=format_timestamp(new_mark) if new_mark else None,
    )


def tile_run_request(group: TileGroup, state: TileState) -> RunRequest:
    return RunRequest(
        run_key=group.tile_id,
        partition_key=tile_partition_key(group.time),
        tags={TILE_TAG: group.tile_id, "dsa110/tile_state": state.value},
    )


@sensor(
    job=tile_job,
    minimum_interval_seconds=int(os.environ.get("DSA110_SENSOR_INTERVAL", 30)),
    # Off until an operator turns it on (the demo turns it on by environment).
    default_status=(
        DefaultSensorStatus.RUNNING
        if os.environ.get("DSA110_SENSOR_DEFAULT") == "running"
        else DefaultSensorStatus.STOPPED
    ),
    description="Launches one run per ready tile of subband files in the incoming directory.",
)
def incoming_tiles_sensor(
    context: SensorEvaluationContext, ingest: IngestResource, products_db: ProductsDBResource
):
    cursor = json.loads(context.cursor) if context.cursor else {}
    mark = cursor.get("high_water_mark")
    db = products_db.db()
    files = list_recent_files(ingest.incoming, mark)
    since = listing_start(mark) or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    plan = plan_tile_runs(files, mark, ingest, dt.datetime.now(dt.UTC), registry.tile_ids_since(db, since))
    for path in registry.record_late_arrivals(db, plan.handled):
        context.log.warning(f"{path.name} arrived after its tile was converted: recorded, not merged")
    new_cursor = json.dumps({"high_water_mark": plan.high_water_mark})
    if not plan.requests:
        reason = (
            f"{len(plan.waiting)} tile(s) waiting for stragglers"
            if plan.waiting
            else f"no new tiles in {ingest.incoming} ({len(files)} files listed)"
        )
        return SensorResult(skip_reason=SkipReason(reason), cursor=new_cursor)
    for group, state in plan.requests:
        context.log.info(f"tile {group.tile_id}: {state.value}, {group.n_subbands} subbands")
    return SensorResult(
        run_requests=[tile_run_request(g, s) for g, s in plan.requests], cursor=new_cursor
    )
