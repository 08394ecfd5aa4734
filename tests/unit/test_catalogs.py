"""Sky catalogs (CSV/FITS, aliases) and the calibrator table."""

import astropy.units as u
import numpy as np
import pytest
from astropy.table import Table

from dsa110_resources.catalogs import (
    DEFAULT_CALIBRATORS,
    SkyCatalog,
    calibrator_catalog,
    get_calibrator,
    read_calibrator_csv,
    read_catalog,
)


def test_csv_roundtrip(tmp_path):
    cat = SkyCatalog(["a", "b"], [10.0, 359.5], [54.0, -3.0], [0.01, 2.0], [-0.7, -0.2], [45.0, 0.0])
    path = cat.write_csv(tmp_path / "sky.csv")
    back = read_catalog(path)
    assert list(back.name) == ["a", "b"]
    assert np.allclose(back.ra_deg, cat.ra_deg) and np.allclose(back.flux_jy, cat.flux_jy)
    assert np.allclose(back.major_arcsec, [45.0, 0.0])
    assert u.isclose(back.ref_freq, 1.4 * u.GHz)
    s = back.flux_at(np.array([1.4e9, 2.8e9]) * u.Hz)
    assert np.allclose(s[1].to_value(u.Jy), [2.0, 2.0 * 2**-0.2])


def test_alias_columns_mjy_and_no_flux_is_error(tmp_path):
    p = tmp_path / "nvss.csv"
    p.write_text("RA,DEC,S1.4\n10.0,50.0,25.0\n")
    cat = read_catalog(p)
    assert np.allclose(cat.flux_jy, 0.025) and np.allclose(cat.spectral_index, -0.7)
    bad = tmp_path / "noflux.csv"
    bad.write_text("RA,DEC\n10.0,50.0\n")
    with pytest.raises(ValueError, match="flux"):
        read_catalog(bad)


def test_fits_reader(tmp_path):
    t = Table({"RA": [10.0] * u.deg, "DEC": [50.0] * u.deg, "S1.4": [30.0] * u.mJy, "MAJOR AX": [40.0] * u.arcsec})
    t.write(tmp_path / "c.fits")
    cat = read_catalog(tmp_path / "c.fits")
    assert np.allclose(cat.flux_jy, 0.030) and np.allclose(cat.major_arcsec, 40.0)


def test_calibrators():
    c = get_calibrator("3c286")
    assert c.coord.ra.deg == pytest.approx(202.7845) and c.flux.to_value(u.Jy) == pytest.approx(15.08)
    cat = calibrator_catalog()
    assert "3C454.3" not in cat.name  # variable: no default flux
    assert set(cat.name) == {n for n, c in DEFAULT_CALIBRATORS.items() if c.flux is not None}
    with pytest.raises(ValueError):
        calibrator_catalog(["3C454.3"])


def test_calibrator_csv(tmp_path):
    p = tmp_path / "cals.csv"
    p.write_text("name,ra_deg,dec_deg,flux_jy\nJ1,10,20,3.5\nJ2,11,21,\n")
    table = read_calibrator_csv(p)
    assert table["J1"].flux.to_value(u.Jy) == 3.5 and table["J2"].variable
