"""The master catalog from small synthetic NVSS (FITS), VLASS (CSV) and FIRST (TSV) files.

Each NVSS source is placed to test one flag; the expected flags are written
down per source from how it was made, not computed by the code under test.
"""

from __future__ import annotations

import hashlib

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from click.testing import CliRunner
from sqlalchemy import text

from dsa110_resources.catalogs.master import (
    CatalogInput,
    MasterOptions,
    build_master_catalog,
    load_master_catalog,
    master_sky_catalog,
    store_master_catalog,
)
from dsa110_resources.db import ProductsDB

ALPHA_A = -0.8
RATIO = 3.0 / 1.4


def _at(ra, dec, dra_arcsec=0.0, ddec_arcsec=0.0):
    c = SkyCoord(ra * u.deg, dec * u.deg).spherical_offsets_by(dra_arcsec * u.arcsec, ddec_arcsec * u.arcsec)
    return c.ra.deg, c.dec.deg


# name: (ra, dec, flux mJy, NVSS major arcsec); sources 2 deg apart except D/E (60") and the faint neighbour of I.
NVSS = {
    "A": (10.0, 30.0, 100.0, 5.0),    # compact, isolated, steep: a reference
    "B": (12.0, 30.0, 80.0, 10.0),    # FIRST splits it in two: resolved
    "C": (14.0, 30.0, 60.0, 8.0),     # flat spectrum (alpha +0.1): compact but no reference
    "D": (16.0, 30.0, 50.0, 5.0),     # D and E 60" apart: confused, not isolated
    "F": (18.0, 30.0, 5.0, 5.0),      # compact, isolated, too faint for a reference
    "G": (20.0, 30.0, 90.0, 60.0),    # NVSS major 60": resolved
    "H": (22.0, 30.0, 70.0, np.nan),  # no size anywhere: neither compact nor resolved
    "I": (24.0, 30.0, 200.0, 5.0),    # a 4 mJy neighbour at 180": not confused (2%), not isolated
}
EXPECTED = {  # compact, resolved, isolated, confused, reference
    "A": (True, False, True, False, True),
    "B": (False, True, True, False, False),
    "C": (True, False, True, False, False),
    "D": (True, False, False, True, False),
    "E": (True, False, False, True, False),
    "F": (True, False, True, False, False),
    "G": (False, True, True, False, False),
    "H": (False, False, True, False, False),
    "I": (True, False, False, False, False),
}


@pytest.fixture
def catalogs(tmp_path):
    rows = [dict(name=k, ra=v[0], dec=v[1], flux=v[2], major=v[3]) for k, v in NVSS.items()]
    e_ra, e_dec = _at(16.0, 30.0, 60.0, 0.0)
    rows.append(dict(name="E", ra=e_ra, dec=e_dec, flux=25.0, major=5.0))
    n_ra, n_dec = _at(24.0, 30.0, 0.0, 180.0)
    rows.append(dict(name="Iw", ra=n_ra, dec=n_dec, flux=4.0, major=5.0))
    rows.append(dict(name="bad", ra=30.0, dec=30.0, flux=np.nan, major=5.0))  # dropped: no flux
    t = Table(rows=[(r["name"], r["ra"], r["dec"], r["flux"], 0.05 * r["flux"], r["major"]) for r in rows],
              names=("NVSS", "RAJ2000", "DEJ2000", "S1.4", "e_S1.4", "MajAxis"))
    t["RAJ2000"].unit, t["DEJ2000"].unit = u.deg, u.deg
    t["S1.4"].unit, t["e_S1.4"].unit, t["MajAxis"].unit = u.mJy, u.mJy, u.arcsec
    nvss = tmp_path / "nvss.fits"
    t.write(nvss)

    # VLASS (CIRADA component names, mJy): A steep, C flat, B as one blob; 3" offsets.
    vl = []
    for name, alpha in (("A", ALPHA_A), ("C", 0.1), ("B", -0.7), ("D", -0.7), ("F", -0.7)):
        ra, dec = _at(*NVSS[name][:2], 3.0, 0.0)
        vl.append((f"VLASS {name}", ra, dec, NVSS[name][2] * RATIO**alpha, 0.01 * NVSS[name][2], 1.0))
    vlass = tmp_path / "vlass.csv"
    pd.DataFrame(vl, columns=["Component_name", "RA", "DEC", "Total_flux", "E_Total_flux", "DC_Maj"]).to_csv(
        vlass, index=False)

    # FIRST (TSV, sexagesimal positions, a non-standard flux column given by mapping).
    fr = []
    for name, offsets in (("A", [(0, 2)]), ("B", [(-7, 0), (7, 0)]), ("C", [(1, 1)])):
        for k, (dx, dy) in enumerate(offsets):
            c = SkyCoord(*_at(*NVSS[name][:2], dx, dy), unit="deg")
            fr.append((f"FIRST {name}{k}", c.ra.to_string(u.hourangle, sep=" ", precision=2),
                       c.dec.to_string(sep=" ", precision=1, alwayssign=True), NVSS[name][2] / len(offsets), 1.0))
    first = tmp_path / "first.tsv"
    pd.DataFrame(fr, columns=["FIRST", "RAJ2000", "DEJ2000", "my_int_flux", "Maj"]).to_csv(first, sep="\t", index=False)
    return nvss, vlass, first


