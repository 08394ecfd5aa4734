"""The one place calibrators and the sky catalog come from, for the CLI and Dagster alike.

Calibrators are, in order of precedence for a name:

1. the flux standards and the built-in list (:data:`DEFAULT_CALIBRATORS`;
   3C286, 3C48, 3C147, 3C138 are modelled with CASA's Perley-Butler 2017
   spectra whatever list names them, under any of their aliases);
2. the operator's calibrator list (``DSA110_CALIBRATOR_LIST``): the NRAO VLA
   calibrator list or our CSV (:mod:`.vla_calibrators`);
3. compact sources of the sky catalog (``DSA110_SKY_CATALOG``, NVSS-style
   CSV/FITS) at least ``catalog_min_flux`` bright (default 1 Jy: per channel
   and antenna an SNR of ~18 on the full array, ~9 on a 24-antenna one), so
   every declination has transits every day even where the lists are sparse.
   Their catalog power law is their model.

A catalog source within ``DUPLICATE_RADIUS`` of a listed calibrator is the
same source and is not added twice. Files are read once per process and
re-read when they change.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from .calibrators import DEFAULT_CALIBRATORS, Calibrator
from .flux_standards import standard_name
from .sky import SkyCatalog, read_catalog

__all__ = ["CalibratorSources", "DUPLICATE_RADIUS"]

DUPLICATE_RADIUS = 30 * u.arcsec
#: NVSS deconvolved major axis below which a catalog source counts as compact
#: (the synthesized beam is ~60" x 18"; a resolved source is no point model).
COMPACT_MAJOR = 20 * u.arcsec


@functools.lru_cache(maxsize=8)
def _read_list(path: str, mtime: float) -> dict[str, Calibrator]:
    from .vla_calibrators import read_calibrator_list

    return read_calibrator_list(path)


@functools.lru_cache(maxsize=4)
def _read_sky(path: str, mtime: float) -> SkyCatalog:
    return read_catalog(path)


def _mtime(path: Path) -> float:
    if not path.is_file():
        raise FileNotFoundError(f"catalog file {path} does not exist")
    return path.stat().st_mtime


@dataclass(frozen=True)
class CalibratorSources:
    """Where calibrators and field sources come from (see the module docstring)."""

    calibrator_list: Path | None = None
    sky_catalog: Path | None = None
    catalog_min_flux: u.Quantity = 1.0 * u.Jy

    def __post_init__(self) -> None:
        for name in ("calibrator_list", "sky_catalog"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    @classmethod
    def from_env(cls, **overrides) -> CalibratorSources:
        """From ``DSA110_CALIBRATOR_LIST``, ``DSA110_SKY_CATALOG`` and
        ``DSA110_CATALOG_CALIBRATOR_MIN_JY``; ``overrides`` that are not None win."""
        values = dict(
            calibrator_list=os.environ.get("DSA110_CALIBRATOR_LIST") or None,
            sky_catalog=os.environ.get("DSA110_SKY_CATALOG") or None,
            catalog_min_flux=float(os.environ.get("DSA110_CATALOG_CALIBRATOR_MIN_JY", 1.0)) * u.Jy,
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def sky(self) -> SkyCatalog | None:
        """The sky catalog, or None when none is configured."""
        if self.sky_catalog is None:
            return None
        return _read_sky(str(self.sky_catalog), _mtime(self.sky_catalog))

    def calibrators(self) -> dict[str, Calibrator]:
        """Every calibrator, keyed by name (list aliases included)."""
        out = dict(DEFAULT_CALIBRATORS)
        if self.calibrator_list is not None:
            for key, cal in _read_list(str(self.calibrator_list), _mtime(self.calibrator_list)).items():
                canonical = standard_name(cal.name) or standard_name(key)
                if canonical is not None:  # a standard under another name: keep the standard's model
                    out.setdefault(key, DEFAULT_CALIBRATORS.get(canonical, cal))
                elif key not in out:
                    out[key] = cal
        sky = self.sky()
        if sky is not None and len(sky):
            out.update(self._catalog_calibrators(sky, out))
        return out

    def _catalog_calibrators(self, sky: SkyCatalog, listed: dict[str, Calibrator]) -> dict[str, Calibrator]:
        bright = sky.select((sky.flux_jy >= self.catalog_min_flux.to_value(u.Jy))
                            & (sky.major_arcsec < COMPACT_MAJOR.to_value(u.arcsec)))
        if len(bright) == 0:
            return {}
        known = {c.name: c for c in listed.values()}.values()
        coords = bright.coords
        if known:
            ref = SkyCoord([c.coord.ra.deg for c in known] * u.deg, [c.coord.dec.deg for c in known] * u.deg)
            _, sep, _ = coords.match_to_catalog_sky(ref)
            fresh = np.asarray(sep > DUPLICATE_RADIUS)
        else:
            fresh = np.ones(len(bright), bool)
        out = {}
        for i in np.flatnonzero(fresh):
            name = str(bright.name[i])
            out[name] = Calibrator(name=name, coord=coords[i], flux=float(bright.flux_jy[i]) * u.Jy,
                                   spectral_index=float(bright.spectral_index[i]), ref_freq=bright.ref_freq)
        return out
