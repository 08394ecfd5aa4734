"""Flux calibrators DSA-110 uses at meridian transit, as a typed table.

The default list holds the well-known calibrators from the telescope facts
(J2000 positions). The four flux standards (3C286, 3C48, 3C147, 3C138) are
modelled from CASA's Perley-Butler 2017 spectra wherever a model is built
(:mod:`.flux_standards`); the power laws here are those spectra's value and
slope at 1.4 GHz (from the paper's coefficients; within 0.1% of the curved
spectrum over 1.31-1.50 GHz) and serve for ranking transits and for the
simulator. 0834+555 is a plain power law. 3C454.3 is variable: it has no
default flux, so any model built from it must be given a measured one.
Operator lists (the VLA calibrator list, a CSV) are read by
:mod:`.vla_calibrators`; :mod:`.sources` combines them with these.
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

    @property
    def standard(self) -> str | None:
        """Canonical name when a standard flux model exists for this source (else None)."""
        from dsa110_resources.catalogs.flux_standards import standard_name

        return standard_name(self.name)

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


#: Name -> calibrator. Positions from shared/dsa110-facts.md (3C138: the VLA
#: calibrator list); standards' 1.4 GHz flux and slope from Perley & Butler 2017.
DEFAULT_CALIBRATORS: dict[str, Calibrator] = {
    c.name: c
    for c in (
        _cal("0834+555", 128.7287, 55.5725, 8.8, -0.5),
        _cal("3C286", 202.7845, 30.5092, 15.08, -0.50),
        _cal("3C48", 24.4221, 33.1598, 16.26, -0.81),
        _cal("3C147", 85.6506, 49.8520, 22.17, -0.75),
        _cal("3C138", 80.2912, 16.6394, 8.56, -0.54),
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
