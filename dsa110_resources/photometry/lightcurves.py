"""Light-curve tables: one long table of measurements, and its (sources x epochs) view.

The long format is what the database and the Parquet export hold, one row per
(source, epoch, band)::

    source_id, epoch_mjd, band, flux_jy, flux_err_jy  [, norm_flux_jy, norm_flux_err_jy, ...]

Variability and ESE code wants dense arrays instead, so :func:`to_matrix`
pivots one band into (n_sources, n_epochs) arrays with NaN where a source was
not measured, and :func:`from_matrix` goes back. Parquet is the export (and,
until the products database has photometry tables, the CLI's input): a single
file or a directory of files (e.g. one per day) read as one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "REQUIRED_COLUMNS",
    "LightCurveMatrix",
    "to_matrix",
    "from_matrix",
    "write_parquet",
    "read_lightcurves",
    "source_light_curve",
]

REQUIRED_COLUMNS = ("source_id", "epoch_mjd", "flux_jy", "flux_err_jy")
DEFAULT_BAND = "full"


@dataclass
class LightCurveMatrix:
    """One band's light curves as dense arrays; NaN marks a missing measurement."""

    source_ids: np.ndarray  # (S,)
    epoch_mjd: np.ndarray  # (E,), ascending
    flux: np.ndarray  # (S, E) Jy
    err: np.ndarray  # (S, E) Jy
    band: str = DEFAULT_BAND

    @property
    def shape(self) -> tuple[int, int]:
        return self.flux.shape

    def select(self, rows) -> LightCurveMatrix:
        return LightCurveMatrix(self.source_ids[rows], self.epoch_mjd, self.flux[rows], self.err[rows], self.band)


def _check(table: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"light-curve table lacks columns {missing}")


def to_matrix(
    table: pd.DataFrame,
    band: str | None = None,
    flux_column: str = "flux_jy",
    err_column: str = "flux_err_jy",
) -> LightCurveMatrix:
    """Pivot one band of a long table into (sources x epochs) arrays.

    With ``band=None`` the table must hold a single band (or none). Repeated
    (source, epoch) rows are an error: silently averaging them would hide a
    pipeline bug (a tile photometered twice).
    """
    _check(table)
    if "band" in table.columns:
        bands = table["band"].unique()
        if band is None:
            if len(bands) > 1:
                raise ValueError(f"table holds bands {sorted(bands)}: choose one")
            band = str(bands[0]) if len(bands) else DEFAULT_BAND
        table = table[table["band"] == band]
    band = band or DEFAULT_BAND
    src_codes, source_ids = pd.factorize(table["source_id"], sort=True)
    ep_codes, epochs = pd.factorize(table["epoch_mjd"], sort=True)
    flat = src_codes.astype(np.int64) * len(epochs) + ep_codes
    if len(np.unique(flat)) != len(flat):
        raise ValueError("duplicate (source_id, epoch_mjd) rows in one band")
    flux = np.full((len(source_ids), len(epochs)), np.nan)
    err = np.full_like(flux, np.nan)
    flux[src_codes, ep_codes] = table[flux_column].to_numpy(float)
    err[src_codes, ep_codes] = table[err_column].to_numpy(float)
    return LightCurveMatrix(np.asarray(source_ids), np.asarray(epochs, float), flux, err, band)


def from_matrix(matrix: LightCurveMatrix, flux_column: str = "flux_jy", err_column: str = "flux_err_jy") -> pd.DataFrame:
    """Long table of the finite entries of ``matrix``."""
    s, e = np.nonzero(np.isfinite(matrix.flux))
    return pd.DataFrame(
        {
            "source_id": matrix.source_ids[s],
            "epoch_mjd": matrix.epoch_mjd[e],
            "band": matrix.band,
            flux_column: matrix.flux[s, e],
            err_column: matrix.err[s, e],
        }
    )


def write_parquet(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a long table to Parquet atomically (a reader never sees half a file)."""
    _check(table)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    table.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def read_lightcurves(path: str | Path) -> pd.DataFrame:
    """Read a Parquet file, or every ``*.parquet`` under a directory, as one long table."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith("."))
        if not files:
            raise FileNotFoundError(f"no .parquet files under {path}")
        table = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    else:
        table = pd.read_parquet(path)
    _check(table)
    if "band" not in table.columns:
        table["band"] = DEFAULT_BAND
    return table


def source_light_curve(table: pd.DataFrame, source_id) -> pd.DataFrame:
    """All rows of one source, sorted by band then epoch (matches ids as strings too)."""
    ids = table["source_id"]
    rows = table[ids.astype(str) == str(source_id)]
    return rows.sort_values(["band", "epoch_mjd"]).reset_index(drop=True)
