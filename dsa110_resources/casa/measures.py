"""Measures data that ages (leap seconds, Earth orientation) and the check that says so.

casacore converts UTC with the leap-second table ``geodetic/TAI_UTC`` and
UT1 with the IERS tables beside it. The copy packaged with ``casadata`` is
frozen at release: once TAI_UTC's ``VS_DATE`` is about half a year old CASA
logs ``SEVERE ... Leap second table TAI_UTC seems out-of-date`` on every
conversion, and once ``IERSpredict`` runs out UT1 is extrapolated.

``DSA110_MEASURES_DIR`` names a measures directory (``geodetic/`` and
``ephemerides/``) an operator refreshes without the network at run time:
``dsa110 measures install`` takes a measures tree or tarball (e.g.
``WSRT_Measures.ztar``, fetched on any connected machine) and swaps it in
atomically. The CASA site config reads measures from there; the check here
runs at start (Dagster code location, ``dsa110`` commands) and is what an
alert sensor calls.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MEASURES_DIR_ENV = "DSA110_MEASURES_DIR"
MAX_AGE_ENV = "DSA110_MEASURES_MAX_AGE_DAYS"
#: casacore complains about TAI_UTC at ~180 days; warn with time to refresh.
DEFAULT_MAX_AGE_DAYS = 90.0
#: Tables whose VS_DATE (last refresh) must be recent.
AGEING_TABLES = ("TAI_UTC", "IERSpredict")
_MJD_EPOCH = dt.datetime(1858, 11, 17, tzinfo=dt.UTC)


def packaged_measures_dir() -> Path:
    import casadata

    return Path(casadata.datapath)


def configured_measures_dir() -> Path | None:
    """The operator's measures directory, or None (use the packaged copy)."""
    value = os.environ.get(MEASURES_DIR_ENV)
    return Path(value).expanduser().resolve() if value else None


def measures_dir() -> Path:
    return configured_measures_dir() or packaged_measures_dir()


def missing_tables(directory: Path) -> str | None:
    """Cheap (no casacore) reason why ``directory`` cannot serve as measures, or None."""
    for name in ("geodetic/TAI_UTC", "geodetic/IERSpredict", "ephemerides/DE200"):
        if not (directory / name / "table.dat").exists():
            return f"{directory} has no {name} table"
    return None


@dataclass
class MeasuresStatus:
    """How old the measures in ``directory`` are; ``problems`` empty when fine."""

    directory: Path
    max_age_days: float
    updated: dict[str, dt.datetime] = field(default_factory=dict)  # table -> VS_DATE
    predictions_end: dt.datetime | None = None  # last day of IERSpredict
    problems: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.problems)

    @property
    def message(self) -> str:
        if not self.problems:
            return f"measures in {self.directory} are current"
        return (f"measures in {self.directory} are out of date: " + "; ".join(self.problems)
                + f". Refresh them: fetch a measures tarball (e.g. WSRT_Measures.ztar) and run "
                  f"'dsa110 measures install TARBALL' with {MEASURES_DIR_ENV} set.")


def _max_age_days() -> float:
    text = os.environ.get(MAX_AGE_ENV)
    try:
        return float(text) if text else DEFAULT_MAX_AGE_DAYS
    except ValueError:
        raise ValueError(f"{MAX_AGE_ENV} must be a number of days, got {text!r}") from None


def _vs_date(text: str) -> dt.datetime:
    """casacore's 'YYYY/MM/DD/HH:MM' (the time part optional)."""
    parts = text.strip().split("/")
    date = dt.datetime(int(parts[0]), int(parts[1]), int(parts[2]), tzinfo=dt.UTC)
    if len(parts) > 3 and ":" in parts[3]:
        hours, minutes = parts[3].split(":")[:2]
        date += dt.timedelta(hours=int(hours), minutes=int(minutes))
    return date


def check_measures(directory: Path | None = None, *, now: dt.datetime | None = None,
                   max_age_days: float | None = None) -> MeasuresStatus:
    """Read the ageing tables' refresh dates and say what is stale (for start-up and alerts)."""
    from casacore.tables import table

    directory = Path(directory) if directory is not None else measures_dir()
    now = now or dt.datetime.now(dt.UTC)
    status = MeasuresStatus(directory, max_age_days if max_age_days is not None else _max_age_days())
    if why := missing_tables(directory):
        status.problems.append(why)
        return status
    for name in AGEING_TABLES:
        path = directory / "geodetic" / name
        try:
            with table(str(path), ack=False) as t:
                updated = _vs_date(t.getkeyword("VS_DATE"))
                if name == "IERSpredict":
                    status.predictions_end = _MJD_EPOCH + dt.timedelta(days=float(t.getcol("MJD")[-1]))
        except (RuntimeError, ValueError, IndexError) as exc:
            status.problems.append(f"{path} is unreadable or has no valid VS_DATE ({exc})")
            continue
        status.updated[name] = updated
        age = (now - updated).total_seconds() / 86400
        if age > status.max_age_days:
            status.problems.append(f"{name} was last updated {updated:%Y-%m-%d}, {age:.0f} days ago "
                                   f"(limit {status.max_age_days:g} days, {MAX_AGE_ENV})")
    if status.predictions_end is not None and status.predictions_end < now:
        status.problems.append(f"IERSpredict Earth-orientation predictions ended "
                               f"{status.predictions_end:%Y-%m-%d}")
    return status


def warn_if_stale(directory: Path | None = None) -> MeasuresStatus:
    """The start-up check: log a warning naming what is stale and how to refresh it."""
    status = check_measures(directory)
    if status.stale:
        log.warning("%s", status.message)
    return status


def _unpack(source: Path, into: Path) -> Path:
    """The measures tree in ``source`` (a directory, or a tar archive unpacked into ``into``)."""
    if source.is_dir():
        tree = source
    else:
        with tarfile.open(source) as archive:  # .ztar is a gzipped tar
            archive.extractall(into, filter="data")  # no links out, no absolute paths
        tree = into
    candidates = [tree, *(p for p in tree.iterdir() if p.is_dir())]  # the tree, or one folder down
    found = [p for p in candidates if (p / "geodetic" / "TAI_UTC" / "table.dat").is_file()]
    if len(found) != 1:
        raise ValueError(f"{source} holds {len(found)} measures trees (geodetic/TAI_UTC); expected one")
    return found[0]


def install(source: Path, directory: Path | None = None) -> MeasuresStatus:
    """Swap the measures in ``source`` (directory or tarball) into the measures directory.

    ``geodetic/`` is replaced atomically (readers see the old or the new
    tables); ``ephemerides/`` too when the source has it, else the packaged
    one is linked (planetary ephemerides do not age).
    """
    from ..stores.tiers import publish

    target = Path(directory) if directory is not None else configured_measures_dir()
    if target is None:
        raise ValueError(f"set {MEASURES_DIR_ENV} (or pass a directory) to install measures")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".staging-measures-") as scratch:
        tree = _unpack(Path(source), Path(scratch) / "unpacked")
        for name in ("geodetic", "ephemerides"):
            if (tree / name).is_dir():
                staged = Path(scratch) / name
                shutil.copytree(tree / name, staged, symlinks=False)
                publish(staged, target / name)
        if not (target / "ephemerides").exists():
            (target / "ephemerides").symlink_to(packaged_measures_dir() / "ephemerides")
    status = check_measures(target)
    if status.stale:
        log.warning("installed, but still stale: %s", status.message)
    return status
