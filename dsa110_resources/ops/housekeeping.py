"""Retention of intermediate products: explicit, logged deletes, with a dry run.

What goes, and only this:

* staging litter (tmpfs and SSD) whose writer is gone (``stores.stale_entries``);
* Measurement Sets (science and calibrator) older than ``ms_days`` whose tile
  has an image: the MS can be rebuilt from the raw files, the image cannot be
  made without it but is made already;
* raw subband files only when an operator opts in (``raw_days``, from
  ``DSA110_RETAIN_RAW_DAYS`` or ``dsa110 housekeeping --raw-days``): accepted
  files of tiles that were converted *and* imaged, older than that.

Never: quarantine (possibly the only copy of raw data), failed MSs (kept for
inspection), calibration tables, images, mosaics, photometry, the database.
Every delete is logged naming the path and why, and appended to
``state/deletions.jsonl``; a path outside the tree it belongs to is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import exists, select

from dsa110_resources.db.models import Image, MeasurementSet, SubbandFile, Tile
from dsa110_resources.stores import layout
from dsa110_resources.stores.tiers import PathEscapeError, StorageTiers, confined, remove_path, stale_entries

log = logging.getLogger(__name__)

MS_DAYS_ENV = "DSA110_RETAIN_MS_DAYS"
RAW_DAYS_ENV = "DSA110_RETAIN_RAW_DAYS"
RETIRED_MS_KINDS = ("science", "calibrators")


def _days(name: str, default: float | None) -> float | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if text.lower() == "never":
        return None
    try:
        days = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of days or 'never', got {text!r}") from None
    if days < 0:
        raise ValueError(f"{name} must not be negative, got {text!r}")
    return days


@dataclass(frozen=True)
class RetentionPolicy:
    ms_days: float | None = 14.0  # None: keep every MS
    raw_days: float | None = None  # None (the default): raw files are never deleted

    @classmethod
    def from_env(cls) -> RetentionPolicy:
        return cls(ms_days=_days(MS_DAYS_ENV, cls.ms_days), raw_days=_days(RAW_DAYS_ENV, None))


@dataclass(frozen=True)
class Deletion:
    path: str
    kind: str  # staging | ms | raw
    reason: str
    size_bytes: int


def _size(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _imaged(tile_id_column):
    return exists().where(Image.tile_id == tile_id_column)


def plan(db, tiers: StorageTiers, policy: RetentionPolicy, *, incoming: Path | None = None,
         now: dt.datetime | None = None) -> list[Deletion]:
    """What housekeeping would delete now, and why (nothing is touched)."""
    now = now or dt.datetime.now(dt.UTC)
    incoming = Path(incoming) if incoming is not None else tiers.product_path(layout.incoming_dir())
    found = []
    for root in dict.fromkeys(r for r in (tiers.fast_root, tiers.stage_root) if r is not None):
        for entry in stale_entries(root):
            found.append(Deletion(str(entry.path), "staging", entry.why, _size(entry.path)))
    with db.session() as s:
        if policy.ms_days is not None:
            cutoff = now - dt.timedelta(days=policy.ms_days)
            rows = s.scalars(select(MeasurementSet).where(
                MeasurementSet.kind.in_(RETIRED_MS_KINDS), MeasurementSet.created_at < cutoff,
                _imaged(MeasurementSet.tile_id)))
            for ms in rows:
                path = Path(ms.path)
                if path.exists():
                    found.append(Deletion(ms.path, "ms", f"{ms.kind} MS of imaged tile {ms.tile_id}, made "
                                          f"{ms.created_at:%Y-%m-%d}, over {policy.ms_days:g} days ago",
                                          ms.size_bytes or _size(path)))
        if policy.raw_days is not None:
            cutoff = now - dt.timedelta(days=policy.raw_days)
            rows = s.execute(select(SubbandFile.path, SubbandFile.tile_id).join(Tile).where(
                SubbandFile.status == "accepted", SubbandFile.file_time < cutoff,
                Tile.status == "converted", _imaged(Tile.tile_id)))
            for path, tile_id in rows:
                if Path(path).exists():
                    found.append(Deletion(path, "raw", f"raw file of converted and imaged tile {tile_id}, "
                                          f"over {policy.raw_days:g} days old ({RAW_DAYS_ENV} opt-in)",
                                          Path(path).stat().st_size))
    return found


def _allowed_roots(deletion: Deletion, tiers: StorageTiers, incoming: Path) -> list[Path]:
    if deletion.kind == "staging":
        return [r for r in (tiers.fast_root, tiers.stage_root) if r is not None]
    if deletion.kind == "ms":
        return [tiers.product_path("ms")]
    return [incoming]


def _check_place(path: Path, roots: list[Path], quarantine: Path) -> None:
    """Raise PathEscapeError unless ``path`` lies under one of ``roots`` and outside quarantine."""
    resolved = path.resolve()
    if resolved == quarantine or quarantine in resolved.parents:
        raise PathEscapeError(f"{path} is in quarantine")
    for root in roots:
        try:
            confined(root, path)
            return
        except PathEscapeError:
            continue
    raise PathEscapeError(f"{path} is outside {', '.join(map(str, roots))}")


def execute(deletions: list[Deletion], tiers: StorageTiers, *, dry_run: bool,
            incoming: Path | None = None) -> list[Deletion]:
    """Delete (or, dry, only name) each planned path; returns what was (or would be) deleted."""
    incoming = Path(incoming) if incoming is not None else tiers.product_path(layout.incoming_dir())
    quarantine = tiers.product_path("quarantine")
    audit = tiers.product_path(layout.deletions_log())
    done = []
    for deletion in deletions:
        path = Path(deletion.path)
        try:
            _check_place(path, _allowed_roots(deletion, tiers, incoming), quarantine)
        except PathEscapeError as exc:
            log.error("housekeeping refuses to delete %s: %s", path, exc)
            continue
        if dry_run:
            log.info("would delete %s (%s, %.1f MB): %s", path, deletion.kind, deletion.size_bytes / 1e6,
                     deletion.reason)
        else:
            log.info("deleting %s (%s, %.1f MB): %s", path, deletion.kind, deletion.size_bytes / 1e6,
                        deletion.reason)
            remove_path(path)
            audit.parent.mkdir(parents=True, exist_ok=True)
            with open(audit, "a") as f:
                f.write(json.dumps({"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                    **asdict(deletion)}) + "\n")
        done.append(deletion)
    return done
