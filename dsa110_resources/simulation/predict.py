"""Visibility prediction for point sources in a meridian drift scan.

Geometry: everything is computed in the local East-North-Up frame of the array
reference. Source directions at each integration come from astropy (ICRS ->
AltAz, no refraction), antenna positions are ENU offsets, and the phase centre
is the meridian point (apparent HA 0 at the pointing declination) expressed
as a fixed alt-az direction (a pyuvdata ``driftscan`` centre).

Convention (pyuvdata's: uvw = x_ant2 - x_ant1, ``UVData.phase`` multiplies by
exp(-2 pi i dw / lambda)):

    V_ab(nu) = sum_k S_k(nu) A_k(nu) exp(+2 pi i nu (x_b - x_a) . (s_k - s0) / c)

Method, and why: the phase factorises per antenna, so for each integration
and channel V = E W E^H with E_ak = exp(-2 pi i nu x_a.(s_k - s0)/c) and W the
diagonal of apparent fluxes. That turns the N_bl x N_src sum into a complex
Hermitian rank-k update done by BLAS cherk (exact: no gridding, no pixelisation of source
positions, which at 2.7 km baselines would need sub-arcsecond pixels over a
10 deg field). E across a subband's 48 channels is built by a recurrence
(phase is linear in nu: one complex multiply per channel instead of an exp),
in complex128 so 48 steps lose nothing, then cast to complex64 for the GEMM.
Cost ~ N_ant^2 N_src per channel-time; faint sources below an apparent-flux
cut are left out (listed in the truth), which keeps a full tile within budget.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import os

import astropy.units as u
import numpy as np
from astropy.constants import c as SPEED_OF_LIGHT
from astropy.coordinates import AltAz, HADec, SkyCoord
from astropy.time import Time
from scipy.linalg import blas

from dsa110_resources.imaging.primary_beam import BeamModel

__all__ = [
    "beam_power",
    "enu_unit_vectors",
    "meridian_altaz",
    "predict_subband",
    "source_directions",
]

C_M_S = SPEED_OF_LIGHT.to_value(u.m / u.s)


@contextlib.contextmanager
def single_threaded_blas():
    """Run scipy's OpenBLAS single-threaded inside the block.

    The per-channel rank-k updates are small (96 x n_src); OpenBLAS threads
    on them spin and, on a shared 2-core machine, made prediction ~20x slower
    than one thread. Best effort: if the library is not found, nothing changes.
    """
    lib = _scipy_openblas()
    if lib is None:
        yield
        return
    previous = lib.scipy_openblas_get_num_threads()
    lib.scipy_openblas_set_num_threads(1)
    try:
        yield
    finally:
        lib.scipy_openblas_set_num_threads(previous)


@functools.cache
def _scipy_openblas():
    import scipy

    libs = sorted(glob.glob(os.path.join(os.path.dirname(scipy.__file__), "..", "scipy.libs", "libscipy_openblas*.so")))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            lib.scipy_openblas_get_num_threads.restype = ctypes.c_int
            lib.scipy_openblas_set_num_threads.argtypes = [ctypes.c_int]
            return lib
        except (OSError, AttributeError):
            continue
    return None


def enu_unit_vectors(az_rad, alt_rad) -> np.ndarray:
    """Unit vectors (E, N, U) for azimuth (from north through east) and altitude."""
    az, alt = np.asarray(az_rad), np.asarray(alt_rad)
    return np.stack([np.sin(az) * np.cos(alt), np.cos(az) * np.cos(alt), np.sin(alt)], axis=-1)


def meridian_altaz(declination: u.Quantity, time: Time, location) -> tuple[u.Quantity, u.Quantity]:
    """Alt-az of the meridian point (apparent HA 0, given dec of date).

    Computed through astropy (HADec -> AltAz) rather than 90 - |lat - dec|, so
    the polar-motion and geodetic details match the source directions exactly.
    """
    hadec = SkyCoord(ha=0 * u.deg, dec=declination, frame=HADec(obstime=time, location=location))
    altaz = hadec.transform_to(AltAz(obstime=time, location=location))
    return altaz.az.to(u.rad), altaz.alt.to(u.rad)


def source_directions(coords: SkyCoord, times: Time, location) -> np.ndarray:
    """ENU unit vectors of sources at each time: shape (n_times, n_src, 3)."""
    if len(coords) == 0:
        return np.zeros((len(times), 0, 3))
    frame = AltAz(obstime=times[:, None], location=location)
    altaz = SkyCoord(coords.ra[None, :], coords.dec[None, :], frame="icrs").transform_to(frame)
    return enu_unit_vectors(altaz.az.to_value(u.rad), altaz.alt.to_value(u.rad))


def beam_power(cos_theta: np.ndarray, freq_hz: np.ndarray, model: BeamModel) -> np.ndarray:
    """The dish's power pattern (``model``, see imaging.primary_beam) against cos(theta).

    ``cos_theta`` (...) against ``freq_hz`` (n_chan) -> (..., n_chan). Sources
    behind the dish (cos_theta <= 0) get zero.
    """
    cos_theta = np.asarray(cos_theta)
    sin_t = np.sqrt(np.clip(1.0 - cos_theta**2, 0.0, None))
    power = model.power(sin_t[..., None], np.asarray(freq_hz))
    return np.where(cos_theta[..., None] > 0, power, 0.0)


def predict_subband(
    antenna_enu: np.ndarray,
    rel_directions: np.ndarray,
    apparent_flux: np.ndarray,
    freqs_hz: np.ndarray,
    ant1_index: np.ndarray,
    ant2_index: np.ndarray,
) -> np.ndarray:
    """Sky visibilities of one subband.

    antenna_enu (n_ant, 3) m; rel_directions (n_t, n_src, 3) = s_k - s0;
    apparent_flux (n_t, n_chan, n_src) Jy (flux x beam); freqs_hz (n_chan,)
    uniformly spaced (either sign); ant1/ant2_index (n_bl,) into antenna_enu,
    with ant1_index <= ant2_index (the upper triangle BLAS cherk fills).
    Returns (n_t, n_bl, n_chan) complex64 in the convention of the module doc.
    """
    n_t, n_src = rel_directions.shape[:2]
    n_chan = len(freqs_hz)
    out = np.zeros((n_t, len(ant1_index), n_chan), np.complex64)
    if n_src == 0:
        return out
    df = freqs_hz[1] - freqs_hz[0] if n_chan > 1 else 0.0
    if np.any(apparent_flux < 0):
        raise ValueError("apparent fluxes must be >= 0 (V = A A^H needs sqrt(W))")
    sqrt_w = np.sqrt(apparent_flux)
    with single_threaded_blas():
        _predict_loop(out, antenna_enu, rel_directions, sqrt_w, freqs_hz, df, ant1_index, ant2_index)
    return out


def _predict_loop(out, antenna_enu, rel_directions, sqrt_w, freqs_hz, df, ant1_index, ant2_index):
    n_t, n_chan = out.shape[0], out.shape[2]
    for t in range(n_t):
        tau = antenna_enu @ rel_directions[t].T / C_M_S  # (n_ant, n_src) seconds
        e = np.exp(-2j * np.pi * freqs_hz[0] * tau)
        step = np.exp(-2j * np.pi * df * tau)
        for ch in range(n_chan):
            # Hermitian rank-k update: V = (E sqrt(W)) (E sqrt(W))^H, upper triangle.
            a = (e * sqrt_w[t, ch]).astype(np.complex64)
            v = blas.cherk(1.0, a)
            out[t, :, ch] = v[ant1_index, ant2_index]
            e *= step
