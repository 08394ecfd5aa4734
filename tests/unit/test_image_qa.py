"""Image QA on synthetic images with known sources, noise and beam."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS

from dsa110_resources.imaging import ReferenceSources, measure, robust_noise, wsclean
from dsa110_resources.imaging.params import (
    ImagingParams,
    MsExtent,
    choose_baseline_averaging,
    choose_grid,
    resolve,
)
from dsa110_resources.imaging.preview import write_preview

N = 400
CELL = 5.0  # arcsec
BEAM = (40 * u.arcsec, 20 * u.arcsec, 30 * u.deg)
SIGMA = 1e-3


def _wcs():
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [105.0, 54.57]
    wcs.wcs.crpix = [N / 2 + 1, N / 2 + 1]
    wcs.wcs.cdelt = [-CELL / 3600, CELL / 3600]
    return wcs


def _gaussian(wcs, x0, y0, amp):
    """An elliptical restoring beam at a sub-pixel position, PA east of north."""
    yy, xx = np.mgrid[0:N, 0:N]
    east = -(xx - x0) * CELL  # RA increases to the left
    north = (yy - y0) * CELL
    pa = BEAM[2].to_value(u.rad)
    a = east * np.sin(pa) + north * np.cos(pa)
    b = east * np.cos(pa) - north * np.sin(pa)
    s = 1 / np.sqrt(8 * np.log(2))
    smaj, smin = BEAM[0].to_value(u.arcsec) * s, BEAM[1].to_value(u.arcsec) * s
    return amp * np.exp(-0.5 * ((a / smaj) ** 2 + (b / smin) ** 2))


@pytest.fixture
def scene():
    wcs = _wcs()
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:N, 0:N]
    r2 = ((xx - N / 2) ** 2 + (yy - N / 2) ** 2) / (N / 2) ** 2
    beam_map = np.exp(-1.6 * r2).astype(np.float32)  # smooth stand-in for a primary beam
    residual = rng.normal(0, SIGMA, (N, N))
    image = residual.copy()
    positions = [(200.3, 199.6, 0.5), (120.7, 260.2, 0.2), (300.1, 90.8, 0.05), (250.4, 310.5, 0.004), (5.0, 5.0, 1.0)]
    coords, fluxes = [], []
    for x, y, flux in positions:
        apparent = flux * beam_map[int(round(y)), int(round(x))]
        image += _gaussian(wcs, x, y, apparent)
        coords.append(wcs.pixel_to_world(x, y))
        fluxes.append(flux)
    refs = ReferenceSources(SkyCoord(coords), np.array(fluxes) * u.Jy)
    return wcs, image, residual, beam_map, refs


def test_robust_noise_ignores_sources():
    rng = np.random.default_rng(3)
    data = rng.normal(0, 2.0, 200_000)
    data[:2000] += 500.0  # 1% of pixels on bright sources
    assert robust_noise(data) == pytest.approx(2.0, rel=0.02)


def test_measure_recovers_fluxes_positions_and_noise(scene):
    wcs, image, residual, beam_map, refs = scene
    qa = measure(image, residual, beam_map, wcs, BEAM, pb_limit=0.2, references=refs,
                 expected_noise=SIGMA * u.Jy, snr_min=10)
    assert qa.noise_jy == pytest.approx(SIGMA, rel=0.03)
    assert qa.noise_ratio == pytest.approx(1.0, rel=0.03)
    assert qa.peak_jy == pytest.approx(0.5 * beam_map[200, 200], rel=0.02)
    assert qa.dynamic_range == pytest.approx(qa.peak_jy / qa.noise_jy)
    assert (qa.bmaj_arcsec, qa.bmin_arcsec, qa.bpa_deg) == pytest.approx((40, 20, 30))
    rec = qa.recovery
    # The 4 mJy source is below 10 sigma; the corner one is outside the beam limit.
    assert rec.n_reference == 3 and rec.n_measured == 3
    assert rec.flux_ratio_median == pytest.approx(1.0, abs=0.01)
    assert rec.flux_ratio_max_deviation < 0.05
    assert rec.offset_max_beams < 0.05
    assert rec.offset_max_arcsec < 1.0


def test_misplaced_source_shows_as_offset(scene):
    wcs, image, residual, beam_map, refs = scene
    shifted = ReferenceSources(refs.coords.spherical_offsets_by(0 * u.arcsec, 6 * u.arcsec), refs.flux)
    qa = measure(image, residual, beam_map, wcs, BEAM, 0.2, shifted)
    assert qa.recovery.offset_median_arcsec == pytest.approx(6.0, abs=0.5)


def test_reference_sources_from_truth_rows_use_included_true_flux():
    class Truth:
        sources = [
            {"name": "a", "ra_deg": 1.0, "dec_deg": 2.0, "flux_jy": 1.0, "true_flux_jy": 0.8, "included": True},
            {"name": "b", "ra_deg": 3.0, "dec_deg": 4.0, "flux_jy": 0.001, "true_flux_jy": 0.001, "included": False},
        ]

    refs = ReferenceSources.from_truth(Truth())
    assert len(refs) == 1 and refs.names == ("a",)
    assert refs.flux[0] == 0.8 * u.Jy


def test_grid_choice_follows_baseline_and_beam():
    extent = MsExtent(2700 * u.m, 1311.37 * u.MHz, 1498.63 * u.MHz)
    grid = choose_grid(extent, ImagingParams())
    lam = (1498.63 * u.MHz).to_value(u.m, equivalencies=u.spectral())
    assert grid.cell.to_value(u.arcsec) == pytest.approx(np.degrees(lam / 2700) * 3600 / 2, abs=0.1)  # Nyquist
    assert 1.4 * 2.9 < grid.field_of_view.to_value(u.deg) < 1.6 * 2.9
    assert choose_grid(extent, ImagingParams(size=512, cell=3 * u.arcsec)).size == 512
    with pytest.raises(ValueError, match="max_size"):
        choose_grid(extent, ImagingParams(cell=0.5 * u.arcsec))


def test_baseline_averaging_matches_the_longest_baselines_own_smearing():
    extent = MsExtent(2700 * u.m, 1311.37 * u.MHz, 1498.63 * u.MHz, 12.884902 * u.s)
    lam = (1498.63 * u.MHz).to_value(u.m, equivalencies=u.spectral())
    # The longest baseline turns with the Earth: |d(u,v)/dt| <= B omega.
    own = 2700 / lam * 7.2921159e-5 * 12.884902
    _, auto = resolve(extent, ImagingParams())
    assert auto.baseline_averaging == pytest.approx(own, abs=0.01)
    assert 12 < own < 14
    assert choose_baseline_averaging(extent, ImagingParams(baseline_averaging=0)) is None  # off
    assert choose_baseline_averaging(extent, ImagingParams(baseline_averaging=5.0)) == 5.0
    # The resolved parameters keep "off" as 0 (None would mean "choose"), and WSClean sees none.
    _, off = resolve(extent, ImagingParams(baseline_averaging=0))
    assert off.baseline_averaging == 0.0
    assert "-baseline-averaging" not in wsclean.command(Path("x.ms"), "n", choose_grid(extent, off), off, "DATA")


def test_preview_is_a_small_png(tmp_path, scene):
    _, image, *_ = scene
    path = write_preview(np.kron(image, np.ones((4, 4))), tmp_path / "p.png", title="tile")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size < 400_000
