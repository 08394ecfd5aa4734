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
A tile at or before the mark that was never requested (its files came after
a later tile's) is requested too: the mark only says where listing may
start. The cursor also keeps the ids of the tiles it requested since then
(a day of tiles at most), so a tile is asked for once, not every tick until
its run records it in the products database.

A tile whose name lies outside the tile partitions (before
``DSA110_PARTITION_START``, or more than ``FUTURE_SLACK`` ahead of the
clock) can never run: the tick quarantines its files with the reason and
goes on. A tile in the current, still open window waits for it to close,
and a tile with a file changed within ``IngestResource.settle_seconds``
waits for the writer or copier to finish.
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

from dsa110_assets.jobs import LIVE_PRIORITY, PRIORITY_TAG, tile_job
from dsa110_assets.partitions import tile_partition_bounds, tile_partition_key
from dsa110_assets.tiles import TILE_TAG
from dsa110_resources.conversion.grouping import (
    SubbandPath,
    TileGroup,
    TileState,
    find_subband_files,
    group_tiles,
)
from dsa110_resources.conversion import quarantine_tile, registry
from dsa110_resources.conversion.naming import format_timestamp, parse_tile_id
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.conversion.resource import IngestResource
from dsa110_resources.stores.resource import StorageResource

#: Tiles this close before the high-water mark are still listed, so a file
#: that lands late but inside the grouping tolerance joins its tile by name.
_DATE_DIR_SLACK = dt.timedelta(days=1)
#: A tile named this far ahead of the clock is a clock or naming fault, not
#: a window that is about to open.
FUTURE_SLACK = dt.timedelta(hours=1)


@dataclass(frozen=True)
class TilePlan:
    """What one tick decided: runs to request and the new high-water mark."""

    requests: list[tuple[TileGroup, TileState]]
    waiting: list[TileGroup]
    handled: list[TileGroup]  # known to the products DB: launched before
    outside: list[TileGroup]  # no partition will ever hold them
    high_water_mark: str | None
    launched: list[str]  # ids requested, this tick or before, still inside the listing

    def cursor(self) -> str:
        return json.dumps({"high_water_mark": self.high_water_mark, "launched": self.launched})


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
    launched: list[str] = (),
) -> TilePlan:
    """Decide which tiles to launch. Pure: no Dagster, no I/O beyond mtimes.

    ``known_tiles`` (ids already in the products DB) anchor stragglers to
    their tile and come back as ``handled``, as do the tiles in ``launched``
    (requested on earlier ticks) and the mark's own; any other ready tile is
    requested, before the mark or not.
    """
    recorded, launched = set(known_tiles), set(launched)
    groups = group_tiles(files, tolerance=ingest.tolerance,
                         known_tiles=[*recorded, *([high_water_mark] if high_water_mark else [])])
    mark = parse_tile_id(high_water_mark) if high_water_mark else None
    first, open_from = tile_partition_bounds(now)
    requests: list[tuple[TileGroup, TileState]] = []
    waiting: list[TileGroup] = []
    handled: list[TileGroup] = []
    outside: list[TileGroup] = []
    new_mark = mark
    blocked = False  # the mark may only advance over a prefix of decided tiles
    for group in groups:
        if group.time < first or group.time >= now + FUTURE_SLACK:
            outside.append(group)
            continue
        after_mark = mark is None or group.time > mark
        if group.tile_id in recorded or group.tile_id in launched or group.time == mark:
            handled.append(group)
            continue
        state = (TileState.WAITING if group.time >= open_from else
                 group.state(now=now, wait=ingest.incomplete_wait, min_subbands=ingest.min_subbands))
        settle = dt.timedelta(seconds=ingest.settle_seconds)
        if state is not TileState.WAITING and settle and now - group.newest_mtime() < settle:
            state = TileState.WAITING  # a file is still being written or copied
        if state is TileState.WAITING:
            waiting.append(group)
            blocked = blocked or after_mark
            continue
        requests.append((group, state))
        if after_mark and not blocked:
            new_mark = group.time
    new_mark_id = format_timestamp(new_mark) if new_mark else None
    oldest = listing_start(new_mark_id)
    still_listed = sorted(t for t in launched | {g.tile_id for g, _ in requests}
                          if oldest is None or parse_tile_id(t) >= oldest)
    return TilePlan(requests=requests, waiting=waiting, handled=handled, outside=outside,
                    high_water_mark=new_mark_id, launched=still_listed)


