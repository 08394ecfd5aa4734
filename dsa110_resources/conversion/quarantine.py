"""Quarantine: set a bad tile's files aside with the reason, and carry on.

A quarantined tile's files go to ``quarantine/YYYY-MM-DD/<tile>/`` (the path
comes from ``stores.layout``) next to a ``reason.txt``. The pipeline moves
them (so the sensor does not retry them every tick); tools run on someone
else's directory hard-link them instead (``mode="link"``) or only write the
reason (``mode="record"``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from ..stores import StorageTiers, layout

REASON_FILE = "reason.txt"


class TileQuarantined(RuntimeError):
    """Raised after a tile was quarantined; carries the reason and where it went."""

    def __init__(self, tile_id: str, reason: str, directory: Path | None = None):
        self.tile_id, self.reason, self.directory = tile_id, reason, directory
        where = f" (files in {directory})" if directory else ""
        super().__init__(f"tile {tile_id} quarantined: {reason}{where}")


def _place(source: Path, target: Path, mode: str) -> None:
    if target.exists() or target.is_symlink():
        target.unlink()
    if mode == "move":
        shutil.move(os.fspath(source), os.fspath(target))
    elif mode == "link":
        try:
            os.link(source, target)
        except OSError:  # another filesystem, or links not allowed
            target.symlink_to(source.resolve())
    elif mode != "record":
        raise ValueError(f"quarantine mode must be move, link or record, got {mode!r}")


def quarantine_tile(tiers: StorageTiers, tile_id: str, files: Iterable[Path], reason: str,
                    *, mode: str = "move") -> Path:
    """Put ``files`` in the tile's quarantine directory with ``reason.txt``."""
    directory = tiers.product_path(layout.quarantine_dir(tile_id))
    directory.mkdir(parents=True, exist_ok=True)
    placed = []
    for source in files:
        source = Path(source)
        if not source.exists():
            continue
        _place(source, directory / source.name, mode)
        placed.append(source)
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    lines = [f"tile: {tile_id}", f"when: {stamp}", f"reason: {reason}", f"mode: {mode}",
             "files:"] + [f"  {p}" for p in placed]
    tmp = directory / f".{REASON_FILE}.{os.getpid()}"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, directory / REASON_FILE)
    return directory


def quarantined_tiles(tiers: StorageTiers) -> dict[str, str]:
    """``{tile_id: reason}`` for every tile in the quarantine tree."""
    root = tiers.product_path("quarantine")
    found: dict[str, str] = {}
    if not root.is_dir():
        return found
    for reason_file in root.glob(f"*/*/{REASON_FILE}"):
        reason = ""
        for line in reason_file.read_text(errors="replace").splitlines():
            if line.startswith("reason: "):
                reason = line[len("reason: "):]
                break
        found[reason_file.parent.name] = reason
    return found
