"""Proof against truth: linear mosaic of simulated drift-scan tiles with known sources and noise.

Five tiles 512^2 at 20" overlapping along RA (one every 309 s, pointing
advancing 1.29 deg of RA), each with its own restoring beam (+-5 %, +-10 deg
PA), noise sigma (+-20 %, correlated by the beam) and the pipeline's
drift-averaged primary beam. Requirements (issue 8): mosaic fluxes of the
injected sources within 3 % in the median, positions within 0.1 beam, noise
map within 20 % of the measured noise where there are no sources, a source
seen in two tiles agreeing with itself. Beams are ~80"x50" so 20" pixels
sample them (the algorithm does not care about the absolute scale).
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time

from dsa110_resources import constants as C
from dsa110_resources.imaging.qa import robust_noise
from dsa110_resources.mosaic import MosaicInput, build_mosaic, grid_for_region, write_products
from dsa110_resources.mosaic.qa import astrometry, mosaic_qa, overlap_consistency
from dsa110_resources.mosaic.synthetic import drift_row
from dsa110_resources.photometry.forced import forced_photometry_image

DEC = 54.57 * u.deg
RA0 = 150.0 * u.deg
N_TILES = 5
START = Time("2025-10-13T13:00:05", scale="utc")


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiles")
    rng = np.random.default_rng(11)
    n = 40
    # Sources spread along the strip, kept > 4 beams apart so forced fits are clean.
    ras, decs = [], []
    while len(ras) < n:
        ra = RA0.value + rng.uniform(-0.3, N_TILES * 1.29 + 0.3)
        dec = DEC.value + rng.uniform(-1.1, 1.1)
        if all(np.hypot((ra - r) * np.cos(np.radians(dec)), dec - d) > 0.1 for r, d in zip(ras, decs, strict=True)):
            ras.append(ra)
            decs.append(dec)
    sources = SkyCoord(np.array(ras) * u.deg, np.array(decs) * u.deg)
    fluxes = rng.uniform(0.05, 1.0, n) * u.Jy
    from dsa110_resources.photometry.forced import RestoringBeam

    tiles = drift_row(directory, N_TILES, START, RA0, DEC, (512, 512), 20 * u.arcsec, sources, fluxes,
                      beam=RestoringBeam(80 * u.arcsec, 50 * u.arcsec, 10 * u.deg), noise=1e-3 * u.Jy, seed=5)
    grid = grid_for_region("proof", RA0 - 2 * u.deg, RA0 + (N_TILES * 1.29 + 2) * u.deg, DEC - 2 * u.deg,
                           DEC + 2 * u.deg, 20 * u.arcsec)
    inputs = [MosaicInput.from_fits(f"{t.prefix}.image.fits") for t in tiles]
    products = build_mosaic(inputs, grid)
    paths = write_products(products, directory / "mosaic")
    return {"dir": directory, "sources": sources, "fluxes": fluxes, "tiles": tiles, "inputs": inputs,
            "grid": grid, "products": products, "paths": paths}


def test_inputs_carry_measured_noise_and_beams(sky):
    for inp, tile in zip(sky["inputs"], sky["tiles"], strict=True):
        assert inp.noise.to_value(u.Jy) == pytest.approx(tile.noise.to_value(u.Jy), rel=0.05)
        assert inp.beam == tile.beam
        assert inp.tile_id == tile.tile_id


def test_fluxes_within_3_percent_in_the_median(sky):
    table = forced_photometry_image(sky["paths"]["mosaic"], sky["sources"])
    table = table[(~table.edge) & (table.snr > 10)]
    assert len(table) >= 30
    ratio = table.flux_jy.to_numpy() / sky["fluxes"].to_value(u.Jy)[table.source_id.to_numpy()]
    print(f"mosaic flux ratio median {np.median(ratio):.4f} (n={len(ratio)}), "
          f"10-90%: {np.percentile(ratio, 10):.4f}-{np.percentile(ratio, 90):.4f}")
    assert abs(np.median(ratio) - 1) < 0.03


def test_positions_within_a_tenth_of_the_beam(sky):
    stats = astrometry(sky["products"], sky["sources"], sky["fluxes"], snr_min=10)
    print(f"offsets median {stats.offset_median_arcsec:.2f}\" = {stats.offset_median_beams:.4f} beam, "
          f"max {stats.offset_max_beams:.3f} beam; fitted flux ratio median {stats.flux_ratio_median:.4f}")
    assert stats.n_measured >= 30
    assert stats.offset_median_beams < 0.1
    assert abs(stats.flux_ratio_median - 1) < 0.03


def test_noise_map_matches_measured_noise_away_from_sources(sky):
    products = sky["products"]
    grid = sky["grid"]
    x, y = grid.wcs.world_to_pixel(sky["sources"])
    yy, xx = np.mgrid[0:grid.shape[0], 0:grid.shape[1]]
    free = np.isfinite(products.mosaic)
    beam_px = (products.beam.major / grid.cell).decompose().value
    for xs, ys in zip(x, y, strict=True):
        free &= np.hypot(xx - xs, yy - ys) > 4 * beam_px
    noise = products.noise
    # Overall and per RA strip (the noise varies along the strip with the tile weights).
    ratios = []
    for cols in np.array_split(np.arange(grid.shape[1]), 6):
        sel = free[:, cols]
        if sel.sum() < 2000:
            continue
        measured = robust_noise(products.mosaic[:, cols][sel])
        expected = float(np.median(noise[:, cols][sel]))
        ratios.append(measured / expected)
    # Normalised by the local map, the scatter must be 1.
    overall = robust_noise(products.mosaic[free] / noise[free])
    print(f"measured/noise-map: overall {overall:.3f}, per strip {np.round(ratios, 3).tolist()}")
    assert len(ratios) >= 3
    assert abs(overall - 1) < 0.2
    assert all(abs(r - 1) < 0.2 for r in ratios)


def test_source_in_two_tiles_agrees_with_itself(sky):
    # Forced photometry on each PB-corrected tile.
    tables = []
    for tile in sky["tiles"]:
        t = forced_photometry_image(f"{tile.prefix}.pbcor.fits", sky["sources"])
        t = t[(~t.edge) & (t.snr > 20)]
        t["tile"] = tile.tile_id
        tables.append(t)
    import pandas as pd

    table = pd.concat(tables)
    multi = table.groupby("source_id").filter(lambda g: len(g) >= 2)
    assert multi.source_id.nunique() >= 10
    spread = multi.groupby("source_id").flux_jy.agg(lambda s: (s.max() - s.min()) / s.mean())
    pulls = []
    for _, g in multi.groupby("source_id"):
        s, e = g.flux_jy.to_numpy(), g.flux_err_jy.to_numpy()
        pulls.append((s[0] - s[1]) / np.hypot(e[0], e[1]))
    print(f"{multi.source_id.nunique()} sources in >= 2 tiles: median spread {spread.median():.4f}, "
          f"pull rms {np.sqrt(np.mean(np.square(pulls))):.2f}")
    assert spread.median() < 0.03
    assert np.sqrt(np.mean(np.square(pulls))) < 2.0
    # The QA helper (beam-uncorrected tile / beam) says the same.
    overlap = overlap_consistency(sky["inputs"], sky["sources"], snr_min=20)
    assert overlap["pairs"] >= 10 and overlap["median_fraction"] < 0.03


def test_headers_and_products(sky):
    paths = sky["paths"]
    h = fits.getheader(paths["mosaic"])
    p = sky["products"]
    assert h["NINPUT"] == N_TILES
    assert [h[f"INPUT{i:03d}"] for i in range(1, N_TILES + 1)] == [t.tile_id for t in sky["tiles"]]
    assert h["BMAJ"] == pytest.approx(p.beam.major.to_value(u.deg))
    assert h["DATE-OBS"].startswith("2025-10-13T13:00:05")
    assert abs((Time(h["DATE-END"]) - (START + N_TILES * C.TILE_DURATION)).to_value(u.s)) < 1e-3
    assert 0 < h["COVERAGE"] <= 1
    weight = fits.getdata(paths["weight"])
    noise = fits.getdata(paths["noise"])
    ok = np.isfinite(noise)
    assert np.allclose(noise[ok], 1 / np.sqrt(weight[ok]), rtol=1e-5)
    assert np.array_equal(ok, np.isfinite(fits.getdata(paths["mosaic"])))
    # Blanking: the combined-beam level is at least blank_level wherever data are kept.
    level = np.sqrt(weight[ok] / p.reference_weight)
    assert level.min() >= p.blank_level * (1 - 1e-5)


def test_full_qa_passes(sky):
    qa = mosaic_qa(sky["products"], sky["inputs"], (sky["sources"], sky["fluxes"]))
    print(qa.as_dict())
    for name in ("noise", "overlap_flux", "astrometry"):
        assert qa.checks[name], name
