"""Find subband files and group them into tiles.

A tile is the (up to) 16 subband files the correlator writes for one ~309 s
stretch of data. The files' timestamps jitter by seconds, so they are grouped
by time with a tolerance (default ``constants.GROUP_TOLERANCE``); a tile keeps
the file per subband nearest the others' times and is named by the earliest
file it kept. This module is pure: it looks at names only (no file is
opened; only the newest file of an incomplete tile and rival copies of one
subband are stat'ed), so a sensor can call it over ~100k files every tick. What happened
before (tiles already converted, files already seen) comes from the caller,
normally :mod:`.registry` reading the products database.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u

from .. import constants
from .naming import format_timestamp, parse_subband_name, parse_tile_id

#: Default time an incomplete (12-15 subband) tile waits for stragglers,
#: measured from its newest file's modification time.
DEFAULT_INCOMPLETE_WAIT = 10 * u.min


@dataclass(frozen=True, slots=True)
class SubbandPath:
    """A subband file known only by its name (nothing read yet)."""

    path: Path
    timestamp: dt.datetime
    subband: int


class TileState(enum.StrEnum):
    """What may be done with a tile now (values match ``Tile.status``)."""

    COMPLETE = "complete"  # 16 subbands: convert
    SEMI_COMPLETE = "semi_complete"  # 12-15 and the wait is over: convert, gaps flagged
    WAITING = "discovered"  # incomplete, stragglers may still arrive
    TOO_FEW = "too_few"  # < 12 after the wait: not converted, reported


@dataclass
class TileGroup:
    """The files of one tile: one accepted file per subband, plus extras."""

    tile_id: str
    time: dt.datetime
    files: dict[int, SubbandPath] = field(default_factory=dict)
    duplicates: list[SubbandPath] = field(default_factory=list)

    @property
    def subbands(self) -> list[int]:
        return sorted(self.files)

    @property
    def n_subbands(self) -> int:
        return len(self.files)

    @property
    def missing_subbands(self) -> list[int]:
        return [sb for sb in range(constants.N_SUBBANDS) if sb not in self.files]

    @property
    def paths(self) -> list[Path]:
        """Accepted files in subband order."""
        return [self.files[sb].path for sb in self.subbands]

    def newest_mtime(self) -> dt.datetime:
        """Modification time of the most recently written file (one stat per file)."""
        stamps = []
        for ref in self.files.values():
            try:
                stamps.append(ref.path.stat().st_mtime)
            except FileNotFoundError:
                continue
        return dt.datetime.fromtimestamp(max(stamps, default=0.0), dt.UTC)

    def state(
        self,
        now: dt.datetime | None = None,
        wait: u.Quantity = DEFAULT_INCOMPLETE_WAIT,
        min_subbands: int = constants.MIN_SUBBANDS_FOR_CONVERSION,
    ) -> TileState:
        """Complete, semi-complete (ready), still waiting, or too few.

        Only incomplete tiles cost a stat (for the newest file's mtime).
        """
        if self.n_subbands >= constants.N_SUBBANDS:
            return TileState.COMPLETE
        now = now or dt.datetime.now(dt.UTC)
        waited = (now - self.newest_mtime()).total_seconds()
        if waited < wait.to_value(u.s):
            return TileState.WAITING
        if self.n_subbands >= min_subbands:
            return TileState.SEMI_COMPLETE
        return TileState.TOO_FEW


def find_subband_files(incoming: Path, *, max_depth: int = 2) -> tuple[list[SubbandPath], list[Path]]:
    """Subband files under ``incoming`` (flat, or sharded in date directories).

    Returns ``(subband files, other .hdf5 files whose names do not parse)``.
    ``os.scandir`` gives names and entry types without a stat per file.
    Hidden entries (partial copies, staging litter) are skipped.
    """
    found: list[SubbandPath] = []
    unparsed: list[Path] = []

    def walk(directory: str, depth: int) -> None:
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if name.endswith(".hdf5"):
                parsed = parse_subband_name(name)
                if parsed is None:
                    unparsed.append(Path(entry.path))
                else:
                    found.append(SubbandPath(Path(entry.path), parsed[0], parsed[1]))
            elif depth < max_depth and entry.is_dir(follow_symlinks=False):
                walk(entry.path, depth + 1)

    walk(os.fspath(incoming), 1)
    return found, unparsed


def subband_paths(paths: Iterable[os.PathLike | str]) -> list[SubbandPath]:
    """Parse explicit file paths (e.g. from the command line); bad names raise."""
    refs = []
    for p in paths:
        p = Path(p)
        parsed = parse_subband_name(p.name)
        if parsed is None:
            raise ValueError(f"{p}: not a subband file name (YYYY-MM-DDTHH:MM:SS_sbNN.hdf5)")
        refs.append(SubbandPath(p, parsed[0], parsed[1]))
    return refs


def _arrival(ref: SubbandPath) -> float:
    """When the file arrived (its mtime); a file already gone sorts last."""
    try:
        return ref.path.stat().st_mtime
    except OSError:
        return float("inf")


def _settle(tile_id_time: dt.datetime | None, refs: list[SubbandPath]) -> TileGroup:
    """One file per subband: the one closest to the tile's consensus time.

    The consensus is the median of all the cluster's timestamps, so a stray
    second file for a subband (seconds off the other 15) loses to the real
    one; equal distances (the same name in two directories) go to the first
    arrival, then the path. The tile is named by its earliest *accepted*
    file (or the known tile it joined), so a stray never renames it.
    """
    stamps = sorted(r.timestamp.timestamp() for r in refs)
    consensus = stamps[len(stamps) // 2]
    by_subband: dict[int, list[SubbandPath]] = {}
    for ref in refs:
        by_subband.setdefault(ref.subband, []).append(ref)
    files: dict[int, SubbandPath] = {}
    duplicates: list[SubbandPath] = []
    for subband, candidates in by_subband.items():
        if len(candidates) > 1:  # rare: the only place grouping stats a file
            candidates = sorted(candidates, key=lambda r: (
                abs(r.timestamp.timestamp() - consensus), _arrival(r), os.fspath(r.path)))
        files[subband] = candidates[0]
        duplicates += candidates[1:]
    when = tile_id_time or min(r.timestamp for r in files.values())
    return TileGroup(format_timestamp(when), when, files, duplicates)


def group_tiles(
    files: Iterable[SubbandPath],
    *,
    tolerance: u.Quantity = constants.GROUP_TOLERANCE,
    known_tiles: Iterable[str] = (),
) -> list[TileGroup]:
    """Group files into tiles, in time order.

    A cluster starts at a file and takes every later file within
    ``tolerance`` of that first one. ``known_tiles`` (ids already in the
    database) anchor clusters, so a straggler whose timestamp is a few
    seconds *before* an already-named tile joins that tile (and is then
    reported as late or duplicate) instead of renaming it. Each cluster then
    keeps one file per subband and is named as ``_settle`` says.
    """
    tol = dt.timedelta(seconds=tolerance.to_value(u.s))
    refs = sorted(files, key=lambda r: (r.timestamp, os.fspath(r.path)))
    anchors = sorted(parse_tile_id(t) for t in set(known_tiles))

    clusters: list[tuple[dt.datetime | None, list[SubbandPath]]] = []  # (anchor, members)
    by_anchor: dict[dt.datetime, list[SubbandPath]] = {}
    current: list[SubbandPath] | None = None
    current_start: dt.datetime | None = None
    for ref in refs:
        # A known tile within tolerance wins over starting a new cluster.
        i = bisect.bisect_left(anchors, ref.timestamp - tol)
        anchor = anchors[i] if i < len(anchors) and anchors[i] - ref.timestamp <= tol else None
        if anchor is not None:
            if anchor not in by_anchor:
                by_anchor[anchor] = []
                clusters.append((anchor, by_anchor[anchor]))
            current, current_start = by_anchor[anchor], anchor
        elif current is None or ref.timestamp - current_start > tol:
            current, current_start = [], ref.timestamp
            clusters.append((None, current))
        current.append(ref)
    groups = [_settle(anchor, members) for anchor, members in clusters]
    groups.sort(key=lambda g: g.time)
    return groups


def find_tiles(
    incoming: Path,
    *,
    tolerance: u.Quantity = constants.GROUP_TOLERANCE,
    known_tiles: Iterable[str] = (),
) -> list[TileGroup]:
    """``find_subband_files`` + ``group_tiles``."""
    files, _ = find_subband_files(incoming)
    return group_tiles(files, tolerance=tolerance, known_tiles=known_tiles)


def select_tile(groups: Iterable[TileGroup], timestamp: str | dt.datetime,
                tolerance: u.Quantity = constants.GROUP_TOLERANCE) -> TileGroup:
    """The group whose id is (within tolerance of) ``timestamp``."""
    when = parse_tile_id(timestamp) if isinstance(timestamp, str) else timestamp
    tol = tolerance.to_value(u.s)
    best = min(groups, key=lambda g: abs((g.time - when).total_seconds()), default=None)
    if best is None or abs((best.time - when).total_seconds()) > tol:
        raise LookupError(f"no tile within {tol:g} s of {format_timestamp(when)}")
    return best
