"""Crossmatch, isolation and compactness against hand-placed sources."""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from dsa110_resources.catalogs.crossmatch import (
    crossmatch,
    is_compact,
    is_isolated,
    nearest_neighbour_separation,
    reference_eligible,
)
from dsa110_resources.catalogs.sky import SkyCatalog


def _catalog():
    ra = np.array([150.0, 150.0 + 30 / 3600 / np.cos(np.radians(54.5)), 151.0, 152.0])
    dec = np.array([54.5, 54.5, 54.5, 55.0])
    return SkyCatalog(
        name=np.array(["A", "B", "C", "D"]),
        ra_deg=ra,
        dec_deg=dec,
        flux_jy=np.array([1.0, 0.5, 0.2, 0.1]),
        spectral_index=-0.7,
        major_arcsec=np.array([0.0, 5.0, 60.0, 0.0]),
    )


def test_crossmatch_within_radius_only():
    cat = _catalog()
    offsets = np.array([3.0, 8.0, 20.0]) * u.arcsec  # north offsets from A, C, D
    pos = SkyCoord(cat.ra_deg[[0, 2, 3]] * u.deg, cat.dec_deg[[0, 2, 3]] * u.deg + offsets)
    table = crossmatch(pos, cat, radius=10 * u.arcsec)
    assert list(table["index"]) == [0, 1]
    assert list(table["catalog_index"]) == [0, 2]
    np.testing.assert_allclose(table["separation_arcsec"], [3.0, 8.0], atol=1e-3)
    assert len(crossmatch(pos[:0], cat)) == 0


def test_isolation_and_compactness():
    cat = _catalog()
    sep = nearest_neighbour_separation(cat)
    assert sep[0].to_value(u.arcsec) == np.float64(sep[1].to_value(u.arcsec))
    assert abs(sep[0].to_value(u.arcsec) - 30) < 0.1
    assert list(is_isolated(cat, 60 * u.arcsec)) == [False, False, True, True]
    assert list(is_compact(cat, 20 * u.arcsec)) == [True, True, False, True]
    assert list(reference_eligible(cat, 20 * u.arcsec)) == [False, False, False, True]
    assert np.isinf(nearest_neighbour_separation(cat.coords[:1])[0])
