"""Quarantine: set a bad tile's files aside with the reason, and carry on.

A quarantined tile's files go to ``quarantine/YYYY-MM-DD/<tile>/`` (the path
comes from ``stores.layout``) next to a ``reason.txt``. The pipeline moves
them (so the sensor does not retry them every tick); tools run on someone
else's directory hard-link them instead (``mode="link"``) or only write the
reason (``mode="record"``). Nothing in quarantine is ever replaced or
deleted: these may be the only copies of raw data.
"""

from __future__ import annotations

import datetime as dt
import errno
import itertools
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..pause_points import pause_point
from ..stores import StorageTiers, layout
from ..stores.tiers import PARTIAL_PREFIX, clean_stale, staging_token

REASON_FILE = "reason.txt"


class TileQuarantined(RuntimeError):
    """Raised after a tile was quarantined; carries the reason and where it went."""

    def __init__(self, tile_id: str, reason: str, directory: Path | None = None):
        self.tile_id, self.reason, self.directory = tile_id, reason, directory
        where = f" (files in {directory})" if directory else ""
        super().__init__(f"tile {tile_id} quarantined: {reason}{where}")


def _free_name(directory: Path, name: str) -> Iterator[Path]:
    """``name``, then ``name.1``, ``name.2``...: a same-named file never replaces another."""
    yield directory / name
    for n in itertools.count(1):
        yield directory / f"{name}.{n}"


def _claim(directory: Path, name: str, place, source: Path | None = None) -> Path:
    """Call ``place(target)`` on the first free name; ``place`` must fail if it exists.

    A name that already holds ``source`` itself (a hard link left by a move
    that was killed before it removed the incoming name) is that file's place.
    """
    for target in _free_name(directory, name):
        try:
            place(target)
            return target
        except FileExistsError:
            if source is not None and os.path.samefile(source, target):
                return target
            continue
    raise AssertionError("itertools.count ran out")


def _copy_in(source: Path, directory: Path, name: str) -> Path:
    """Copy ``source`` across filesystems into a free name (fsynced before it appears)."""
    partial = directory / f"{PARTIAL_PREFIX}{staging_token()}-{name}"  # swept if its writer dies
    shutil.copy2(source, partial)
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    pause_point("quarantine:copied")
    try:
        return _claim(directory, name, lambda target: os.link(partial, target))
    finally:
        partial.unlink()


def _place(source: Path, directory: Path, mode: str) -> Path | None:
    """Put ``source`` in ``directory`` under a free name; nothing there is replaced.

    Hard links (``os.link`` refuses an existing target) make both the move
    (link, then drop the incoming name) and the link mode no-overwrite.
    """
    if mode == "record":
        return None
    if mode not in ("move", "link"):
        raise ValueError(f"quarantine mode must be move, link or record, got {mode!r}")
    try:
        target = _claim(directory, source.name, lambda t: os.link(source, t), source)
    except OSError as exc:  # another filesystem, or links not allowed
        if mode == "link":
            target = _claim(directory, source.name, lambda t: t.symlink_to(source.resolve()))
        elif exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            target = _copy_in(source, directory, source.name)
        else:
            raise
    if mode == "move":
        pause_point("quarantine:linked")
        source.unlink()  # the bytes are safe under ``target`` by now
    return target


def quarantine_tile(tiers: StorageTiers, tile_id: str, files: Iterable[Path], reason: str,
                    *, mode: str = "move") -> Path:
    """Put ``files`` in the tile's quarantine directory with ``reason.txt``.

    Every file is kept: a name already taken (the same name from flat and
    date-sharded incoming directories, or an earlier quarantine of the tile)
    gets a ``.1``, ``.2``... suffix, and ``reason.txt`` records each source
    and where it went. A tile quarantined again appends to ``reason.txt``.
    """
    directory = tiers.product_path(layout.quarantine_dir(tile_id))
    directory.mkdir(parents=True, exist_ok=True)
    clean_stale(directory)  # partial copies of a quarantine killed half-way (the sources are still there)
    placed = []
    for source in files:
        source = Path(source)
        if not source.exists():
            continue
        target = _place(source, directory, mode)
        placed.append(f"  {source}" + (f" -> {target.name}" if target else ""))
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    lines = [f"tile: {tile_id}", f"when: {stamp}", f"reason: {reason}", f"mode: {mode}",
             "files:", *placed]
    reason_file = directory / REASON_FILE
    earlier = reason_file.read_text(errors="replace") + "\n" if reason_file.exists() else ""
    tmp = directory / f"{PARTIAL_PREFIX}{staging_token()}-{REASON_FILE}"
    tmp.write_text(earlier + "\n".join(lines) + "\n")
    os.replace(tmp, reason_file)
    return directory


def quarantined_tiles(tiers: StorageTiers) -> dict[str, str]:
    """``{tile_id: latest reason}`` for every tile in the quarantine tree."""
    root = tiers.product_path("quarantine")
    found: dict[str, str] = {}
    if not root.is_dir():
        return found
    for reason_file in root.glob(f"*/*/{REASON_FILE}"):
        reason = ""
        for line in reason_file.read_text(errors="replace").splitlines():
            if line.startswith("reason: "):
                reason = line[len("reason: "):]  # the last quarantine's
        found[reason_file.parent.name] = reason
    return found
