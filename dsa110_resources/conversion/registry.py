"""The products database's view of tiles and subband files.

Grouping is pure; this module is where what was seen and done is recorded:
tiles with their completeness, each file as accepted / duplicate / late /
invalid, the published MS, and quarantines. A file that shows up for a tile
already converted is recorded as ``late`` and never merged into the MS
behind the scenes (re-conversion uses ``recorded_group``); a second file for
a subband already accepted is a ``duplicate``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
from sqlalchemy import select

from ..db import MeasurementSet, ProductsDB, SubbandFile, Tile
from .grouping import DEFAULT_INCOMPLETE_WAIT, SubbandPath, TileGroup
from .naming import window_key

#: Tile statuses after which new files are late rather than welcome.
FINAL_STATUSES = ("converted", "quarantined")


@dataclass
class SyncReport:
    """What one pass over the incoming files found."""

    new_files: int = 0
    duplicates: list[Path] = field(default_factory=list)
    late: list[Path] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)


def known_tile_ids(db: ProductsDB) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(Tile.tile_id)))


def _file_row(ref: SubbandPath, tile_id: str, status: str, error: str | None = None) -> SubbandFile:
    try:
        size = ref.path.stat().st_size
    except OSError:
        size = None
    return SubbandFile(path=os.fspath(ref.path), tile_id=tile_id, subband=ref.subband,
                       file_time=ref.timestamp, size_bytes=size, status=status, error=error)


def sync_groups(db: ProductsDB, groups: Iterable[TileGroup], *, now: dt.datetime | None = None,
                wait: u.Quantity = DEFAULT_INCOMPLETE_WAIT) -> SyncReport:
    """Record tiles and files; classify duplicates and late arrivals.

    Files already recorded keep their row (their path is unique); until the
    tile is final, accepted/duplicate follows the grouping's current choice.
    One query per tile plus inserts for what is new.
    """
    report = SyncReport()
    with db.session() as s:
        for group in groups:
            tile = s.get(Tile, group.tile_id)
            final = tile is not None and tile.status in FINAL_STATUSES
            if tile is None:
                tile = Tile(tile_id=group.tile_id, group_time=group.time,
                            partition_key=window_key(group.time))
                s.add(tile)
            rows = {row.path: row for row in s.scalars(
                select(SubbandFile).where(SubbandFile.tile_id == group.tile_id))}
            for ref, kept in [*((r, True) for r in group.files.values()),
                              *((r, False) for r in group.duplicates)]:
                second = f"second file for subband {ref.subband}"
                if final:
                    status, error = "late", (f"arrived after the tile was {tile.status}" if kept else second)
                else:
                    status, error = ("accepted", None) if kept else ("duplicate", second)
                row = rows.get(os.fspath(ref.path))
                if row is not None:
                    # Until the tile is final the grouping may change its mind
                    # (the real file arrived after a stray): follow it.
                    if not final and row.status in ("accepted", "duplicate"):
                        row.status, row.error = status, error
                    continue
                report.new_files += 1
                if not kept:
                    report.duplicates.append(ref.path)
                elif final:
                    report.late.append(ref.path)
                s.add(_file_row(ref, group.tile_id, status, error))
            if not final:
                state = group.state(now, wait)
                tile.status = str(state.value)
                tile.n_subbands = group.n_subbands
                tile.missing_subbands = ",".join(map(str, group.missing_subbands)) or None
                if state.value == "too_few":
                    tile.reason = f"only {group.n_subbands} of 16 subbands after the wait"
            report.states[group.tile_id] = tile.status
    return report


def _ensure_tile(s, group: TileGroup) -> Tile:
    tile = s.get(Tile, group.tile_id)
    if tile is None:
        tile = Tile(tile_id=group.tile_id, group_time=group.time,
                    partition_key=window_key(group.time))
        s.add(tile)
        for ref in group.files.values():
            s.add(_file_row(ref, group.tile_id, "accepted"))
        for ref in group.duplicates:
            s.add(_file_row(ref, group.tile_id, "duplicate", f"second file for subband {ref.subband}"))
        s.flush()
    return tile


def record_conversion(db: ProductsDB, group: TileGroup, result, *, kind: str, tiers=None) -> None:
    """Mark the tile converted and (re)record its MS row."""
    path = os.fspath(result.ms_path)
    with db.session() as s:
        tile = _ensure_tile(s, group)
        tile.status = "converted"
        tile.reason = None
        tile.n_subbands = len(result.subbands)
        tile.missing_subbands = ",".join(map(str, result.missing_subbands)) or None
        tile.declination_deg = float(result.declination.to_value(u.deg))
        row = s.scalars(select(MeasurementSet).where(MeasurementSet.path == path)).first()
        if row is None:
            row = MeasurementSet(tile_id=group.tile_id, path=path, kind=kind)
            s.add(row)
        row.kind = kind
        row.mid_time = result.mid_time.to_datetime(timezone=dt.UTC)
        row.ra_deg = float(result.phase_centre.ra.deg)
        row.dec_deg = float(result.phase_centre.dec.deg)
        row.n_rows = result.n_rows
        row.n_channels = result.n_channels
        row.flagged_fraction = result.flagged_fraction
        row.size_bytes = result.size_bytes
        row.created_at = dt.datetime.now(dt.UTC)


def record_quarantine(db: ProductsDB, group: TileGroup, reason: str, *,
                      bad_path: Path | None = None) -> None:
    """Mark the tile quarantined with ``reason``; the bad file (if one) invalid."""
    with db.session() as s:
        tile = _ensure_tile(s, group)
        tile.status = "quarantined"
        tile.reason = reason
        if bad_path is not None:
            row = s.scalars(select(SubbandFile).where(SubbandFile.path == os.fspath(bad_path))).first()
            if row is not None:
                row.status = "invalid"
                row.error = reason


def recorded_group(db: ProductsDB, tile_id: str) -> TileGroup | None:
    """The tile as the database records it: its accepted files (and duplicates).

    Converting (or re-converting) this, never a fresh look at incoming/,
    keeps the MS and the database in agreement: a file recorded ``late``
    stays out of the MS.
    """
    with db.session() as s:
        tile = s.get(Tile, tile_id)
        if tile is None:
            return None
        group = TileGroup(tile_id, _utc(tile.group_time))
        for row in s.scalars(select(SubbandFile).where(SubbandFile.tile_id == tile_id)):
            ref = SubbandPath(Path(row.path), _utc(row.file_time), row.subband)
            if row.status == "accepted":
                group.files[row.subband] = ref
            elif row.status == "duplicate":
                group.duplicates.append(ref)
    return group


def _utc(when: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every time here is UTC."""
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def tile_ids_since(db: ProductsDB, since: dt.datetime) -> list[str]:
    """Ids of tiles starting at or after ``since`` (anchors for grouping stragglers)."""
    with db.session() as s:
        return list(s.scalars(select(Tile.tile_id).where(Tile.group_time >= since)))


def record_late_arrivals(db: ProductsDB, groups: Iterable[TileGroup]) -> list[Path]:
    """Files of converted or quarantined tiles that the database has not seen.

    They are recorded (``late``, or ``duplicate`` for a second copy) and never
    merged into the published MS; tiles still in flight are left alone until
    they are final, so a file arriving mid-run is judged after the run.
    """
    groups = list(groups)
    with db.session() as s:
        final = set(s.scalars(select(Tile.tile_id).where(
            Tile.tile_id.in_([g.tile_id for g in groups]), Tile.status.in_(FINAL_STATUSES))))
        known = set(s.scalars(select(SubbandFile.path).where(SubbandFile.tile_id.in_(final))))
    fresh = [
        g for g in groups
        if g.tile_id in final
        and any(os.fspath(ref.path) not in known for ref in [*g.files.values(), *g.duplicates])
    ]
    if not fresh:
        return []
    report = sync_groups(db, fresh)
    return report.late + report.duplicates
