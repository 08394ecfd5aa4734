"""The DSA-110 primary beam: THE home of the dish response model.

A DSA-110 dish is a 4.65 m paraboloid; its power pattern is modelled as the
Airy pattern of a uniformly illuminated aperture,

    A(theta, nu) = (2 J1(x) / x)^2,   x = pi D sin(theta) / lambda,

(FWHM ~ 1.03 lambda / D ~ 2.7 deg at 1.4 GHz). The dishes stay fixed on the
meridian (hour angle 0, pointing declination) while the sky drifts through,
so over one ~5-minute tile a source sees the beam move ~1.3 deg cos(dec) in
RA. The effective beam of a tile image is therefore the Airy power pattern
averaged over the tile's hour-angle range and over the band:

    B(ra, dec) = < A(theta(ra, dec; t), nu) >_{t, nu}.

Dividing the tile image by B restores intrinsic flux densities.
"""

from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.time import Time
from astropy.wcs import WCS
from scipy.interpolate import RectBivariateSpline
from scipy.special import j1

from dsa110_resources import constants as C

#: Earth rotation relative to the stars: sidereal radians per SI second.

#: Coarse-grid points per side when the beam is evaluated for an image; the
#: beam varies on degree scales, so a cubic spline through ~200^2 exact values
#: reproduces it to < 1e-5 anywhere on the image.
COARSE_POINTS = 200


def airy_power(sin_theta: np.ndarray, freq_hz: np.ndarray, diameter_m: float) -> np.ndarray:
    """(2 J1(x)/x)^2 with x = pi D sin(theta) / lambda; broadcasting, plain floats.

    Kept unit-free because it sits in the inner loop; callers convert.
    """
    x = np.pi * diameter_m * np.asarray(sin_theta) * np.asarray(freq_hz) / 299_792_458.0
    safe = np.where(np.abs(x) < 1e-8, 1.0, x)
    return np.where(np.abs(x) < 1e-8, 1.0, (2.0 * j1(safe) / safe) ** 2)


def airy_beam(theta: u.Quantity, freq: u.Quantity, diameter: u.Quantity = C.DISH_DIAMETER) -> np.ndarray:
    """Airy power response at angle ``theta`` off axis and frequency ``freq``."""
    return airy_power(
        np.sin(theta.to_value(u.rad)), freq.to_value(u.Hz), diameter.to_value(u.m)
    )


def _sin_separation(ra1, dec1, ra2, dec2) -> np.ndarray:
    """sin of the angular separation (radians in), by the haversine formula."""
    hav = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    theta = 2 * np.arcsin(np.sqrt(np.clip(hav, 0.0, 1.0)))
    return np.sin(theta)


@dataclass(frozen=True)
class DriftScanBeam:
    """The beam of one drift-scan tile: pointing track, times and band sampled.

    ``pointing_mid`` is the ICRS position of the meridian point (hour angle 0,
    pointing declination) at ``mid_time``; the MS FIELD holds exactly this
    (see DESIGN.md, MS conventions). At another time t the dish points at the
    same declination of date and at RA advanced by the sidereal rate. Moving
    along the ICRS rather than the of-date declination circle errs by
    ~|dt| * precession angle, < 20 arcsec over a tile: negligible on a beam of
    2.7 deg, and it spares an Earth-orientation lookup.
    """

    pointing_mid: SkyCoord
    mid_time: Time
    start_time: Time
    end_time: Time
    frequencies: u.Quantity  # channel centres carrying data
    time_samples: int = 9
    freq_samples: int = 5
    diameter: u.Quantity = C.DISH_DIAMETER

    def sample_offsets(self) -> u.Quantity:
        """Times sampled across the tile, relative to mid-time."""
        span = np.linspace(0.0, 1.0, max(1, self.time_samples))
        if self.time_samples == 1:
            span = np.array([0.5])
        t = self.start_time + (self.end_time - self.start_time) * span
        return (t - self.mid_time).to(u.s)

    def sample_frequencies(self) -> u.Quantity:
        """Evenly spaced picks from the channels with data (gaps in the band are skipped)."""
        freqs = np.sort(np.atleast_1d(self.frequencies.to(u.Hz)))
        if self.freq_samples >= len(freqs):
            return freqs
        if self.freq_samples == 1:
            return freqs[len(freqs) // 2 : len(freqs) // 2 + 1]
        picks = np.round(np.linspace(0, len(freqs) - 1, self.freq_samples)).astype(int)
        return freqs[picks]

    def pointing_track(self) -> SkyCoord:
        """Where the dish points at each sampled time (ICRS)."""
        dra = (C.SIDEREAL_RATE * self.sample_offsets()).to(u.rad)
        ra = self.pointing_mid.ra + dra
        dec = np.full(dra.shape, self.pointing_mid.dec.to_value(u.rad)) * u.rad
        return SkyCoord(ra=ra, dec=dec, frame="icrs")

    def response(self, coords: SkyCoord) -> np.ndarray:
        """Tile-averaged power response at sky positions (any shape)."""
        track = self.pointing_track()
        ra = np.asarray(coords.icrs.ra.to_value(u.rad))[..., None]
        dec = np.asarray(coords.icrs.dec.to_value(u.rad))[..., None]
        sin_theta = _sin_separation(ra, dec, track.ra.to_value(u.rad), track.dec.to_value(u.rad))
        freqs = self.sample_frequencies().to_value(u.Hz)
        power = airy_power(sin_theta[..., None], freqs, self.diameter.to_value(u.m))
        return power.mean(axis=(-2, -1))

    def on_grid(self, wcs: WCS, shape: tuple[int, int]) -> np.ndarray:
        """The averaged beam on an image grid (ny, nx), float32.

        Exact on a coarse grid of pixel positions, cubic-spline interpolated
        to every pixel; pixels off the projection's sky get 0.
        """
        celestial = wcs.celestial
        ny, nx = shape
        ys = _coarse_axis(ny)
        xs = _coarse_axis(nx)
        gx, gy = np.meshgrid(xs, ys)
        world = celestial.pixel_to_world(gx, gy)
        coarse = self.response(world)
        coarse = np.nan_to_num(coarse, nan=0.0)
        if len(xs) == nx and len(ys) == ny:
            return coarse.astype(np.float32)
        spline = RectBivariateSpline(ys, xs, coarse, kx=min(3, len(ys) - 1), ky=min(3, len(xs) - 1))
        full = spline(np.arange(ny), np.arange(nx))
        return np.clip(full, 0.0, 1.0).astype(np.float32)


def _coarse_axis(n: int) -> np.ndarray:
    if n <= COARSE_POINTS:
        return np.arange(n, dtype=float)
    return np.linspace(0.0, n - 1.0, COARSE_POINTS)


def correct(image: np.ndarray, beam: np.ndarray, limit: float = C.PRIMARY_BEAM_LIMIT) -> np.ndarray:
    """image / beam, NaN where the beam is below ``limit`` (or the image is blank)."""
    if not 0.0 < limit <= 1.0:
        raise ValueError(f"primary-beam limit must be in (0, 1], got {limit}")
    with np.errstate(divide="ignore", invalid="ignore"):
        corrected = np.where(beam >= limit, image / beam, np.nan)
    return corrected.astype(np.float32)
