"""Light-curve PNGs for scientists and for ESE candidates in the UI.

Headless (Agg backend); one figure per call, closed after writing so a daily
run making hundreds of candidate plots does not accumulate memory.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from dsa110_resources.photometry.ese import ese_template  # noqa: E402

__all__ = ["plot_light_curve"]


def plot_light_curve(
    rows: pd.DataFrame,
    path: str | Path,
    *,
    title: str | None = None,
    candidate: pd.Series | dict | None = None,
    normalised: bool | None = None,
    tiles: pd.DataFrame | None = None,
) -> Path:
    """Plot one source's light curve (all bands) to a PNG and return its path.

    rows: the source's long-table rows (source_id, epoch_mjd, band, flux_jy,
    flux_err_jy, optionally norm_flux_jy/norm_flux_err_jy). normalised=None
    plots normalised fluxes when present. candidate: an ESE match (t0_mjd,
    duration_days, depth): the dip window is shaded and the template drawn.
    tiles: the per-tile measurements behind per-transit rows (norm_flux_jy,
    norm_flux_err_jy), drawn faintly underneath; rows are then taken as
    normalised transit fluxes.
    """
    if tiles is not None:
        normalised = False
    if normalised is None:
        normalised = "norm_flux_jy" in rows.columns and rows["norm_flux_jy"].notna().any()
    fcol, ecol = ("norm_flux_jy", "norm_flux_err_jy") if normalised else ("flux_jy", "flux_err_jy")
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    if tiles is not None and len(tiles):
        ok = tiles["norm_flux_jy"].notna()
        ax.errorbar(tiles["epoch_mjd"][ok], tiles["norm_flux_jy"][ok] * 1e3, yerr=tiles["norm_flux_err_jy"][ok] * 1e3,
                    fmt=".", ms=2, color="0.6", alpha=0.6, capsize=0, label="tiles")
    bands = rows["band"].unique() if "band" in rows.columns else [None]
    for band in bands:
        sel = rows if band is None else rows[rows["band"] == band]
        sel = sel.sort_values("epoch_mjd")
        ax.errorbar(
            sel["epoch_mjd"], sel[fcol] * 1e3, yerr=sel[ecol] * 1e3, fmt="o", ms=3, capsize=0, label=band or "flux"
        )
    if candidate is not None:
        t0, dur, depth = (float(candidate[k]) for k in ("t0_mjd", "duration_days", "depth"))
        ax.axvspan(t0 - dur / 2, t0 + dur / 2, color="tab:red", alpha=0.1, label="ESE window")
        main = rows[rows["band"] == bands[0]] if "band" in rows.columns else rows
        level = np.nanmedian(main[fcol])
        t = np.linspace(t0 - dur, t0 + dur, 400)
        ax.plot(t, 1e3 * level * (1 + depth * ese_template((t - t0) / dur)), "r-", lw=1, label="ESE template")
    ax.set_xlabel("MJD")
    ax.set_ylabel(("normalised " if normalised or tiles is not None else "") + "flux density (mJy)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
