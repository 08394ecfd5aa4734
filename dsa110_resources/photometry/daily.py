"""The daily chain on a long light-curve table: normalise, variability, ESE search.

:func:`analyse_drift_scan` is what the daily Dagster assets and the CLI call
on the array's per-tile forced photometry: per-tile normalisation
(:mod:`.tile_normalisation`), per-transit light curves (:mod:`.transits`),
then variability metrics and the ESE search on those. :func:`analyse_light_curves`
is the older chain for tables with one measurement per source per epoch
(one flux scale per epoch for the whole sky, e.g. daily mosaics).
Plain pandas in, plain pandas out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsa110_resources.photometry.ese import DEFAULT_SNR_THRESHOLD, ese_candidates, measure_dip, search_ese
from dsa110_resources.photometry.lightcurves import LightCurveMatrix, to_matrix
from dsa110_resources.photometry.normalisation import Normalisation, ReferenceCriteria, normalise
from dsa110_resources.photometry.tile_normalisation import TileCriteria, TileNormalisation, normalise_tiles
from dsa110_resources.photometry.transits import aggregate_transits, transit_matrix_table
from dsa110_resources.photometry.variability import DEFAULT_FRACTIONAL_FLOOR, variability_metrics

__all__ = [
    "HISTORY_DAYS",
    "TILE_WINDOW_DAYS",
    "DailyProducts",
    "DriftScanProducts",
    "analyse_drift_scan",
    "analyse_light_curves",
    "normalised_table",
]

#: Days of light curve a daily run searches: the longest ESE template (56 d) with flanks
#: of its own length each side.
HISTORY_DAYS = 120
#: Days of tile photometry a daily run normalises afresh (the references' judging window);
#: older days enter the search as the transit fluxes their own runs stored.
TILE_WINDOW_DAYS = int(TileCriteria().window_days)


@dataclass
class DailyProducts:
    band: str
    matrix: LightCurveMatrix  # raw fluxes of the analysed band
    normalisation: Normalisation
    variability: pd.DataFrame  # per source
    ese_search: pd.DataFrame  # per source, best match
    candidates: pd.DataFrame  # ranked, passing the threshold


def normalised_table(matrix: LightCurveMatrix, norm: Normalisation) -> pd.DataFrame:
    """Long table with raw and normalised fluxes and the epoch correction."""
    s, e = np.nonzero(np.isfinite(matrix.flux))
    return pd.DataFrame(
        {
            "source_id": matrix.source_ids[s],
            "epoch_mjd": matrix.epoch_mjd[e],
            "band": matrix.band,
            "flux_jy": matrix.flux[s, e],
            "flux_err_jy": matrix.err[s, e],
            "norm_flux_jy": norm.flux[s, e],
            "norm_flux_err_jy": norm.err[s, e],
            "correction": norm.correction[e],
            "correction_err": norm.correction_err[e],
        }
    )


def analyse_light_curves(
    table: pd.DataFrame,
    band: str | None = None,
    *,
    eligible_references: pd.Series | None = None,
    criteria: ReferenceCriteria = ReferenceCriteria(),
    fractional_floor: float = DEFAULT_FRACTIONAL_FLOOR,
    threshold: float = DEFAULT_SNR_THRESHOLD,
    bands_for_chromaticity: bool = True,
) -> DailyProducts:
    """Normalise one band, compute variability metrics and search for ESEs.

    eligible_references: bool Series indexed by source_id (compact & isolated,
    from the catalog); sources absent from it are not eligible.
    When the table holds other bands, each candidate also gets the dip depth
    measured per band at the detected (t0, duration): columns depth_<band>.
    """
    if band is None and "band" in table.columns and table["band"].nunique() > 1:
        band = "full" if "full" in set(table["band"]) else sorted(table["band"].unique())[0]
    matrix = to_matrix(table, band=band)
    eligible = None
    if eligible_references is not None:
        eligible = eligible_references.reindex(matrix.source_ids).fillna(False).to_numpy(bool)
    norm = normalise(matrix.flux, matrix.err, eligible, criteria, source_ids=matrix.source_ids)
    variability = variability_metrics(norm.flux, norm.err, matrix.source_ids, fractional_floor=fractional_floor)
    search = search_ese(norm.flux, norm.err, matrix.epoch_mjd, matrix.source_ids, fractional_floor=fractional_floor)
    candidates = ese_candidates(search, threshold)
    if bands_for_chromaticity:
        # the same per-epoch corrections apply to every band of an epoch
        corr = pd.Series(norm.correction, index=matrix.epoch_mjd)
        _band_depths(candidates, table, matrix.band, lambda sub: corr.reindex(sub.epoch_mjd).to_numpy())
    return DailyProducts(matrix.band, matrix, norm, variability, search, candidates)


def _band_depths(candidates: pd.DataFrame, table: pd.DataFrame, main_band: str, correction=None) -> None:
    """Add depth_<band> per candidate: the dip fitted at the detected (t0, T) in each other band.

    An ESE is deeper at lower frequency (~lambda^2); a flux-scale glitch is the same in every band.
    ``correction(sub)`` gives per-epoch divisors for a band's matrix (None: already normalised).
    """
    other_bands = sorted(set(table.get("band", pd.Series(dtype=str)).unique()) - {main_band})
    if not len(candidates):
        return
    for other in other_bands:
        sub = to_matrix(table, band=other)
        corr = np.ones(len(sub.epoch_mjd)) if correction is None else correction(sub)
        rows = pd.Series(np.arange(len(sub.source_ids)), index=sub.source_ids)
        depths = []
        for sid, cand in candidates.iterrows():
            if sid not in rows.index:
                depths.append(np.nan)
                continue
            i = rows[sid]
            depth, _ = measure_dip(
                sub.epoch_mjd, sub.flux[i] / corr, sub.err[i] / corr, cand["t0_mjd"], cand["duration_days"]
            )
            depths.append(depth)
        candidates[f"depth_{other}"] = depths


@dataclass
class DriftScanProducts:
    band: str  # the band searched
    normalisation: TileNormalisation  # per-tile corrections, references, normalised tile rows
    transits: pd.DataFrame  # per (source, band, day): flux_jy, flux_err_jy, n_tiles, chi2_nu, epoch_mjd
    matrix: LightCurveMatrix  # the searched band's transit light curves (epochs = day midpoints)
    variability: pd.DataFrame
    ese_search: pd.DataFrame
    candidates: pd.DataFrame


def analyse_drift_scan(
    measurements: pd.DataFrame,
    eligible_references: pd.Series | None = None,
    band: str | None = None,
    *,
    criteria: TileCriteria = TileCriteria(),
    fractional_floor: float = DEFAULT_FRACTIONAL_FLOOR,
    threshold: float = DEFAULT_SNR_THRESHOLD,
    earlier_transits: pd.DataFrame | None = None,
) -> DriftScanProducts:
    """Per-tile normalisation, per-transit light curves, variability and ESE search.

    measurements: per-tile forced photometry (see
    :func:`.tile_normalisation.normalise_tiles`); eligible_references: bool
    Series by source_id from the catalog (:func:`.references.eligible_references`).
    The search runs on ``band`` (default "full", else the first); every other
    band (sub-bands) is normalised on its own and gives depth_<band> per candidate.
    earlier_transits: stored per-transit fluxes (as :func:`.transits.aggregate_transits`
    gives them) of days before the measurements, prepended to the light curves,
    so a daily run normalises only its window of tiles yet searches a longer history.
    """
    norm = normalise_tiles(measurements, eligible_references, criteria)
    fresh = aggregate_transits(norm.table)
    if fresh.empty:
        raise ValueError("no normalised measurement: no tile had enough references")
    transits = fresh
    if earlier_transits is not None and len(earlier_transits):
        older = earlier_transits[earlier_transits["day_mjd"] < fresh["day_mjd"].min()]
        transits = pd.concat([older[list(fresh.columns)], fresh], ignore_index=True)
    bands = set(transits["band"])
    if band is None:
        band = "full" if "full" in bands else sorted(bands)[0]
    elif band not in bands:
        raise ValueError(f"band {band!r} not in the measurements (have {sorted(bands)})")
    by_day = transit_matrix_table(transits)
    matrix = to_matrix(by_day, band=band)
    variability = variability_metrics(matrix.flux, matrix.err, matrix.source_ids, fractional_floor=fractional_floor)
    search = search_ese(matrix.flux, matrix.err, matrix.epoch_mjd, matrix.source_ids,
                        fractional_floor=fractional_floor)
    candidates = ese_candidates(search, threshold)
    _band_depths(candidates, by_day, band)
    return DriftScanProducts(band, norm, transits, matrix, variability, search, candidates)
