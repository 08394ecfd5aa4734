"""Daily flux-scale normalisation against stable reference sources.

Each epoch's absolute flux scale wanders by several per cent (calibration,
ionosphere, primary-beam model), but it wanders *together* for every source in
the field. Dividing every measurement by a per-epoch correction, the robust
median of measured/baseline over 10-20 bright, compact, isolated and stable
reference sources, leaves a relative precision of ~1% (DSA-110 practice).

The fit is a robust rank-one factorisation, flux[s, e] ~ baseline[s] * c[e],
over the references: baselines are medians of corrected fluxes, corrections are
sigma-clipped medians of ratios, alternated a few times (the overall scale is
fixed by median(c) = 1 over the stability window). References whose corrected
light curves scatter much more than their peers are dropped (an ESE in a
reference would otherwise imprint itself on every source), and every drop is
logged and returned, so the choice of references is auditable.

Normalised errors fold in the correction's own uncertainty (standard error of a
median: 1.2533 * rms / sqrt(n_refs)), so the normalised light curves stay honest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ReferenceCriteria",
    "Normalisation",
    "reference_candidates",
    "epoch_corrections",
    "normalise",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReferenceCriteria:
    """What makes a reference source; defaults follow the DSA-110 practice.

    min_snr: median flux / error over the window ("bright").
    min_coverage: fraction of window epochs with a measurement.
    max_references: how many of the best stable candidates to keep (10-20).
    max_candidates: how many of the brightest to consider before stability cuts.
    scatter_factor: a reference is variable when its normalised fractional
        scatter exceeds this many times the median of its peers' ...
    min_scatter: ... and also exceeds this absolute level (so a set of
        very quiet references does not eject a merely quiet one).
    clip: sigma-clip level for the per-epoch median of ratios.
    min_references_per_epoch: fewer usable references leave the epoch un-normalised (NaN).
    window_epochs: judge brightness and stability over only the last N epochs
        ("stable over the recent past"); None = all epochs.
    """

    min_snr: float = 50.0
    min_coverage: float = 0.8
    max_references: int = 20
    max_candidates: int = 40
    scatter_factor: float = 3.0
    min_scatter: float = 0.01
    clip: float = 3.0
    min_references_per_epoch: int = 3
    window_epochs: int | None = 30


@dataclass
class Normalisation:
    """The per-epoch corrections and the normalised light curves they give."""

    correction: np.ndarray  # (E,) measured/true flux scale
    correction_err: np.ndarray  # (E,)
    n_references: np.ndarray  # (E,) references used per epoch
    reference_rows: np.ndarray  # row indices into the input arrays
    flux: np.ndarray  # (S, E) normalised
    err: np.ndarray  # (S, E) normalised, correction error folded in
    dropped: list[dict] = field(default_factory=list)  # {"row", "reason", "scatter"}


def _window(n_epochs: int, window: int | None) -> slice:
    return slice(0, n_epochs) if not window or window >= n_epochs else slice(n_epochs - window, n_epochs)


def reference_candidates(
    flux: np.ndarray,
    err: np.ndarray,
    eligible: np.ndarray | None = None,
    criteria: ReferenceCriteria = ReferenceCriteria(),
) -> np.ndarray:
    """Rows of bright, well-covered sources, brightest (by S/N) first.

    ``eligible`` (bool per source) carries what photometry alone cannot judge:
    compact (catalog size below the beam) and isolated (no neighbour within a
    few beams; see :func:`dsa110_resources.catalogs.crossmatch.isolation`).
    """
    w = _window(flux.shape[1], criteria.window_epochs)
    f, e = flux[:, w], err[:, w]
    ok = np.isfinite(f) & np.isfinite(e) & (e > 0)
    with np.errstate(all="ignore"):
        snr = np.nanmedian(np.where(ok, f / e, np.nan), axis=1)
    coverage = ok.mean(axis=1)
    good = (np.nan_to_num(snr) >= criteria.min_snr) & (coverage >= criteria.min_coverage)
    if eligible is not None:
        good &= np.asarray(eligible, bool)
    rows = np.flatnonzero(good)
    order = np.argsort(-snr[rows], kind="stable")
    return rows[order][: criteria.max_candidates]


def _clipped_median(ratios: np.ndarray, clip: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise sigma-clipped median, its standard error, and the number kept."""
    values = ratios
    for _ in range(3):
        med = np.nanmedian(values, axis=0)
        rms = 1.4826 * np.nanmedian(np.abs(values - med), axis=0)
        rms = np.maximum(rms, 1e-12)
        values = np.where(np.abs(ratios - med) <= clip * rms, ratios, np.nan)
    med = np.nanmedian(values, axis=0)
    n = np.sum(np.isfinite(values), axis=0)
    with np.errstate(all="ignore"):
        std = np.nanstd(values, axis=0, ddof=1)
        sem = 1.2533 * std / np.sqrt(n)
    return med, sem, n


