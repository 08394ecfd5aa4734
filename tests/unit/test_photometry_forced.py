"""Forced photometry against truth: synthetic images with known fluxes and correlated noise.

The images are built here independently of the code under test: a simple
RA---SIN/DEC--SIN grid with RA increasing to the left, point sources drawn as
the restoring beam (major axis along position angle east of north, i.e. toward
-x, +y), primary-beam attenuation, and noise whose autocorrelation is the
restoring beam (white noise smoothed by a Gaussian of covariance Sigma/2), like
the residual of a real cleaned image.
"""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from scipy import fft

from dsa110_resources.photometry.forced import (
    ForcedPhotometryOptions,
    RestoringBeam,
    forced_photometry,
    forced_photometry_bands,
    forced_photometry_image,
    read_plane,
)

NPIX = 400
CELL_ARCSEC = 3.0
BMAJ_ARCSEC, BMIN_ARCSEC, BPA_DEG = 36.0, 15.0, 30.0
RMS = 1.0e-3  # Jy/beam


def make_header(mjd: float = 60000.0) -> fits.Header:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [150.0, 54.5]
    w.wcs.crpix = [NPIX / 2 + 1, NPIX / 2 + 1]
    w.wcs.cdelt = [-CELL_ARCSEC / 3600, CELL_ARCSEC / 3600]
    header = w.to_header()
    header["BMAJ"] = BMAJ_ARCSEC / 3600
    header["BMIN"] = BMIN_ARCSEC / 3600
    header["BPA"] = BPA_DEG
    header["BUNIT"] = "JY/BEAM"
    header["MJD-OBS"] = mjd
    return header


def beam_cov_pixels(scale: float = 1.0) -> np.ndarray:
    s = 1 / math.sqrt(8 * math.log(2))
    smaj = BMAJ_ARCSEC / CELL_ARCSEC * s
    smin = BMIN_ARCSEC / CELL_ARCSEC * s
    pa = math.radians(BPA_DEG)
    major = np.array([-math.sin(pa), math.cos(pa)])  # east is -x on this grid
    minor = np.array([math.cos(pa), math.sin(pa)])
    return scale * (smaj**2 * np.outer(major, major) + smin**2 * np.outer(minor, minor))


def gaussian_on_grid(cov: np.ndarray, x0: float, y0: float) -> np.ndarray:
    yy, xx = np.mgrid[0:NPIX, 0:NPIX]
    inv = np.linalg.inv(cov)
    dx, dy = xx - x0, yy - y0
    return np.exp(-0.5 * (inv[0, 0] * dx * dx + 2 * inv[0, 1] * dx * dy + inv[1, 1] * dy * dy))


def correlated_noise(rng: np.random.Generator, rms: float) -> np.ndarray:
    """Noise with autocorrelation equal to the restoring beam (peak-normalised), std = rms."""
    white = rng.standard_normal((NPIX, NPIX))
    kernel = np.fft.ifftshift(gaussian_on_grid(beam_cov_pixels(0.5), NPIX / 2, NPIX / 2))
    smooth = fft.irfft2(fft.rfft2(white) * fft.rfft2(kernel), s=white.shape)
    return rms * smooth / smooth.std()


def primary_beam() -> np.ndarray:
    yy, xx = np.mgrid[0:NPIX, 0:NPIX]
    r2 = (xx - NPIX / 2) ** 2 + (yy - NPIX / 2) ** 2
    return np.exp(-0.5 * r2 / (0.6 * NPIX) ** 2)


def make_epoch(rng, tmp_path, tag, pixels, fluxes, mjd):
    pb = primary_beam()
    sky = np.zeros((NPIX, NPIX))
    cov = beam_cov_pixels()
    for (x0, y0), s in zip(pixels, fluxes, strict=True):
        sky += s * pb[int(round(y0)), int(round(x0))] * gaussian_on_grid(cov, x0, y0)
    header = make_header(mjd)
    image = sky + correlated_noise(rng, RMS)
    image_path = tmp_path / f"{tag}.image.fits"
    pb_path = tmp_path / f"{tag}.pb.fits"
    fits.PrimaryHDU(image.astype(np.float32), header).writeto(image_path)
    fits.PrimaryHDU(pb.astype(np.float32), header).writeto(pb_path)
    return image_path, pb_path


def source_layout(rng, n=40):
    """Positions on a jittered grid (isolated, away from edges) and fluxes 5-80 mJy."""
    side = int(math.ceil(math.sqrt(n)))
    grid = np.linspace(50, NPIX - 50, side)
    gx, gy = np.meshgrid(grid, grid)
    pixels = np.column_stack([gx.ravel(), gy.ravel()])[:n] + rng.uniform(-3, 3, (n, 2))
    fluxes = 10 ** rng.uniform(np.log10(5e-3), np.log10(8e-2), n)
    return pixels, fluxes


