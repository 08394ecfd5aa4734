"""Per-transit light curves: a source's tile measurements of one pass through the beam, combined.

A drift-scan array sees a source in ~4-5 consecutive tiles a day. Those
measurements are kept per tile (the products DB, for anyone who wants the
beam-position detail) and combined per transit for variability and ESE
search, whose timescales are days: the inverse-variance weighted mean of the
normalised tile fluxes, error 1/sqrt(sum w) (the tiles' errors, correction
errors included, are independent), and chi2_nu of the tiles about that mean
(a tile-level glitch shows there, not as a variable source).

A transit is a run of measurements with gaps under ``gap_days``; it is
labelled by the UTC day (integer MJD) of its weighted mean epoch. Two transits
landing on one day (once a year a source transits at 00:0x and 23:5x) are
combined: the light curve is per day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["aggregate_transits", "transit_matrix_table"]


def aggregate_transits(
    table: pd.DataFrame,
    flux_column: str = "norm_flux_jy",
    err_column: str = "norm_flux_err_jy",
    gap_days: float = 0.5,
) -> pd.DataFrame:
    """One row per (source_id, band, day_mjd): epoch_mjd, flux_jy, flux_err_jy, n_tiles, chi2_nu.

    Rows whose flux or error is not finite (un-normalised tiles) are left out.
    """
    for column in ("source_id", "epoch_mjd", flux_column, err_column):
        if column not in table.columns:
            raise ValueError(f"tile table lacks column {column!r}")
    band = table["band"] if "band" in table.columns else pd.Series("full", index=table.index)
    f = table[flux_column].to_numpy(float)
    e = table[err_column].to_numpy(float)
    ok = np.isfinite(f) & np.isfinite(e) & (e > 0)
    frame = pd.DataFrame({
        "source_id": table["source_id"].to_numpy()[ok], "band": band.to_numpy()[ok],
        "t": table["epoch_mjd"].to_numpy(float)[ok], "f": f[ok], "w": 1.0 / e[ok] ** 2,
    }).sort_values(["source_id", "band", "t"], kind="stable", ignore_index=True)
    if frame.empty:
        return pd.DataFrame(columns=["source_id", "band", "day_mjd", "epoch_mjd", "flux_jy", "flux_err_jy",
                                     "n_tiles", "chi2_nu"])
    same = (frame["source_id"].to_numpy()[1:] == frame["source_id"].to_numpy()[:-1]) & (
        frame["band"].to_numpy()[1:] == frame["band"].to_numpy()[:-1])
    gap = np.diff(frame["t"].to_numpy()) > gap_days
    transit = np.concatenate([[0], np.cumsum(~same | gap)])
    frame["wt"] = frame["w"] * frame["t"]
    frame["wf"] = frame["w"] * frame["f"]
    per_transit = frame.groupby(transit)[["w", "wt"]].transform("sum")
    frame["day_mjd"] = np.floor(per_transit["wt"] / per_transit["w"]).astype(int)
    frame["wff"] = frame["w"] * frame["f"] ** 2
    agg = frame.groupby(["source_id", "band", "day_mjd"], sort=True).agg(
        w=("w", "sum"), wt=("wt", "sum"), wf=("wf", "sum"), wff=("wff", "sum"), n_tiles=("f", "size")
    ).reset_index()
    mean = agg["wf"] / agg["w"]
    chi2 = (agg["wff"] - agg["w"] * mean**2).clip(lower=0) / (agg["n_tiles"] - 1).where(agg["n_tiles"] > 1)
    return pd.DataFrame({
        "source_id": agg["source_id"], "band": agg["band"], "day_mjd": agg["day_mjd"],
        "epoch_mjd": agg["wt"] / agg["w"], "flux_jy": mean, "flux_err_jy": 1.0 / np.sqrt(agg["w"]),
        "n_tiles": agg["n_tiles"], "chi2_nu": chi2,
    })


def transit_matrix_table(transits: pd.DataFrame) -> pd.DataFrame:
    """The transit table with epoch_mjd set to the day's midpoint, so sources share columns.

    For :func:`.lightcurves.to_matrix`: each source's transit falls at a
    different time of day; the ESE search works on a daily grid anyway.
    """
    out = transits[["source_id", "band", "flux_jy", "flux_err_jy"]].copy()
    out["epoch_mjd"] = transits["day_mjd"].to_numpy(float) + 0.5
    return out
