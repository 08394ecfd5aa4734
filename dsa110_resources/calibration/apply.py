"""Apply calibration to a tile: choose tables by validity window, applycal, record.

``calibrate_tile`` is the pipeline's step: look up the tables valid at the
tile's mid-time in the registry (nearest in either direction; a warning when
aging, a refusal naming what is missing when none covers the time), apply
them in a CASA child process (``applycal``, calwt, flags from flagged
solutions), and record in ``calibration_applications`` which tables the MS
got. ``apply_calibration`` applies an explicit list and is what a notebook
or the ``dsa110 apply --table`` override uses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dsa110_resources.casa import run_casa
from dsa110_resources.child_steps import step_limit
from dsa110_resources.tileinfo import TileInfo

from . import registry

log = logging.getLogger(__name__)

__all__ = ["ApplyResult", "apply_calibration", "calibrate_tile", "interp_for"]

STEPS = "dsa110_resources.calibration.casa_steps"


@dataclass
class ApplyResult:
    ms: str
    tables: list[str]
    table_ids: list[int]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def caltype_of(path: str | Path) -> str:
    """K, B or G from a caltable's VisCal keyword."""
    from casacore.tables import table

    with table(str(path), ack=False) as t:
        viscal = t.getkeyword("VisCal")
    return viscal.split()[0][0].upper()


def interp_for(caltype: str) -> str:
    """Interpolation per table type: one solution per tile -> nearest in time.

    Tables solved on another tile have solutions outside the MS's time
    range; 'nearest' takes them as they are, where 'linear' would extrapolate
    a slope that a single-interval table does not have.
    """
    return {"K": "nearest", "B": "nearest,linear", "G": "nearest"}.get(caltype, "nearest")


def apply_calibration(ms: str | Path, tables: Sequence[str | Path | registry.SelectedTable], *,
                      workdir: str | Path, db=None, calwt: bool = True, timeout: float | None = None) -> ApplyResult:
    """applycal ``tables`` (in K, B, G order) to ``ms``; record them when ``db`` is given.

    Registry rows are recorded for SelectedTables, or for paths the registry
    knows; an unregistered path is applied but cannot be recorded, and that
    is an error when a database is given (an unregistered table is untraceable).
    """
    t0 = time.perf_counter()
    paths, types, ids = [], [], []
    for table in tables:
        if isinstance(table, registry.SelectedTable):
            paths.append(table.path)
            types.append(table.caltype)
            ids.append(table.id)
        else:
            paths.append(str(table))
            types.append(caltype_of(table))
    order = sorted(range(len(paths)), key=lambda i: registry.APPLY_ORDER.index(types[i]))
    paths, types = [paths[i] for i in order], [types[i] for i in order]
    if not paths:
        raise ValueError("no calibration tables to apply")
    if db is not None and len(ids) != len(paths):
        ids = _ids_for_paths(db, paths)
    run_casa(f"{STEPS}:applycal", str(ms), paths, [interp_for(t) for t in types], calwt,
             workdir=Path(workdir), timeout=step_limit(timeout, ms))
    if db is not None:
        registry.record_application(db, ms, ids)
    return ApplyResult(str(ms), paths, ids, seconds=time.perf_counter() - t0)


def _ids_for_paths(db, paths: Sequence[str]) -> list[int]:
    from sqlalchemy import select

    from dsa110_resources.db.models import CalibrationTable

    with db.session() as session:
        rows = {r.path: r.id for r in session.scalars(select(CalibrationTable).where(CalibrationTable.path.in_(paths)))}
    missing = [p for p in paths if p not in rows]
    if missing:
        raise LookupError(f"tables not in the calibration registry (register them first): {missing}")
    return [rows[p] for p in paths]


def calibrate_tile(ms: str | Path, db, *, workdir: str | Path, policy: registry.ValidityPolicy = registry.ValidityPolicy(),
                   required: Sequence[str] = ("B", "G"), calwt: bool = True, timeout: float | None = None) -> ApplyResult:
    """Select the valid tables for the tile's mid-time, apply them, record them.

    Raises :class:`registry.NoValidCalibration` (naming each missing table
    type and the nearest candidate) before touching the MS.
    """
    obs = TileInfo.read(ms)
    selection = registry.select_tables(db, obs.mid_time, required=required, policy=policy)
    result = apply_calibration(ms, selection.tables, workdir=workdir, db=db, calwt=calwt, timeout=timeout)
    result.warnings = selection.warnings
    return result