def _build(catalogs, **kw):
    nvss, vlass, first = catalogs
    return build_master_catalog(
        CatalogInput("nvss", nvss), vlass=CatalogInput("vlass", vlass),
        first=CatalogInput("first", first, columns={"flux": "my_int_flux"}), options=MasterOptions(**kw))


def test_flags_alpha_and_provenance(catalogs):
    built = _build(catalogs)
    t = built.sources.set_index("source_id")
    assert "bad" not in t.index and len(t) == 10
    for name, (compact, resolved, isolated, confused, reference) in EXPECTED.items():
        got = tuple(bool(t.loc[name, c]) for c in ("compact", "resolved", "isolated", "confused", "reference"))
        assert got == (compact, resolved, isolated, confused, reference), name
    assert t.loc["A", "alpha"] == pytest.approx(ALPHA_A, abs=1e-6)
    assert t.loc["C", "alpha"] == pytest.approx(0.1, abs=1e-6)
    # 5% NVSS and 1% VLASS errors: sigma_alpha = hypot(0.05, 0.01 S/S_v) / ln(3/1.4)
    s_v = 100 * RATIO**ALPHA_A
    assert t.loc["A", "alpha_err"] == pytest.approx(np.hypot(0.05, 1.0 / s_v) / np.log(RATIO), rel=1e-6)
    assert np.isnan(t.loc["G", "alpha"])
    assert t.loc["B", "first_n"] == 2 and t.loc["B", "first_flux_jy"] == pytest.approx(0.080)
    assert t.loc["A", "flux_jy"] == pytest.approx(0.100)
    nvss, _, _ = catalogs
    prov = built.inputs["nvss"]
    assert prov["sha256"] == hashlib.sha256(nvss.read_bytes()).hexdigest()
    assert (prov["rows_read"], prov["rows_kept"]) == (11, 10)
    assert built.inputs["first"]["columns"]["flux"] == "my_int_flux"
    assert built.inputs["vlass"]["rows_kept"] == 5


def test_radius_is_configurable(catalogs):
    """VLASS sits 3" off: a 2" radius finds no counterpart, so no alpha."""
    t = _build(catalogs, match_radius=2 * u.arcsec).sources.set_index("source_id")
    assert np.isnan(t.loc["A", "alpha"]) and t.loc["A", "vlass_n"] == 0


def _versions_and_views(db, catalogs):
    built = _build(catalogs)
    v1 = store_master_catalog(db, built, note="first")
    v2 = store_master_catalog(db, _build(catalogs, reference_min_flux=1 * u.mJy))
    assert v2 > v1
    newest = load_master_catalog(db)
    assert set(newest["source_id"]) == set(built.sources["source_id"])
    assert len(load_master_catalog(db, v1, reference_only=True)) == 1
    # F (5 mJy) is a reference in version 2 only; the view reads the newest version.
    with db.engine.connect() as c:
        view = sorted(r[0] for r in c.execute(text("SELECT source_id FROM master_reference_sources")))
        n_current = c.execute(text("SELECT count(*) FROM master_sources_current")).scalar()
    assert view == ["A", "F"] and n_current == 10
    cone = load_master_catalog(db, center=SkyCoord(16 * u.deg, 30 * u.deg), radius=0.1 * u.deg)
    assert sorted(cone["source_id"]) == ["D", "E"]
    sky = master_sky_catalog(newest.set_index("source_id").loc[["A"]].reset_index())
    assert sky.spectral_index[0] == pytest.approx(ALPHA_A)


