"""The primary-beam model against first principles and independent sums."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.time import Time
from astropy.wcs import WCS
from scipy.optimize import brentq
from scipy.special import jn_zeros

from dsa110_resources import constants as C
from dsa110_resources.imaging import DriftScanBeam, airy_beam, airy_power, correct, primary_beam_fwhm

FREQ = 1.4 * u.GHz
LAMBDA_M = FREQ.to_value(u.m, equivalencies=u.spectral())
D_M = C.DISH_DIAMETER.to_value(u.m)


def test_airy_is_one_on_axis_and_zero_at_the_first_null():
    assert airy_beam(0 * u.deg, FREQ) == pytest.approx(1.0)
    first_null = np.arcsin(jn_zeros(1, 1)[0] * LAMBDA_M / (np.pi * D_M)) * u.rad
    assert airy_beam(first_null, FREQ) == pytest.approx(0.0, abs=1e-12)
    assert airy_beam(first_null * 0.5, FREQ) > 0.1


def test_half_power_width_matches_fwhm_formula_and_facts():
    half = brentq(lambda t: airy_power(np.sin(t), 1.4e9, D_M) - 0.5, 1e-4, 0.05)
    fwhm = np.degrees(2 * half) * u.deg
    assert fwhm.to_value(u.deg) == pytest.approx(primary_beam_fwhm(FREQ).to_value(u.deg), rel=2e-3)
    assert 2.6 < fwhm.to_value(u.deg) < 2.8  # facts: ~2.7 deg at 1.4 GHz (not 4.1 deg)


def _beam(dec=54.57, time_samples=9, freqs=(1.32e9, 1.40e9, 1.49e9)):
    mid = Time("2025-10-13T13:27:41", scale="utc")
    return DriftScanBeam(
        pointing_mid=SkyCoord(105.0 * u.deg, dec * u.deg),
        mid_time=mid,
        start_time=mid - C.TILE_DURATION / 2,
        end_time=mid + C.TILE_DURATION / 2,
        frequencies=np.array(freqs) * u.Hz,
        time_samples=time_samples,
        freq_samples=len(freqs),
    )


def test_pointing_track_spans_the_tile_hour_angle_range():
    beam = _beam()
    track = beam.pointing_track()
    span = (track.ra.max() - track.ra.min()).to(u.deg)
    expected = (C.SIDEREAL_RATE * C.TILE_DURATION).to(u.deg)
    assert span.to_value(u.deg) == pytest.approx(expected.to_value(u.deg), rel=1e-9)
    assert 1.28 < expected.to_value(u.deg) < 1.30  # ~1.3 deg of RA (x cos dec on the sky)
    assert np.allclose(track.dec.deg, 54.57)


def test_response_equals_an_independent_average_over_time_and_band():
    beam = _beam()
    point = SkyCoord(105.9 * u.deg, 54.1 * u.deg)
    expected = np.mean([
        airy_beam(point.separation(p), f * u.Hz)
        for p in beam.pointing_track()
        for f in (1.32e9, 1.40e9, 1.49e9)
    ])
    assert beam.response(point) == pytest.approx(expected, rel=1e-9)


def test_drift_averaging_lowers_and_widens_the_beam_along_ra():
    beam = _beam()
    centre = beam.response(SkyCoord(105.0 * u.deg, 54.57 * u.deg))
    assert 0.9 < centre < 1.0  # the dish spends the tile around, not on, each point
    east = beam.response(SkyCoord(106.5 * u.deg, 54.57 * u.deg))
    west = beam.response(SkyCoord(103.5 * u.deg, 54.57 * u.deg))
    assert east == pytest.approx(west, rel=1e-6)  # symmetric about the mid-tile pointing
    offset = SkyCoord(106.5 * u.deg, 54.57 * u.deg).separation(SkyCoord(105.0 * u.deg, 54.57 * u.deg))
    north = beam.response(SkyCoord(105.0 * u.deg, 54.57 * u.deg + offset))
    assert east > north  # same distance, but along the drift the source sees more beam


def test_grid_interpolation_matches_exact_response():
    beam = _beam()
    n = 900
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [105.0, 54.57]
    wcs.wcs.crpix = [n / 2 + 1, n / 2 + 1]
    wcs.wcs.cdelt = [-20 / 3600, 20 / 3600]
    grid = beam.on_grid(wcs, (n, n))
    rng = np.random.default_rng(1)
    ys, xs = rng.integers(0, n, 50), rng.integers(0, n, 50)
    exact = beam.response(wcs.pixel_to_world(xs, ys))
    assert np.max(np.abs(grid[ys, xs] - exact)) < 1e-4
    assert grid.max() <= 1.0 and grid.min() > 0.0


def test_correct_divides_and_blanks_below_the_limit():
    image = np.full((3,), 0.5, dtype=np.float32)
    beam = np.array([1.0, 0.5, 0.1], dtype=np.float32)
    out = correct(image, beam, 0.2)
    assert out[0] == pytest.approx(0.5) and out[1] == pytest.approx(1.0)
    assert np.isnan(out[2])
    with pytest.raises(ValueError):
        correct(image, beam, 0.0)


# --- the pluggable beam model -------------------------------------------------

from dsa110_resources.imaging.primary_beam import AiryBeam, MeasuredBeam, beam_model  # noqa: E402
from dsa110_resources.simulation.beam_file import expected_power, write_synthetic_beam_file  # noqa: E402


def test_measured_beam_reads_the_dsa110_layout(tmp_path):
    path = write_synthetic_beam_file(tmp_path / "beam.h5", diameter_x_m=3.6, diameter_y_m=4.2)
    beam = MeasuredBeam.from_hdf5(path)
    assert beam.freq_hz[0] == pytest.approx(1.2e9) and beam.freq_hz[-1] == pytest.approx(1.6e9)  # MHz label
    rng = np.random.default_rng(0)
    sin_theta = np.sin(np.deg2rad(rng.uniform(0, 6, 500)))
    freqs = rng.uniform(1.31e9, 1.5e9, 500)
    got = beam.power(sin_theta, freqs)
    want = expected_power(sin_theta, freqs, 3.6, 4.2)
    # linear interpolation on a 0.1 deg x 50 MHz grid of a smooth pattern
    assert np.abs(got - want).max() < 5e-3
    assert beam.power(np.array([0.0]), np.array([1.4e9]))[0] == pytest.approx(1.0)
    assert beam.power(np.sin(np.deg2rad([25.0])), np.array([1.4e9]))[0] == 0.0  # beyond the file
    # wider than the Airy default: half power further out
    assert beam.power(np.sin(np.deg2rad(1.5)), 1.4e9) > AiryBeam().power(np.sin(np.deg2rad(1.5)), 1.4e9) + 0.1


def test_configured_beam_reaches_the_tile_beam(tmp_path, monkeypatch):
    path = write_synthetic_beam_file(tmp_path / "beam.h5")
    assert isinstance(beam_model("airy"), AiryBeam)
    monkeypatch.setenv("DSA110_PRIMARY_BEAM", str(path))
    assert isinstance(beam_model(), MeasuredBeam) and beam_model() is beam_model(str(path))
    pointing = SkyCoord(120 * u.deg, 54.5 * u.deg)
    t = Time("2025-10-13T13:30:00")
    at_mid = dict(time_samples=1)  # the beam at mid-time: one off-axis angle to compare
    tile = DriftScanBeam(pointing, t, t - 150 * u.s, t + 150 * u.s, [1.4e9] * u.Hz, **at_mid)
    off = SkyCoord(120 * u.deg, 56.0 * u.deg)
    measured = tile.response(off)
    airy = DriftScanBeam(pointing, t, t - 150 * u.s, t + 150 * u.s, [1.4e9] * u.Hz, model=AiryBeam(),
                         **at_mid).response(off)
    assert measured == pytest.approx(expected_power(np.sin(np.deg2rad(1.5)), 1.4e9, 3.6, 4.2), rel=0.01)
    assert measured > airy + 0.1


def test_bad_beam_file_names_itself(tmp_path):
    bad = tmp_path / "not-a-beam.h5"
    import h5py

    with h5py.File(bad, "w") as f:
        f["freq_Hz"] = [1400.0]
    with pytest.raises(ValueError, match="not-a-beam.h5"):
        MeasuredBeam.from_hdf5(bad)
