"""Pipeline health at a glance: backlog, last products, calibration, disk levels.

``collect`` reads a handful of aggregate queries and lists only the newest
incoming date directories, so it stays cheap after years of operation; it is
what ``dsa110 status``, the alert sensor and the ``pipeline_health`` asset show.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import astropy.units as u
from sqlalchemy import exists, func, select
from sqlalchemy.exc import SQLAlchemyError

from dsa110_resources.calibration.registry import (
    NoValidCalibration,
    ValidityPolicy,
    bandpass_for_gains,
    lookup_table,
)
from dsa110_resources.db.models import CalibrationTable, Image, SubbandFile, Tile
from dsa110_resources.stores.tiers import StorageTiers, free_bytes

#: Tile states that still wait for conversion (the others are final or given up).
WAITING_STATES = ("discovered", "complete", "semi_complete")
#: Incoming date directories listed (the newest ones): enough to see arrival.
RECENT_DATE_DIRS = 2
_IN_CHUNK = 500


@dataclass
class DiskLevel:
    tier: str
    path: str
    free_bytes: int
    total_bytes: int
    device: int = 0  # st_dev: tiers on one filesystem share it

    @property
    def free_fraction(self) -> float:
        return self.free_bytes / self.total_bytes if self.total_bytes else 0.0


@dataclass
class Health:
    now: dt.datetime
    files_waiting: int = 0  # recent incoming files the products DB has not recorded
    tiles_waiting: int = 0  # recorded, not yet converted nor given up
    tiles_converted_not_imaged: int = 0
    incoming_newest: dt.datetime | None = None  # mtime of the newest recent incoming file
    incoming_oldest: dt.datetime | None = None  # ... and the oldest one listed
    last_tile: dict | None = None  # tile_id, status, group_time
    last_image: dict | None = None  # tile_id, path, created_at
    last_calibration: dict | None = None  # caltype, path, solved_for, age_hours
    calibration_problem: str | None = None  # why no valid B/G tables cover ``now``
    bandpass_carried: str | None = None  # the bandpass in use is carried forward past its window
    quarantined_last_hour: int = 0
    disks: list[DiskLevel] = field(default_factory=list)
    measures_problem: str | None = None
    measures_checked: bool = False
    database_problem: str | None = None  # the DB could not be read: its figures are missing

    def as_dict(self) -> dict:
        """JSON-ready (ISO times, free fractions included)."""
        def plain(value):
            if isinstance(value, dt.datetime):
                return value.isoformat(timespec="seconds")
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        out = plain(asdict(self))
        for disk, level in zip(out["disks"], self.disks):
            disk["free_fraction"] = round(level.free_fraction, 4)
        return out


def disk_levels(tiers: StorageTiers, incoming: Path | None = None) -> list[DiskLevel]:
    """Free and total bytes of each tier (tmpfs, SSD staging, products, incoming)."""
    places = [("fast", tiers.fast_root), ("stage", tiers.stage_root), ("products", tiers.data_root),
              ("incoming", incoming)]
    levels = []
    for tier, path in places:
        if path is None:
            continue
        probe = Path(path)
        while not probe.exists():
            probe = probe.parent
        stats = os.statvfs(probe)
        levels.append(DiskLevel(tier, str(path), free_bytes(probe), stats.f_blocks * stats.f_frsize,
                                probe.stat().st_dev))
    return levels


def recent_incoming_files(incoming: Path) -> list[Path]:
    """Subband files of the newest days in ``incoming/``: date directories and flat names alike.

    Days are judged by name (``YYYY-MM-DD`` directories, file names starting
    with their timestamp), so older files are never even stat'ed.
    """
    if not incoming.is_dir():
        return []
    by_day: dict[str, list[Path]] = {}
    with os.scandir(incoming) as entries:
        for entry in entries:
            if entry.is_dir() and len(entry.name) == 10 and entry.name[4] == "-":
                by_day.setdefault(entry.name, []).append(Path(entry.path))
            elif entry.name.endswith(".hdf5"):
                by_day.setdefault(entry.name[:10], []).append(Path(entry.path))
    files = []
    for day in sorted(by_day)[-RECENT_DATE_DIRS:]:
        for path in by_day[day]:
            if path.is_dir():
                files += [p for p in path.iterdir() if p.name.endswith(".hdf5") and p.is_file()]
            elif path.is_file():
                files.append(path)
    return files


def _unrecorded(session, files: list[Path]) -> int:
    names = [os.fspath(p) for p in files]
    known = set()
    for start in range(0, len(names), _IN_CHUNK):
        chunk = names[start:start + _IN_CHUNK]
        known |= set(session.scalars(select(SubbandFile.path).where(SubbandFile.path.in_(chunk))))
    return len(set(names) - known)


def _database_figures(health: Health, db, files: list[Path]) -> None:
    now = health.now
    with db.session() as s:
        health.files_waiting = _unrecorded(s, files)
        health.tiles_waiting = s.scalar(select(func.count()).where(Tile.status.in_(WAITING_STATES)))
        imaged = exists().where(Image.tile_id == Tile.tile_id)
        health.tiles_converted_not_imaged = s.scalar(
            select(func.count()).select_from(Tile).where(Tile.status == "converted", ~imaged))
        tile = s.scalars(select(Tile).order_by(Tile.group_time.desc()).limit(1)).first()
        if tile is not None:
            health.last_tile = {"tile_id": tile.tile_id, "status": tile.status, "group_time": tile.group_time}
        image = s.scalars(select(Image).order_by(Image.created_at.desc()).limit(1)).first()
        if image is not None:
            health.last_image = {"tile_id": image.tile_id, "path": image.path, "created_at": image.created_at}
        cal = s.scalars(select(CalibrationTable).where(CalibrationTable.status == "valid")
                        .order_by(CalibrationTable.solved_for.desc()).limit(1)).first()
        if cal is not None:
            health.last_calibration = {
                "caltype": cal.caltype, "path": cal.path, "solved_for": cal.solved_for,
                "valid_to": cal.valid_to, "age_hours": round((now - cal.solved_for).total_seconds() / 3600, 2)}
        health.quarantined_last_hour = s.scalar(select(func.count()).where(
            Tile.status == "quarantined", Tile.updated_at >= now - dt.timedelta(hours=1)))
    missing = {}
    for caltype in ("B", "G"):  # lookup_table, not select_tables: no aging warning every tick
        try:
            lookup_table(db, caltype, now)
        except NoValidCalibration as exc:
            missing.update(exc.missing)
    if "B" in missing:  # no transit lately: sky-model gains may still run on a carried bandpass
        try:
            carried = bandpass_for_gains(db, now, warn=False)
        except NoValidCalibration:
            pass
        else:
            del missing["B"]
            limit = ValidityPolicy().max_bandpass_age.to_value(u.hour)
            health.bandpass_carried = (
                f"bandpass carried forward: {carried.path} solved {carried.age_hours:.1f} h ago, past its "
                f"window (limit {limit:g} h, DSA110_BANDPASS_MAX_AGE_HOURS); no usable calibrator transit since")
    if missing:
        lines = str(NoValidCalibration(now.replace(microsecond=0), missing)).splitlines()
        health.calibration_problem = lines[0] + " " + "; ".join(line.strip() for line in lines[1:])


def database_problem(exc: Exception) -> str:
    """What went wrong with the products DB, without the statement or URL (first line of the driver's error)."""
    cause = getattr(exc, "orig", None) or exc
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"products database unreachable or unreadable: {type(cause).__name__}: {first}"


def collect(db, tiers: StorageTiers, incoming: Path | None = None, *, now: dt.datetime | None = None,
            measures: bool = False, db_error: str | None = None) -> Health:
    """Health as of ``now``; ``measures=True`` also reads the measures tables' ages.

    ``db`` None (it could not be opened: ``db_error`` says why) or failing
    mid-way gives ``database_problem`` and the figures that need no database.
    """
    now = now or dt.datetime.now(dt.UTC)
    incoming = Path(incoming) if incoming is not None else tiers.product_path("incoming")
    health = Health(now=now, disks=disk_levels(tiers, incoming))
    files = recent_incoming_files(incoming)
    if files:
        mtimes = [p.stat().st_mtime for p in files]
        health.incoming_newest = dt.datetime.fromtimestamp(max(mtimes), dt.UTC)
        health.incoming_oldest = dt.datetime.fromtimestamp(min(mtimes), dt.UTC)
    if db is None:
        health.database_problem = db_error or "no products database"
    else:
        try:
            _database_figures(health, db, files)
        except SQLAlchemyError as exc:
            health.database_problem = database_problem(exc)
    if measures:
        from dsa110_resources.casa.measures import check_measures

        status = check_measures(now=now)
        health.measures_checked = True
        health.measures_problem = status.message if status.stale else None
    return health