def test_versions_and_reference_view_sqlite(tmp_path, catalogs):
    _versions_and_views(ProductsDB.sqlite(tmp_path / "p.sqlite"), catalogs)


@pytest.mark.postgres
def test_versions_and_reference_view_postgres(postgres_url, catalogs):
    db = ProductsDB(postgres_url)
    try:
        _versions_and_views(db, catalogs)
    finally:
        db.dispose()


def test_bad_inputs_are_named(tmp_path, catalogs):
    bad = tmp_path / "noflux.csv"
    pd.DataFrame({"RA": [1.0], "DEC": [2.0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"noflux.csv: no column for \['flux'\]"):
        build_master_catalog(CatalogInput("nvss", bad))
    with pytest.raises(ValueError, match="mapped column 'nope'"):
        build_master_catalog(CatalogInput("nvss", catalogs[0], columns={"flux": "nope"}))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.csv: not a readable CSV"):
        build_master_catalog(CatalogInput("nvss", empty))


def test_cli_build_and_versions(tmp_path, catalogs):
    from dsa110_resources.cli import main

    nvss, vlass, first = catalogs
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    result = CliRunner().invoke(main, ["catalog", "build", "--nvss", str(nvss), "--vlass", str(vlass),
                                       "--first", str(first), "--columns", "first:flux=my_int_flux",
                                       "--db-url", url])
    assert result.exit_code == 0, result.output
    assert "version 1: 10 sources, 1 reference-quality" in result.output
    out = CliRunner().invoke(main, ["catalog", "versions", "--db-url", url]).output
    assert "version 1" in out and "nvss=10 rows" in out
    failed = CliRunner().invoke(main, ["catalog", "build", "--nvss", str(first), "--db-url", url])
    assert failed.exit_code != 0 and "first.tsv" in failed.output


def test_cone_across_ra_zero(tmp_path):
    """The SQL RA window wraps at 0/360: sources either side of RA 0 are in one cone."""
    path = tmp_path / "wrap.csv"
    pd.DataFrame({"name": ["W", "E", "far"], "ra_deg": [359.95, 0.05, 180.0], "dec_deg": [10.0, 10.0, 10.0],
                  "flux_jy": [0.1, 0.1, 0.1]}).to_csv(path, index=False)
    db = ProductsDB.sqlite(tmp_path / "p.sqlite")
    store_master_catalog(db, build_master_catalog(CatalogInput("nvss", path)))
    cone = load_master_catalog(db, center=SkyCoord(0 * u.deg, 10 * u.deg), radius=0.2 * u.deg)
    assert sorted(cone["source_id"]) == ["E", "W"]


def test_photometry_measures_and_normalises_on_the_master_catalog(tmp_path, catalogs):
    """With a master catalog built, a tile measures its sources in the field and the daily
    chain takes its references from the catalog's verdict; without one, the sky catalog."""
    from astropy.io import fits

    from dsa110_assets.photometry import _reference_flags, _tile_catalog
    from dsa110_resources.catalogs.resource import SkyCatalogResource

    pb = tmp_path / "tile.pb.fits"
    header = fits.Header({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CRVAL1": 16.0, "CRVAL2": 30.0,
                          "CDELT1": -0.01, "CDELT2": 0.01, "CRPIX1": 100.5, "CRPIX2": 100.5})
    fits.writeto(pb, np.ones((200, 200), np.float32), header)
    sky = tmp_path / "sky.csv"
    pd.DataFrame({"name": ["S1"], "ra_deg": [16.0], "dec_deg": [30.0], "flux_jy": [1.0]}).to_csv(sky, index=False)
    db = ProductsDB.sqlite(tmp_path / "p.sqlite")

    assert _tile_catalog(db, SkyCatalogResource(), str(pb)) is None  # neither catalog
    assert list(_tile_catalog(db, SkyCatalogResource(path=str(sky)), str(pb)).name) == ["S1"]
    store_master_catalog(db, _build(catalogs))
    field = _tile_catalog(db, SkyCatalogResource(path=str(sky)), str(pb))
    assert sorted(field.name) == ["D", "E"]  # the master catalog, within the tile's field only
    eligible = _reference_flags(db, SkyCatalogResource(path=str(sky)))
    assert list(eligible[eligible].index) == ["A"]  # the catalog's own reference verdict
