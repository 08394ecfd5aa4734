"""Unit tests of the mosaic pieces: common beam, convolution, noise scaling, grids, plan."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.time import Time
from astropy.wcs import WCS

from dsa110_resources import constants as C
from dsa110_resources.imaging.primary_beam import airy_beam
from dsa110_resources.mosaic import (
    TileRecord, beam_radius, common_beam, convolve_to, grid_for_region, hourly_grid, hourly_plan,
    nightly_blocks, noise_scale,
)
from dsa110_resources.mosaic.common_beam import encloses
from dsa110_resources.mosaic.synthetic import correlated_noise, render_sources
from dsa110_resources.photometry.forced import RestoringBeam


def _wcs(cell=10 * u.arcsec, n=256):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [150.0, 54.0]
    w.wcs.cdelt = [-cell.to_value(u.deg), cell.to_value(u.deg)]
    w.wcs.crpix = [n / 2 + 1, n / 2 + 1]
    return w


def test_common_beam_encloses_and_is_minimal():
    beams = [RestoringBeam(80 * u.arcsec, 50 * u.arcsec, 0 * u.deg),
             RestoringBeam(78 * u.arcsec, 52 * u.arcsec, 20 * u.deg),
             RestoringBeam(82 * u.arcsec, 48 * u.arcsec, -10 * u.deg)]
    target = common_beam(beams)
    assert all(encloses(target, b) for b in beams)
    # Smaller than the obvious circle enclosing everything, and close to the largest input.
    area = target.major * target.minor
    assert area < (82 * u.arcsec) ** 2
    assert area < 1.35 * 78 * 52 * u.arcsec**2
    # Two perpendicular identical ellipses -> the circle of the major axis.
    circle = common_beam([RestoringBeam(80 * u.arcsec, 50 * u.arcsec, 0 * u.deg),
                          RestoringBeam(80 * u.arcsec, 50 * u.arcsec, 90 * u.deg)])
    assert circle.major.to_value(u.arcsec) == pytest.approx(80, rel=2e-3)
    assert circle.minor.to_value(u.arcsec) == pytest.approx(80, rel=2e-3)
    # One beam enclosing the rest is returned (grown by the margin only).
    single = common_beam([RestoringBeam(60 * u.arcsec, 40 * u.arcsec, 5 * u.deg),
                          RestoringBeam(50 * u.arcsec, 30 * u.arcsec, 5 * u.deg)])
    assert single.major.to_value(u.arcsec) == pytest.approx(60, rel=2e-3)
    assert single.pa.to_value(u.deg) == pytest.approx(5, abs=1e-6)


def test_convolution_keeps_point_source_peak_and_reaches_target_shape():
    wcs = _wcs()
    src = RestoringBeam(60 * u.arcsec, 30 * u.arcsec, 10 * u.deg)
    dst = RestoringBeam(80 * u.arcsec, 50 * u.arcsec, 30 * u.deg)
    image = np.zeros((256, 256), np.float32)
    centre = wcs.pixel_to_world(128.3, 127.6)
    render_sources(wcs, image.shape, centre[None], np.array([2.0]), src, image)
    out = convolve_to(image, src, dst, wcs)
    expected = np.zeros_like(image)
    render_sources(wcs, image.shape, centre[None], np.array([2.0]), dst, expected)
    assert np.max(np.abs(out - expected)) < 2e-3 * 2.0


def test_noise_scale_matches_measurement():
    wcs = _wcs(n=512)
    rng = np.random.default_rng(4)
    src = RestoringBeam(60 * u.arcsec, 30 * u.arcsec, 0 * u.deg)
    dst = RestoringBeam(90 * u.arcsec, 60 * u.arcsec, 20 * u.deg)
    noise = correlated_noise((512, 512), 1.0, src, wcs, rng)
    out = convolve_to(noise, src, dst, wcs)
    measured = out[64:-64, 64:-64].std()
    assert measured == pytest.approx(noise_scale(src, dst), rel=0.05)
    assert noise_scale(src, src) == pytest.approx(1.0)


def test_beam_radius_is_where_airy_reaches_level():
    r = beam_radius(0.2)
    assert float(airy_beam(r, (C.BAND_LOW + C.BAND_HIGH) / 2)) == pytest.approx(0.2, abs=1e-6)
    assert 1.5 * u.deg < r < 2.5 * u.deg


def test_grid_holds_region_and_planned_mask():
    grid = grid_for_region("t", 140 * u.deg, 156 * u.deg, 52 * u.deg, 56 * u.deg, 60 * u.arcsec)
    ny, nx = grid.shape
    corners = [(140, 52), (156, 52), (140, 56), (156, 56), (148, 56)]
    for ra, dec in corners:
        x, y = grid.wcs.wcs_world2pix(ra, dec, 0)
        assert 0 <= x < nx and 0 <= y < ny
    mask = grid.planned_mask(slice(None), 1)
    assert 0.5 < mask.mean() < 1.0
    with pytest.raises(ValueError):
        grid_for_region("t", 0 * u.deg, 200 * u.deg, 52 * u.deg, 56 * u.deg, 60 * u.arcsec)


def test_hourly_grid_and_nightly_blocks():
    hour = Time("2025-10-13T13:00:00", scale="utc")
    grid = hourly_grid(hour, 54.57 * u.deg, 30 * u.arcsec)
    assert grid.label == "2025-10-13T13"
    span = (grid.ra_max - grid.ra_min).to_value(u.deg)
    pad = 2 * beam_radius(0.2).to_value(u.deg) / np.cos(np.radians(54.57 + 1.98))
    assert span == pytest.approx(15.04 + pad, abs=0.1)
    blocks = nightly_blocks("2025-10-13", 54.57 * u.deg, 30 * u.arcsec)
    assert [b.label for b in blocks][:2] == ["2025-10-13_RA00h", "2025-10-13_RA01h"]
    assert len(blocks) == 24
    b = blocks[3]
    assert b.ra_min.to_value(u.deg) == pytest.approx(44.5) and b.ra_max.to_value(u.deg) == pytest.approx(60.5)
    # Memory bounded per block: no block is bigger than ~1 h of RA.
    assert max(bl.n_pixels for bl in blocks) < 1.2 * grid.n_pixels


def test_plan_reasons_and_gaps():
    t0 = Time("2025-10-13T13:00:05", scale="utc")
    recs = []
    for k in range(12):
        if k in (4, 5):
            continue
        recs.append(TileRecord(f"t{k}", t0 + k * C.TILE_DURATION, None, qa_passed=(k != 7),
                               qa_reason="noise 3x expected" if k == 7 else None, declination=54.57 * u.deg))
    recs.append(TileRecord("other", t0 + 3 * u.min, None, declination=16.27 * u.deg))
    plan = hourly_plan(recs, Time("2025-10-13T13:00:00"), check_files=False)
    reasons = plan.summary()["excluded"]
    assert reasons["t7"].startswith("QA failed: noise 3x")
    assert "image file missing" in reasons["t0"]
    assert plan.n_missing == 2
    assert plan.missing[0][2] == 2
    assert not plan.ready(Time("2025-10-13T13:59:00"))
    assert plan.ready(Time("2025-10-13T14:00:30"))  # last tile present: no need to wait
    late = hourly_plan(recs[:6], Time("2025-10-13T13:00:00"), check_files=False)
    assert not late.ready(Time("2025-10-13T14:10:00"))
    assert late.ready(Time("2025-10-13T14:31:00"))
