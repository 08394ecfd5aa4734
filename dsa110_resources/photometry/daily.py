"""The daily chain on a long light-curve table: normalise, variability, ESE search.

This is what the daily Dagster assets (and the CLI, until the products
database holds photometry) call: plain pandas in, plain pandas out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsa110_resources.photometry.ese import DEFAULT_SNR_THRESHOLD, ese_candidates, measure_dip, search_ese
from dsa110_resources.photometry.lightcurves import LightCurveMatrix, to_matrix
from dsa110_resources.photometry.normalisation import Normalisation, ReferenceCriteria, normalise
from dsa110_resources.photometry.variability import DEFAULT_FRACTIONAL_FLOOR, variability_metrics

__all__ = ["DailyProducts", "analyse_light_curves", "normalised_table"]


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
    other_bands = sorted(set(table.get("band", pd.Series(dtype=str)).unique()) - {matrix.band})
    if bands_for_chromaticity and other_bands and len(candidates):
        for other in other_bands:
            sub = to_matrix(table, band=other)
            # the same per-epoch corrections apply to every band of an epoch
            corr = pd.Series(norm.correction, index=matrix.epoch_mjd).reindex(sub.epoch_mjd).to_numpy()
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
    return DailyProducts(matrix.band, matrix, norm, variability, search, candidates)
