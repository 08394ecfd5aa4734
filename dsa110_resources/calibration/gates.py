"""QA gates on solved caltables, and the retirement of a table that fails them.

A table is judged on the figures :func:`.qa.solution_qa` stores with it:

* flagged solutions: more than ``max_flagged_fraction`` of the live
  antennas' solutions flagged (low SNR, no data);
* SNR: median solution SNR below ``min_median_snr`` (per table type);
* outliers: more than ``max_outlier_fraction`` of the live antennas (and
  more than one) are outliers (amplitude, phase noise or mostly flagged; see qa.py);
* phase scatter: the median antenna's phase noise above
  ``max_phase_scatter_deg`` (bandpass: channel to channel; gains: time to
  time, or 1/SNR for one interval).

Limits, and why: on the simulated calibrator tiles of the tests (24
antennas, 4 subbands, 3C147 / 3C138 / a 5 Jy list source at transit) good
bandpasses give median SNR 15-60, phase scatter 1-4 deg, no outliers and
< 1% flagged, and good gains SNR > 100. The full array has ~2x the SNR. The
limits sit well below that (SNR 5 for B, 10 for G; 10 deg bandpass phase
noise, i.e. SNR ~6 per channel) and well above what a corrupted bandpass
shows (tens of deg of phase noise on the bad antennas, most of the array
an outlier or flagged).

A failing table is retired (:func:`retire`): its registry row becomes
``rejected`` with the reasons, so no lookup returns it again, and the tables
solved on top of it (gains that pre-applied a retired bandpass or delay)
are retired with it. :func:`enforce` is the one place solves call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select

from dsa110_resources.db.models import CalibrationApplication, CalibrationTable

from . import registry

log = logging.getLogger(__name__)

__all__ = ["SolutionGates", "enforce", "judge", "retire", "tiles_calibrated_with"]


@dataclass(frozen=True)
class SolutionGates:
    """Limits a caltable's QA figures must meet (see the module docstring for why)."""

    max_flagged_fraction: float = 0.3
    min_median_snr: Mapping[str, float] = field(default_factory=lambda: {"B": 5.0, "G": 10.0, "K": 5.0})
    max_outlier_fraction: float = 0.1
    max_phase_scatter_deg: Mapping[str, float] = field(default_factory=lambda: {"B": 10.0, "G": 10.0})


def _kind(caltype: str | None, qa: Mapping) -> str:
    name = caltype or str(qa.get("caltype", "?"))
    return name.split()[0][:1].upper()


def judge(qa: Mapping | None, caltype: str | None = None, gates: SolutionGates = SolutionGates()) -> list[str]:
    """What is wrong with a table's QA figures (empty: it passes). No figures is a failure."""
    if not qa:
        return ["no QA figures recorded"]
    kind = _kind(caltype, qa)
    problems = []
    flagged = qa.get("flagged_fraction")
    if flagged is None or flagged > gates.max_flagged_fraction:
        problems.append(f"flagged solutions {flagged if flagged is None else f'{flagged:.1%}'} "
                        f"(limit {gates.max_flagged_fraction:.0%})")
    snr, min_snr = qa.get("median_snr"), gates.min_median_snr.get(kind)
    if min_snr is not None and (snr is None or snr < min_snr):
        problems.append(f"median SNR {snr if snr is None else f'{snr:.1f}'} (limit {min_snr:g})")
    n_ant = qa.get("n_antennas") or 0
    outliers = qa.get("outliers") or {}
    if n_ant and len(outliers) > max(1.0, gates.max_outlier_fraction * n_ant):
        problems.append(f"{len(outliers)} of {n_ant} antennas are outliers ({', '.join(sorted(outliers)[:8])}"
                        f"{', ...' if len(outliers) > 8 else ''}; limit {gates.max_outlier_fraction:.0%})")
    scatter, max_scatter = qa.get("phase_scatter_deg"), gates.max_phase_scatter_deg.get(kind)
    if max_scatter is not None and scatter is not None and scatter > max_scatter:
        problems.append(f"phase scatter {scatter:.1f} deg (limit {max_scatter:g} deg)")
    return problems


def _dependents(session, table_id: int) -> list[CalibrationTable]:
    """Valid tables solved with ``table_id`` pre-applied (gains on a bandpass, B/G on a delay)."""
    rows = session.scalars(select(CalibrationTable).where(CalibrationTable.status == "valid"))
    return [r for r in rows if table_id in ((r.parameters or {}).get("bandpass_table_id"),
                                            (r.parameters or {}).get("delay_table_id"))]


def retire(db, table_id: int, reason: str) -> list[int]:
    """Take a table, and every table solved on top of it, out of all lookups.

    Returns the ids retired. The rows stay, with ``status='rejected'`` and the
    reason in their QA; tiles already calibrated with them are found with
    :func:`tiles_calibrated_with`.
    """
    retired, todo = [], [(table_id, reason)]
    while todo:
        tid, why = todo.pop()
        if tid in retired:
            continue
        registry.reject_table(db, tid, why)
        retired.append(tid)
        with db.session() as session:
            todo += [(r.id, f"solved on retired table {tid}: {why}") for r in _dependents(session, tid)]
    log.warning("calibration tables %s retired: %s", retired, reason)
    return retired


def enforce(db, table_ids: Mapping[str, int] | Iterable[int],
            gates: SolutionGates = SolutionGates()) -> dict[int, list[str]]:
    """Judge registered tables by their stored QA; retire those that fail.

    Returns {table id: problems} for every table retired (directly or as a
    dependent), empty when all pass.
    """
    ids = list(table_ids.values()) if isinstance(table_ids, Mapping) else list(table_ids)
    failed: dict[int, list[str]] = {}
    for tid in ids:
        with db.session() as session:
            row = session.get(CalibrationTable, tid)
            if row is None or row.status != "valid":
                continue
            problems = judge(row.qa, row.caltype, gates)
        if problems:
            for retired in retire(db, tid, "failed QA gates: " + "; ".join(problems)):
                failed[retired] = problems if retired == tid else [f"solved on retired table {tid}"]
    return failed


def tiles_calibrated_with(db, table_ids: Iterable[int]) -> list[str]:
    """MS paths that had any of these tables applied (stale once they are retired)."""
    with db.session() as session:
        return sorted(set(session.scalars(select(CalibrationApplication.ms_path)
                                          .where(CalibrationApplication.caltable_id.in_(list(table_ids))))))
