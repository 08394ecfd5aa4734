"""Flux calibrators DSA-110 uses at meridian transit, as a typed table.

The default list holds the well-known calibrators from the telescope facts
(1.4 GHz flux densities, J2000 positions). Spectral indices are approximate
literature values near 1.4 GHz (Perley & Butler 2017 slopes) and exist so a
model across 1.31-1.50 GHz is not flat; a product that needs better must read
an operator CSV with :func:`read_calibrator_csv`. 3C454.3 is variable: it has
no default flux, so any model built from it must be given a measured one.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from dsa110_resources.catalogs.sky import REFERENCE_FREQUENCY, SkyCatalog

__all__ = ["Calibrator", "DEFAULT_CALIBRATORS", "calibrator_catalog", "get_calibrator", "read_calibrator_csv"]


@dataclass(frozen=True)
class Calibrator:
    """A compact calibrator: position, 1.4 GHz flux (None if variable) and slope."""

    name: str
    coord: SkyCoord
    flux: u.Quantity | None
    spectral_index: float = -0.7
    variable: bool = False
    ref_freq: u.Quantity = REFERENCE_FREQUENCY

    def flux_at(self, freq: u.Quantity) -> u.Quantity:
        if self.flux is None:
            raise ValueError(f"{self.name} is variable and has no flux: supply a measured one")
        return self.flux * (freq / self.ref_freq).to_value(u.one) ** self.spectral_index


def _cal(name, ra, dec, flux, alpha, variable=False):
    return Calibrator(
        name=name,
        coord=SkyCoord(ra * u.deg, dec * u.deg, frame="icrs"),
        flux=None if flux is None else flux * u.Jy,
        spectral_index=alpha,
        variable=variable,
    )


#: Name -> calibrator. Positions and fluxes from shared/dsa110-facts.md.
DEFAULT_CALIBRATORS: dict[str, Calibrator] = {
    c.name: c
    for c in (
        _cal("0834+555", 128.7287, 55.5725, 8.8, -0.5),
        _cal("3C286", 202.7845, 30.5092, 14.9, -0.46),
        _cal("3C48", 24.4221, 33.1598, 16.0, -0.76),
        _cal("3C147", 85.6506, 49.8520, 22.5, -0.7),
        # J2254+1608; flat-spectrum blazar whose flux varies by factors of a few.
        _cal("3C454.3", 343.4907, 16.1482, None, -0.1, variable=True),
    )
}


def get_calibrator(name: str, table: dict[str, Calibrator] | None = None) -> Calibrator:
    """Look up a calibrator by name (case- and space-insensitive)."""
    table = DEFAULT_CALIBRATORS if table is None else table
    key = name.replace(" ", "").upper()
    for cname, cal in table.items():
        if cname.replace(" ", "").upper() == key:
            return cal
    raise KeyError(f"unknown calibrator {name!r}; known: {', '.join(table)}")


def calibrator_catalog(names=None, table: dict[str, Calibrator] | None = None) -> SkyCatalog:
    """Calibrators with a known flux as a :class:`SkyCatalog` (variables skipped
    unless named explicitly, in which case their missing flux is an error)."""
    table = DEFAULT_CALIBRATORS if table is None else table
    if names is None:
        cals = [c for c in table.values() if c.flux is not None]
    else:
        cals = [get_calibrator(n, table) for n in names]
        for c in cals:
            if c.flux is None:
                raise ValueError(f"{c.name} is variable and has no flux: supply a measured one")
    if not cals:
        return SkyCatalog.empty()
    return SkyCatalog(
        np.array([c.name for c in cals], object),
        np.array([c.coord.ra.deg for c in cals]),
        np.array([c.coord.dec.deg for c in cals]),
        np.array([c.flux_at(REFERENCE_FREQUENCY).to_value(u.Jy) for c in cals]),
        np.array([c.spectral_index for c in cals]),
    )


def read_calibrator_csv(path: str | Path) -> dict[str, Calibrator]:
    """Read an operator calibrator list: columns name, ra_deg, dec_deg, flux_jy
    (blank for variable sources), optional spectral_index, variable (true/false)."""
    out: dict[str, Calibrator] = {}
    with Path(path).open(newline="") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        for row in rows:
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            flux = float(row["flux_jy"]) if row.get("flux_jy") else None
            alpha = float(row["spectral_index"]) if row.get("spectral_index") else -0.7
            variable = row.get("variable", "").lower() in ("1", "true", "yes") or flux is None
            out[row["name"]] = _cal(row["name"], float(row["ra_deg"]), float(row["dec_deg"]), flux, alpha, variable)
    return out