def quarantine_outside(group: TileGroup, tiers, db, now: dt.datetime) -> str:
    """Set aside a tile no partition holds, with the reason; returns the reason."""
    names = ", ".join(ref.path.name for ref in [*group.files.values(), *group.duplicates])
    reason = (f"{names}: name time {group.tile_id} is outside the tile partitions "
              f"({tile_partition_bounds(now)[0]:%Y-%m-%dT%H:%M} to now + {FUTURE_SLACK}); "
              "check the correlator clock or DSA110_PARTITION_START")
    quarantine_tile(tiers, group.tile_id, group.paths + [d.path for d in group.duplicates], reason)
    registry.record_quarantine(db, group, reason)
    return reason


def tile_run_request(group: TileGroup, state: TileState) -> RunRequest:
    return RunRequest(
        run_key=group.tile_id,
        partition_key=tile_partition_key(group.time),
        # A live tile goes ahead of queued backfill windows (dagster.yaml: tag limits).
        tags={TILE_TAG: group.tile_id, "dsa110/tile_state": state.value, PRIORITY_TAG: str(LIVE_PRIORITY)},
    )


def sensor_default_status() -> DefaultSensorStatus:
    """Off until an operator turns it on (the demo turns it on by environment)."""
    return (DefaultSensorStatus.RUNNING if os.environ.get("DSA110_SENSOR_DEFAULT") == "running"
            else DefaultSensorStatus.STOPPED)


@sensor(
    job=tile_job,
    minimum_interval_seconds=int(os.environ.get("DSA110_SENSOR_INTERVAL", 30)),
    default_status=sensor_default_status(),
    description="Launches one run per ready tile of subband files in the incoming directory.",
)
def incoming_tiles_sensor(
    context: SensorEvaluationContext, ingest: IngestResource, products_db: ProductsDBResource,
    storage: StorageResource,
):
    cursor = json.loads(context.cursor) if context.cursor else {}
    mark = cursor.get("high_water_mark")
    db = products_db.db()
    files = list_recent_files(ingest.incoming, mark)
    since = listing_start(mark) or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    now = dt.datetime.now(dt.UTC)
    plan = plan_tile_runs(files, mark, ingest, now, registry.tile_ids_since(db, since),
                          cursor.get("launched", []))
    for group in plan.outside:  # left out of the plan whatever happens here
        try:
            context.log.error(f"quarantined: {quarantine_outside(group, storage.tiers(), db, now)}")
        except OSError as exc:
            context.log.error(f"tile {group.tile_id} is outside the partitions; quarantining failed: {exc}")
    for path in registry.record_late_arrivals(db, plan.handled):
        context.log.warning(f"{path.name} arrived after its tile was converted: recorded, not merged")
    new_cursor = plan.cursor()
    if not plan.requests:
        reason = (
            f"{len(plan.waiting)} tile(s) waiting for stragglers or files still being written"
            if plan.waiting
            else f"no new tiles in {ingest.incoming} ({len(files)} files listed)"
        )
        return SensorResult(skip_reason=SkipReason(reason), cursor=new_cursor)
    for group, state in plan.requests:
        context.log.info(f"tile {group.tile_id}: {state.value}, {group.n_subbands} subbands")
    return SensorResult(
        run_requests=[tile_run_request(g, s) for g, s in plan.requests], cursor=new_cursor
    )