def test_beam_pixel_covariance_matches_independent_construction():
    wcs = WCS(make_header()).celestial
    beam = RestoringBeam(BMAJ_ARCSEC * u.arcsec, BMIN_ARCSEC * u.arcsec, BPA_DEG * u.deg)
    np.testing.assert_allclose(beam.pixel_covariance(wcs), beam_cov_pixels(), rtol=1e-6)


def test_forced_fluxes_match_truth_with_honest_errors(tmp_path):
    rng = np.random.default_rng(42)
    pixels, fluxes = source_layout(rng)
    wcs = WCS(make_header()).celestial
    positions = wcs.pixel_to_world(pixels[:, 0], pixels[:, 1])
    ratios, pulls = [], []
    for epoch in range(5):
        image_path, pb_path = make_epoch(rng, tmp_path, f"e{epoch}", pixels, fluxes, 60000.0 + epoch)
        table = forced_photometry_image(image_path, positions, pb_path=pb_path, band="full")
        assert len(table) == len(fluxes)
        truth = fluxes[table["source_id"].to_numpy()]
        ratios.append(table["flux_jy"].to_numpy() / truth)
        pulls.append((table["flux_jy"].to_numpy() - truth) / table["flux_err_jy"].to_numpy())
        assert np.all(table["epoch_mjd"] == 60000.0 + epoch)
        # measured rms agrees with the injected one
        assert np.median(table["local_rms_jy_beam"]) == pytest.approx(RMS, rel=0.1)
    ratios = np.concatenate(ratios)
    pulls = np.concatenate(pulls)
    median_ratio = np.median(ratios)
    pull_std = np.std(pulls)
    print(f"median flux ratio {median_ratio:.4f}, pull std {pull_std:.3f}, pull mean {np.mean(pulls):.3f}")
    assert abs(median_ratio - 1) < 0.03
    assert 0.7 <= pull_std <= 1.3
    assert abs(np.mean(pulls)) < 0.3


def test_white_noise_errors_would_be_too_small(tmp_path):
    """Ignoring noise correlation (a point-like noise beam) under-reports errors: the test has teeth."""
    rng = np.random.default_rng(7)
    pixels, fluxes = source_layout(rng)
    image_path, pb_path = make_epoch(rng, tmp_path, "w", pixels, fluxes, 60000.0)
    wcs = WCS(make_header()).celestial
    positions = wcs.pixel_to_world(pixels[:, 0], pixels[:, 1])
    tiny = RestoringBeam(0.1 * u.arcsec, 0.1 * u.arcsec, 0 * u.deg)
    honest = forced_photometry(read_plane(image_path), positions, primary_beam=read_plane(pb_path))
    naive = forced_photometry(read_plane(image_path), positions, primary_beam=read_plane(pb_path), noise_beam=tiny)
    assert np.median(honest["flux_err_jy"] / naive["flux_err_jy"]) > 2


def test_primary_beam_limit_and_off_image_sources_are_skipped(tmp_path):
    rng = np.random.default_rng(3)
    pixels = np.array([[200.0, 200.0], [5.0, 200.0], [-50.0, 10.0]])
    image_path, pb_path = make_epoch(rng, tmp_path, "pb", pixels[:1], [0.05], 60000.0)
    wcs = WCS(make_header()).celestial
    positions = wcs.pixel_to_world(pixels[:, 0], pixels[:, 1])
    table = forced_photometry_image(
        image_path, positions, pb_path=pb_path, options=ForcedPhotometryOptions(pb_limit=0.7)
    )
    # the source at x=5 sees pb ~ exp(-0.5*(195/240)^2) = 0.72 > 0.7; x=-50 is off the image
    assert list(table["source_id"]) == [0, 1]
    table = forced_photometry_image(
        image_path, positions, pb_path=pb_path, options=ForcedPhotometryOptions(pb_limit=0.9)
    )
    assert list(table["source_id"]) == [0]
    assert table["flux_jy"].iloc[0] == pytest.approx(0.05, abs=5 * table["flux_err_jy"].iloc[0])
    # none left (every position off the image): an empty table, not an error
    table = forced_photometry_image(image_path, positions[2:], pb_path=pb_path)
    assert table.empty and "flux_jy" in table.columns


def test_sub_bands_are_labelled(tmp_path):
    rng = np.random.default_rng(5)
    pixels, fluxes = source_layout(rng, 9)
    paths = {b: make_epoch(rng, tmp_path, b, pixels, fluxes, 60001.0) for b in ("lo", "hi")}
    wcs = WCS(make_header()).celestial
    positions = wcs.pixel_to_world(pixels[:, 0], pixels[:, 1])
    table = forced_photometry_bands(
        {b: p[0] for b, p in paths.items()}, positions, pb_paths={b: p[1] for b, p in paths.items()}
    )
    assert sorted(table["band"].unique()) == ["hi", "lo"]
    assert len(table) == 18
