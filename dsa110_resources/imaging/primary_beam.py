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

The dish response A is pluggable (``BeamModel``): ``AiryBeam`` (the default)
or ``MeasuredBeam``, the Stokes-I power pattern of a measured E-field cube
(the DSA-110 beam file, ``DSA110_beam_1.h5``; layout in
``MeasuredBeam.from_hdf5``). ``beam_model()`` returns the configured one
(``DSA110_PRIMARY_BEAM``: ``airy`` or the path of such a file), and every
beam in the pipeline (image correction, sky models, mosaics of tiles, the
simulator) goes through it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.time import Time
from astropy.wcs import WCS
from scipy.interpolate import RectBivariateSpline, RegularGridInterpolator
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


class BeamModel(Protocol):
    """A dish's power response against off-axis angle and frequency."""

    name: str

    def power(self, sin_theta: np.ndarray, freq_hz: np.ndarray) -> np.ndarray:
        """Power response (1 on axis) at ``sin(theta)``, broadcast against ``freq_hz``."""


@dataclass(frozen=True)
class AiryBeam:
    """The Airy pattern of a uniformly illuminated dish of ``diameter_m``."""

    diameter_m: float = C.DISH_DIAMETER.to_value(u.m)

    @property
    def name(self) -> str:
        return f"airy (D = {self.diameter_m:g} m)"

    def power(self, sin_theta: np.ndarray, freq_hz: np.ndarray) -> np.ndarray:
        return airy_power(sin_theta, freq_hz, self.diameter_m)


@dataclass(frozen=True, eq=False)
class MeasuredBeam:
    """A measured beam, azimuthally averaged: power against (frequency, theta).

    Interpolated linearly in frequency (clamped to the measured range) and
    in theta; beyond the largest measured angle the response is 0.
    """

    source: str
    sha256: str
    freq_hz: np.ndarray  # (n_freq,) ascending
    theta_rad: np.ndarray  # (n_theta,) ascending from 0
    profile: np.ndarray  # (n_freq, n_theta), 1 on axis
    _interp: RegularGridInterpolator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_interp", RegularGridInterpolator(
            (self.freq_hz, self.theta_rad), self.profile, bounds_error=False, fill_value=0.0))

    @property
    def name(self) -> str:
        return f"measured ({Path(self.source).name}, sha256 {self.sha256[:12]})"

    @classmethod
    def from_hdf5(cls, path: str | Path) -> MeasuredBeam:
        """Read an E-field beam file in the DSA-110 layout:

        ``freq_Hz`` (n_freq,), ``theta_pts`` (n_theta,, degrees off axis,
        from 0), ``phi_pts`` (n_phi,, degrees), and complex far-field
        E-fields ``X_pol_Efields/{etheta,ephi}`` and ``Y-pol_Efields/{etheta,ephi}``
        (a ``Y_pol_Efields`` group is accepted too), each (n_freq, n_theta, n_phi).
        Stokes-I power is ``(|X_etheta|^2 + |X_ephi|^2 + |Y_etheta|^2 + |Y_ephi|^2) / 2``,
        averaged over phi and normalised to 1 on axis at each frequency. The
        real file labels MHz values ``freq_Hz``: values below 1e5 are read as MHz.
        """
        import h5py

        path = Path(path)
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        try:
            with h5py.File(path, "r") as f:
                freq = np.asarray(f["freq_Hz"][()], dtype=np.float64).reshape(-1)
                theta = np.deg2rad(np.asarray(f["theta_pts"][()], dtype=np.float64).reshape(-1))
                groups = [f["X_pol_Efields"], f["Y-pol_Efields"] if "Y-pol_Efields" in f else f["Y_pol_Efields"]]
                power = np.zeros((freq.size, theta.size))
                for k in range(freq.size):  # a frequency at a time: the real cube is ~350 MB
                    total = sum(np.abs(g[name][k]) ** 2 for g in groups for name in ("etheta", "ephi"))
                    power[k] = 0.5 * np.asarray(total).mean(axis=-1)
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not a beam file in the DSA-110 E-field layout ({exc})") from exc
        if freq.max() < 1e5:
            freq = freq * 1e6
        order = np.argsort(freq)
        if theta[0] != 0 or np.any(np.diff(theta) <= 0):
            raise ValueError(f"{path}: theta_pts must ascend from 0 deg")
        on_axis = power[:, :1]
        if np.any(on_axis <= 0):
            raise ValueError(f"{path}: zero on-axis response")
        return cls(str(path), digest.hexdigest(), freq[order], theta, (power / on_axis)[order])

    def power(self, sin_theta: np.ndarray, freq_hz: np.ndarray) -> np.ndarray:
        theta, freq = np.broadcast_arrays(np.arcsin(np.clip(np.asarray(sin_theta, dtype=float), -1, 1)),
                                          np.asarray(freq_hz, dtype=float))
        freq = np.clip(freq, self.freq_hz[0], self.freq_hz[-1])
        points = np.stack([freq.reshape(-1), np.abs(theta).reshape(-1)], axis=-1)
        return self._interp(points).reshape(theta.shape)


#: ``DSA110_PRIMARY_BEAM``: "airy" (the default) or the path of a beam file.
BEAM_ENV = "DSA110_PRIMARY_BEAM"


@functools.lru_cache(maxsize=4)
def _load_beam(spec: str) -> BeamModel:
    if spec.strip().lower() in ("", "airy"):
        return AiryBeam()
    return MeasuredBeam.from_hdf5(spec)


def beam_model(spec: str | os.PathLike | None = None) -> BeamModel:
    """The beam model ``spec`` names ("airy" or a beam file), by default the
    configured one (``DSA110_PRIMARY_BEAM``). Files are read once per process."""
    return _load_beam(str(spec if spec is not None else os.environ.get(BEAM_ENV, "airy")))


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
    model: BeamModel | None = None  # None: the configured beam_model()

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
        power = (self.model or beam_model()).power(sin_theta[..., None], freqs)
        return power.mean(axis=(-2, -1))

    def variation(self, coords: SkyCoord) -> np.ndarray:
        """Rms over the tile of the (band-averaged) power response about its tile average.

        A source's apparent flux changes this much while it drifts through the
        beam; CLEAN models a constant source, so this part of a bright source
        stays in the residual (see imaging.noise_gate).
        """
        track = self.pointing_track()
        ra = np.asarray(coords.icrs.ra.to_value(u.rad))[..., None]
        dec = np.asarray(coords.icrs.dec.to_value(u.rad))[..., None]
        sin_theta = _sin_separation(ra, dec, track.ra.to_value(u.rad), track.dec.to_value(u.rad))
        freqs = self.sample_frequencies().to_value(u.Hz)
        power = (self.model or beam_model()).power(sin_theta[..., None], freqs).mean(axis=-1)
        return power.std(axis=-1)

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
