"""The calibration registry: which caltable may be applied at which time.

Every solved table is registered in the products database with a validity
window centred on the time it was solved for (bandpass about +/-12 h, gains
about +/-1 h, from :mod:`dsa110_resources.constants`, configurable through
:class:`ValidityPolicy`). A lookup for a time picks, per table type, the valid
table nearest in time in *either* direction whose window covers it; a table
further than ``aging_fraction`` of its half-window from the time is still used
but flagged as aging (and a warning is logged); when no window covers the
time the lookup refuses with :class:`NoValidCalibration`, whose message says
which table type is missing and how far away the nearest one is. The old
pipeline made tables it never registered and let too-narrow windows leave
data uncalibrated without saying so; both are errors here.

Which tables go together: a gain table is solved with a bandpass (and maybe a
delay table) pre-applied, and records their ids in ``parameters``. A lookup
prefers that bandpass when it is still valid, so gains are never applied on
top of a bandpass they were not solved against unless that one has expired.

Days without a usable calibrator transit (none in the catalog at this
declination, the transit tile lost, or its tables retired by the QA gates):
sky-model gains are solved against the newest valid bandpass even past its
window, up to ``ValidityPolicy.bandpass_max_age`` (72 h,
``DSA110_BANDPASS_MAX_AGE_HOURS``) from its solve (:func:`bandpass_for_gains`),
and such a gain table carries that bandpass with it into ``select_tables``.
The carried bandpass is named in a warning on every tile and in the
``bandpass_age`` alert; past the limit the lookup refuses as before.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
from astropy.time import Time
from sqlalchemy import delete, select, update

from dsa110_resources import constants as C
from dsa110_resources.db.models import CalibrationApplication, CalibrationTable, Image, MeasurementSet

log = logging.getLogger(__name__)

#: Table types in the order they are applied.
APPLY_ORDER = ("K", "B", "G")
CALTYPE_NAMES = {"K": "delay (K)", "B": "bandpass (B)", "G": "complex gain (G)"}


class NoValidCalibration(LookupError):
    """No registered table of a needed type covers the requested time."""

    def __init__(self, time: dt.datetime, missing: dict[str, str]):
        self.time, self.missing = time, missing
        lines = [f"no valid calibration for {time.isoformat()}:"]
        lines += [f"  {CALTYPE_NAMES.get(k, k)}: {why}" for k, why in missing.items()]
        super().__init__("\n".join(lines))


def _bandpass_max_age() -> u.Quantity:
    text = os.environ.get("DSA110_BANDPASS_MAX_AGE_HOURS")
    try:
        return float(text) * u.hour if text else C.BANDPASS_MAX_AGE
    except ValueError:
        raise ValueError(f"DSA110_BANDPASS_MAX_AGE_HOURS must be a number of hours, got {text!r}") from None


@dataclass(frozen=True)
class ValidityPolicy:
    """Half-widths of validity windows, when a table counts as aging, and how
    far a bandpass may be carried forward for sky-model gains."""

    bandpass: u.Quantity = C.BANDPASS_VALIDITY
    gain: u.Quantity = C.GAIN_VALIDITY
    delay: u.Quantity = C.BANDPASS_VALIDITY  # delays are as stable as bandpasses
    aging_fraction: float = 0.5  # beyond this fraction of the half-window: warn
    bandpass_max_age: u.Quantity | None = None  # None: DSA110_BANDPASS_MAX_AGE_HOURS, read at each use

    @property
    def max_bandpass_age(self) -> u.Quantity:
        return _bandpass_max_age() if self.bandpass_max_age is None else self.bandpass_max_age

    def half_width(self, caltype: str) -> dt.timedelta:
        width = {"B": self.bandpass, "G": self.gain, "K": self.delay}.get(caltype)
        if width is None:
            raise ValueError(f"unknown caltype {caltype!r}; expected one of {APPLY_ORDER}")
        return dt.timedelta(seconds=float(width.to_value(u.s)))


def as_datetime(time: Time | dt.datetime) -> dt.datetime:
    """An aware UTC datetime from an astropy Time or a datetime (naive = UTC)."""
    if isinstance(time, Time):
        return time.utc.to_datetime(timezone=dt.UTC)
    if time.tzinfo is None:
        return time.replace(tzinfo=dt.UTC)
    return time.astimezone(dt.UTC)


def _hours(delta: dt.timedelta) -> float:
    return delta.total_seconds() / 3600.0


@dataclass(frozen=True)
class SelectedTable:
    """A table chosen for a time, with how old it is there."""

    id: int
    path: str
    caltype: str
    solved_for: dt.datetime
    valid_from: dt.datetime
    valid_to: dt.datetime
    offset: dt.timedelta  # time - solved_for (negative: table solved later)
    aging: bool
    calibrator: str | None = None
    parameters: dict = field(default_factory=dict, compare=False)
    carried_forward: bool = False  # used past its window (a bandpass, for sky-model gains)

    @classmethod
    def from_row(cls, row: CalibrationTable, time: dt.datetime, policy: ValidityPolicy,
                 carried_forward: bool = False) -> SelectedTable:
        offset = time - row.solved_for
        half = min(row.solved_for - row.valid_from, row.valid_to - row.solved_for)
        aging = abs(offset) > policy.aging_fraction * half
        return cls(row.id, row.path, row.caltype, row.solved_for, row.valid_from, row.valid_to,
                   offset, aging, row.calibrator, dict(row.parameters or {}), carried_forward)

    @property
    def age_hours(self) -> float:
        return abs(_hours(self.offset))


@dataclass
class CalibrationSelection:
    """The tables to apply to one time, in apply order, plus any warnings."""

    time: dt.datetime
    tables: list[SelectedTable]
    warnings: list[str] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [t.path for t in self.tables]

    def by_type(self, caltype: str) -> SelectedTable | None:
        return next((t for t in self.tables if t.caltype == caltype), None)


def register_table(
    db,
    path: str | Path,
    caltype: str,
    solved_for: Time | dt.datetime,
    *,
    policy: ValidityPolicy = ValidityPolicy(),
    source_ms: str | Path | None = None,
    source_tile_id: str | None = None,
    calibrator: str | None = None,
    refant: str | None = None,
    casa_version: str | None = None,
    parameters: dict | None = None,
    qa: dict | None = None,
    status: str = "valid",
) -> int:
    """Record a published table with its validity window; returns its id.

    Re-registering the same path (a re-solve) replaces the row's contents
    and its registration time (``created_at``), so the registry never holds
    two rows for one file and a re-solve is visible as a new registration.
    """
    solved = as_datetime(solved_for)
    half = policy.half_width(caltype)
    values = dict(
        caltype=caltype, solved_for=solved, valid_from=solved - half, valid_to=solved + half,
        source_tile_id=source_tile_id, source_ms=None if source_ms is None else str(source_ms),
        calibrator=calibrator, refant=refant, casa_version=casa_version,
        parameters=parameters or {}, qa=qa or {}, status=status,
    )
    with db.session() as session:
        row = session.scalars(select(CalibrationTable).where(CalibrationTable.path == str(path))).first()
        if row is None:
            row = CalibrationTable(path=str(path), **values)
            session.add(row)
        else:
            if row.status != "valid":  # a re-solve of a retired table: say it was
                values["qa"] = dict(values["qa"], previously=dict(status=row.status, **(row.qa or {}).get("retired", {})))
            for key, value in values.items():
                setattr(row, key, value)
            row.created_at = dt.datetime.now(dt.UTC)
        session.flush()
        return row.id


def _candidates(session, caltype: str, time: dt.datetime) -> list[CalibrationTable]:
    query = (
        select(CalibrationTable)
        .where(CalibrationTable.caltype == caltype, CalibrationTable.status == "valid")
        .where(CalibrationTable.valid_from <= time, CalibrationTable.valid_to >= time)
    )
    rows = list(session.scalars(query))
    rows.sort(key=lambda r: (abs(time - r.solved_for), -r.id))
    return rows


def _why_missing(session, caltype: str, time: dt.datetime) -> str:
    """Describe the nearest table of this type (for the refusal message)."""
    query = select(CalibrationTable).where(
        CalibrationTable.caltype == caltype, CalibrationTable.status == "valid"
    )
    rows = list(session.scalars(query))
    if not rows:
        return "none registered"
    near = min(rows, key=lambda r: abs(time - r.solved_for))
    offset = _hours(time - near.solved_for)
    side = "after" if offset > 0 else "before"
    return (
        f"stale: nearest {near.path} was solved {near.solved_for.isoformat()} "
        f"({abs(offset):.2f} h {side} its solve), valid only "
        f"{near.valid_from.isoformat()} .. {near.valid_to.isoformat()}"
    )


def lookup_table(db, caltype: str, time: Time | dt.datetime, *,
                 policy: ValidityPolicy = ValidityPolicy()) -> SelectedTable:
    """The valid table of ``caltype`` nearest to ``time`` whose window covers it."""
    when = as_datetime(time)
    with db.session() as session:
        rows = _candidates(session, caltype, when)
        if not rows:
            raise NoValidCalibration(when, {caltype: _why_missing(session, caltype, when)})
        return SelectedTable.from_row(rows[0], when, policy)


def _carried_bandpass(session, when: dt.datetime, policy: ValidityPolicy,
                      table_id: int | None = None) -> CalibrationTable | None:
    """The valid bandpass (``table_id``, or the nearest) within the carry-forward age of ``when``."""
    limit = dt.timedelta(seconds=float(policy.max_bandpass_age.to_value(u.s)))
    query = select(CalibrationTable).where(CalibrationTable.caltype == "B", CalibrationTable.status == "valid")
    if table_id is not None:
        query = query.where(CalibrationTable.id == table_id)
    rows = [r for r in session.scalars(query) if abs(when - r.solved_for) <= limit]
    return min(rows, key=lambda r: (abs(when - r.solved_for), -r.id)) if rows else None


def bandpass_for_gains(db, time: Time | dt.datetime, *,
                       policy: ValidityPolicy = ValidityPolicy(), warn: bool = True) -> SelectedTable:
    """The bandpass a sky-model gain solve pre-applies at ``time``.

    The valid bandpass covering ``time``; when none does (no usable transit),
    the nearest valid one within ``policy.bandpass_max_age``, marked
    ``carried_forward`` (a warning is logged unless ``warn`` is off: the health
    check asks every tick). Beyond that: NoValidCalibration.
    """
    when = as_datetime(time)
    with db.session() as session:
        rows = _candidates(session, "B", when)
        if rows:
            return SelectedTable.from_row(rows[0], when, policy)
        row = _carried_bandpass(session, when, policy)
        if row is None:
            why = _why_missing(session, "B", when)
            raise NoValidCalibration(when, {"B": f"{why}; none within the carry-forward limit of "
                                                 f"{policy.max_bandpass_age.to_value(u.hour):g} h either"})
        chosen = SelectedTable.from_row(row, when, policy, carried_forward=True)
    if warn:
        log.warning("no bandpass covers %s: carrying %s forward (%.1f h from its solve, limit %g h)",
                    when.isoformat(), chosen.path, chosen.age_hours, policy.max_bandpass_age.to_value(u.hour))
    return chosen


def select_tables(
    db,
    time: Time | dt.datetime,
    *,
    required: Sequence[str] = ("B", "G"),
    policy: ValidityPolicy = ValidityPolicy(),
) -> CalibrationSelection:
    """Choose the tables to apply at ``time`` (K if the bandpass needs it, B, G).

    The gain table is chosen first (it ages fastest); the bandpass and delay it
    was solved against are used when still valid, otherwise the nearest valid
    ones, with a warning. Raises NoValidCalibration naming everything missing.
    """
    when = as_datetime(time)
    missing: dict[str, str] = {}
    chosen: dict[str, SelectedTable] = {}
    warnings: list[str] = []
    with db.session() as session:
        valid = {ct: _candidates(session, ct, when) for ct in APPLY_ORDER}
        by_id = {row.id: row for rows in valid.values() for row in rows}

        def pick(caltype: str, preferred_id: int | None, for_what: str) -> None:
            rows = valid[caltype]
            if preferred_id is not None and preferred_id in by_id:
                chosen[caltype] = SelectedTable.from_row(by_id[preferred_id], when, policy)
                return
            if caltype == "B" and preferred_id is not None and not rows:
                # Sky-model gains solved on a carried-forward bandpass bring it along.
                carried = _carried_bandpass(session, when, policy, preferred_id)
                if carried is not None:
                    table = chosen["B"] = SelectedTable.from_row(carried, when, policy, carried_forward=True)
                    warnings.append(
                        f"bandpass (B) table {table.path} carried forward: solved {table.age_hours:.1f} h from "
                        f"{when.isoformat()}, past its window (limit {policy.max_bandpass_age.to_value(u.hour):g} h)"
                        " -- no usable calibrator transit since")
                    return
            if preferred_id is not None:
                warnings.append(
                    f"{for_what} was solved against {CALTYPE_NAMES[caltype]} table id {preferred_id}, "
                    f"which is not valid at {when.isoformat()}; using the nearest valid one instead"
                )
            if rows:
                chosen[caltype] = SelectedTable.from_row(rows[0], when, policy)
            elif caltype in required or preferred_id is not None:
                missing[caltype] = _why_missing(session, caltype, when)

        if "G" in required or valid["G"]:
            pick("G", None, "")
        gain = chosen.get("G")
        pick("B", gain.parameters.get("bandpass_table_id") if gain else None, "the gain table")
        bandpass = chosen.get("B")
        delay_id = None
        for table in (bandpass, gain):
            if table is not None and table.parameters.get("delay_table_id") is not None:
                delay_id = table.parameters["delay_table_id"]
                break
        if delay_id is not None or "K" in required:
            pick("K", delay_id, "the bandpass table")
    if missing:
        raise NoValidCalibration(when, missing)
    for table in chosen.values():
        if table.aging and not table.carried_forward:
            warnings.append(
                f"{CALTYPE_NAMES[table.caltype]} table {table.path} is aging: solved "
                f"{_hours(table.offset):+.2f} h from {when.isoformat()}, valid to {table.valid_to.isoformat()}"
            )
    for message in warnings:
        log.warning(message)
    tables = [chosen[ct] for ct in APPLY_ORDER if ct in chosen]
    return CalibrationSelection(when, tables, warnings)


def record_application(db, ms_path: str | Path, table_ids: Iterable[int]) -> list[int]:
    """Record which tables were applied to an MS (replacing an earlier record)."""
    with db.session() as session:
        session.execute(delete(CalibrationApplication).where(CalibrationApplication.ms_path == str(ms_path)))
        rows = [CalibrationApplication(ms_path=str(ms_path), caltable_id=int(i)) for i in table_ids]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def applied_tables(db, ms_path: str | Path) -> list[CalibrationTable]:
    """The tables recorded as applied to an MS, in apply order."""
    with db.session() as session:
        query = (
            select(CalibrationTable)
            .join(CalibrationApplication, CalibrationApplication.caltable_id == CalibrationTable.id)
            .where(CalibrationApplication.ms_path == str(ms_path))
        )
        rows = list(session.scalars(query))
    return sorted(rows, key=lambda r: APPLY_ORDER.index(r.caltype) if r.caltype in APPLY_ORDER else 99)


@dataclass(frozen=True)
class RetiredTable:
    """A table taken out of lookups, and the Measurement Sets it had calibrated."""

    id: int
    path: str
    caltype: str
    source_tile_id: str | None
    solved_for: dt.datetime
    reason: str
    applied_to: tuple[str, ...]  # MS paths whose recorded calibration used it


def retire_table(db, table_id: int, reason: str, *, status: str = "retired") -> RetiredTable:
    """Take a table out of lookups for good (bad QA, an operator's decision).

    The row stays (with the reason and when), so what was applied remains
    traceable. The current images of the tiles it calibrated are marked
    invalid (mosaics leave them out) and the MSs are returned;
    ``calibration_sensor`` re-runs their calibration with the next valid
    tables (or leaves them "awaiting calibration"), and a new image is valid
    again. Retiring an already retired table changes nothing.
    """
    if not reason or not reason.strip():
        raise ValueError("retiring a calibration table needs a reason")
    with db.session() as session:
        row = session.get(CalibrationTable, table_id)
        if row is None:
            raise KeyError(f"no calibration table with id {table_id}")
        if row.status == "valid":
            row.status = status
            row.qa = dict(row.qa or {}, retired={"reason": reason.strip(),
                                                 "at": dt.datetime.now(dt.UTC).isoformat()})
        applied = session.scalars(
            select(CalibrationApplication.ms_path).where(CalibrationApplication.caltable_id == table_id)
        ).all()
        tiles = select(MeasurementSet.tile_id).where(MeasurementSet.path.in_(applied))
        session.execute(update(Image).where(Image.tile_id.in_(tiles)).values(is_valid=False))
        retired = (row.qa or {}).get("retired", {}).get("reason") or (row.qa or {}).get("rejected_reason", "")
        return RetiredTable(row.id, row.path, row.caltype, row.source_tile_id, row.solved_for, retired,
                            tuple(sorted(set(applied))))


def reject_table(db, table_id: int, reason: str) -> RetiredTable:
    """Take a table out of lookups because it failed QA (``retire_table`` with status "rejected")."""
    return retire_table(db, table_id, reason, status="rejected")


def calibrated_with_unusable_tables(db) -> dict[str, list[int]]:
    """MS path -> ids of the retired/rejected tables its recorded calibration used."""
    with db.session() as session:
        rows = session.execute(
            select(CalibrationApplication.ms_path, CalibrationTable.id)
            .join(CalibrationTable, CalibrationTable.id == CalibrationApplication.caltable_id)
            .where(CalibrationTable.status != "valid")
        ).all()
    out: dict[str, list[int]] = {}
    for ms_path, table_id in rows:
        out.setdefault(ms_path, []).append(table_id)
    return out