def epoch_corrections(
    flux_refs: np.ndarray, criteria: ReferenceCriteria = ReferenceCriteria(), iterations: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rank-one robust fit of reference fluxes: returns (correction, correction_err, n_used, baseline)."""
    n_ref, n_ep = flux_refs.shape
    w = _window(n_ep, criteria.window_epochs)
    correction = np.ones(n_ep)
    with np.errstate(all="ignore"):
        for _ in range(iterations):
            baseline = np.nanmedian(flux_refs[:, w] / correction[w], axis=1)
            correction, corr_err, n_used = _clipped_median(flux_refs / baseline[:, None], criteria.clip)
            correction = correction / np.nanmedian(correction[w])
    baseline = np.nanmedian(flux_refs[:, w] / correction[w], axis=1)
    correction, corr_err, n_used = _clipped_median(flux_refs / baseline[:, None], criteria.clip)
    few = n_used < criteria.min_references_per_epoch
    correction[few] = np.nan
    corr_err[few] = np.nan
    return correction, corr_err, n_used, baseline


def normalise(
    flux: np.ndarray,
    err: np.ndarray,
    eligible: np.ndarray | None = None,
    criteria: ReferenceCriteria = ReferenceCriteria(),
    source_ids=None,
) -> Normalisation:
    """Choose references, drop variable ones, and normalise every source.

    ``source_ids`` only make the log messages readable.
    """
    flux = np.asarray(flux, float)
    err = np.asarray(err, float)
    ids = np.arange(len(flux)) if source_ids is None else np.asarray(source_ids)
    refs = reference_candidates(flux, err, eligible, criteria)
    if len(refs) < criteria.min_references_per_epoch:
        raise ValueError(
            f"only {len(refs)} reference candidates (need {criteria.min_references_per_epoch}):"
            " lower ReferenceCriteria.min_snr or supply more catalog sources"
        )
    w = _window(flux.shape[1], criteria.window_epochs)
    dropped: list[dict] = []
    while True:
        correction, corr_err, n_used, baseline = epoch_corrections(flux[refs], criteria)
        with np.errstate(all="ignore"):
            residual = flux[refs][:, w] / correction[w] / baseline[:, None] - 1
            scatter = np.nanstd(residual, axis=1, ddof=1)
        limit = max(criteria.scatter_factor * np.nanmedian(scatter), criteria.min_scatter)
        bad = ~(scatter <= limit)
        if not bad.any() or len(refs) - bad.sum() < criteria.min_references_per_epoch:
            break
        for row, s in zip(refs[bad], scatter[bad], strict=True):
            reason = f"variable: normalised scatter {s:.4f} > {limit:.4f}"
            log.warning("reference %s dropped (%s)", ids[row], reason)
            dropped.append({"row": int(row), "source_id": ids[row], "reason": reason, "scatter": float(s)})
        refs = refs[~bad]
    # Keep the quietest max_references (ties broken by brightness order).
    if len(refs) > criteria.max_references:
        keep = np.sort(np.argsort(scatter, kind="stable")[: criteria.max_references])
        refs = refs[keep]
        correction, corr_err, n_used, baseline = epoch_corrections(flux[refs], criteria)
    log.info("normalisation: %d references, median correction error %.4f", len(refs), np.nanmedian(corr_err))

    with np.errstate(all="ignore"):
        norm_flux = flux / correction
        norm_err = np.sqrt((err / correction) ** 2 + (norm_flux * corr_err / correction) ** 2)
    return Normalisation(correction, corr_err, n_used, refs, norm_flux, norm_err, dropped)
