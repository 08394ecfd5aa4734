"""A common restoring beam for a set of tiles, and the convolution to reach it.

Tiles imaged at different times have slightly different restoring beams; a
linear mosaic of images in Jy/beam is only meaningful if they share one. The
common beam is the smallest-area elliptical Gaussian that *encloses* every
input beam (its covariance minus each input's is positive semi-definite), so
each tile reaches it by convolving with a Gaussian whose covariance is that
difference. The convolution is done in Fourier space with the analytic
transfer function exp(-2 pi^2 f^T K f) (no kernel image, exact for any
ellipse), and the result is rescaled by the beam-area ratio so that a point
source keeps its peak value = flux density in Jy/beam.

Beams are handled as 2x2 covariance matrices in (east, north) arcsec^2.
"""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
import scipy.fft
from astropy.wcs import WCS

from dsa110_resources.photometry.forced import RestoringBeam

_FWHM_TO_SIGMA = 1.0 / math.sqrt(8.0 * math.log(2.0))

#: The common beam is grown by this fraction over the exact minimum so every
#: difference kernel is safely positive definite (a 0.1 % larger beam is
#: invisible; a kernel with a negative eigenvalue would sharpen the image).
ENCLOSING_MARGIN = 1e-3


def beam_covariance(beam: RestoringBeam) -> np.ndarray:
    """(east, north) covariance of the beam in arcsec^2."""
    s_maj = beam.major.to_value(u.arcsec) * _FWHM_TO_SIGMA
    s_min = beam.minor.to_value(u.arcsec) * _FWHM_TO_SIGMA
    pa = beam.pa.to_value(u.rad)
    major = np.array([math.sin(pa), math.cos(pa)])
    minor = np.array([math.cos(pa), -math.sin(pa)])
    return s_maj**2 * np.outer(major, major) + s_min**2 * np.outer(minor, minor)


def beam_from_covariance(cov: np.ndarray) -> RestoringBeam:
    """Inverse of :func:`beam_covariance` (PA east of north in (-90, 90])."""
    values, vectors = np.linalg.eigh(cov)
    s_min, s_maj = np.sqrt(np.clip(values, 0.0, None))
    east, north = vectors[:, 1]
    pa = math.degrees(math.atan2(east, north))
    pa = (pa + 90.0) % 180.0 - 90.0
    return RestoringBeam(s_maj / _FWHM_TO_SIGMA * u.arcsec, s_min / _FWHM_TO_SIGMA * u.arcsec, pa * u.deg)


def encloses(outer: RestoringBeam, inner: RestoringBeam, tolerance: float = 1e-9) -> bool:
    """True if ``inner`` can be convolved up to ``outer`` (outer - inner is PSD)."""
    diff = beam_covariance(outer) - beam_covariance(inner)
    scale = max(np.trace(beam_covariance(outer)), 1e-30)
    return bool(np.linalg.eigvalsh(diff)[0] >= -tolerance * scale)


def _min_area_for_orientation(covs: np.ndarray, angles: np.ndarray, t: np.ndarray):
    """Best enclosing ellipse with its axes along each of ``angles`` (radians).

    In the frame rotated by the angle each input is [[p, q], [q, r]]; the
    candidate diag(a, b) encloses it iff a >= p, b >= r, (a - p)(b - r) >= q^2,
    so for a given a the smallest feasible b is max_i(r_i + q_i^2/(a - p_i)).
    ``a`` runs over p_max * (1 + t). Returns (area^2, a, b) per angle.
    """
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
    xx, xy, yy = covs[:, 0, 0][None], covs[:, 0, 1][None], covs[:, 1, 1][None]
    p = c * c * xx + 2 * c * s * xy + s * s * yy  # (angles, inputs)
    r = s * s * xx - 2 * c * s * xy + c * c * yy
    q = -c * s * xx + (c * c - s * s) * xy + c * s * yy
    p_max = p.max(axis=1, keepdims=True)
    a = p_max * (1 + t[None, :])  # (angles, grid)
    b = np.max(r[:, None, :] + q[:, None, :] ** 2 / (a[:, :, None] - p[:, None, :]), axis=2)
    det = a * b
    best = np.argmin(det, axis=1)
    rows = np.arange(len(angles))
    return det[rows, best], a[rows, best], b[rows, best]


def common_beam(beams: list[RestoringBeam], margin: float = ENCLOSING_MARGIN) -> RestoringBeam:
    """Smallest-area beam enclosing all ``beams`` (grown by ``margin``).

    When one input already encloses the rest it is the answer (the usual
    case). Otherwise a search over orientation (0.5 deg steps, then 0.01 deg) and major
    variance, each candidate feasible by construction (see
    ``_min_area_for_orientation``), refined once around the best; the area
    found is within ~1e-4 of the optimum, far below the margin's effect.
    """
    if not beams:
        raise ValueError("no beams to enclose")
    covs = [beam_covariance(b) for b in beams]
    largest = int(np.argmax([np.linalg.det(c) for c in covs]))
    if all(encloses(beams[largest], b) for b in beams):
        return beam_from_covariance(covs[largest] * (1.0 + margin) ** 2)
    stack = np.array(covs)
    angles = np.radians(np.arange(0.0, 180.0, 0.5))
    t = np.geomspace(1e-6, 20.0, 300)
    det, a, b = _min_area_for_orientation(stack, angles, t)
    k = int(np.argmin(det))
    fine = angles[k] + np.radians(np.linspace(-0.5, 0.5, 101))
    t_fine = np.geomspace(1e-8, 20.0, 2000)
    det, a, b = _min_area_for_orientation(stack, fine, t_fine)
    k2 = int(np.argmin(det))
    angle, a_best, b_best = fine[k2], a[k2], b[k2]
    # diag(a, b) in the frame rotated by angle -> (east, north).
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    best = rot @ np.diag([a_best, b_best]) @ rot.T
    return beam_from_covariance(best * (1.0 + margin) ** 2)


def _pixel_covariance(beam: RestoringBeam, wcs: WCS) -> np.ndarray:
    return beam.pixel_covariance(wcs)


def kernel_covariance(source: RestoringBeam, target: RestoringBeam, wcs: WCS) -> np.ndarray:
    """Pixel covariance of the Gaussian taking ``source`` to ``target`` on this grid (PSD-clipped)."""
    diff = _pixel_covariance(target, wcs) - _pixel_covariance(source, wcs)
    values, vectors = np.linalg.eigh(diff)
    scale = max(abs(values).max(), 1e-30)
    if values[0] < -1e-6 * scale:
        raise ValueError(f"target beam {target} does not enclose {source}")
    values = np.clip(values, 0.0, None)
    return vectors @ np.diag(values) @ vectors.T


def flux_scale(source: RestoringBeam, target: RestoringBeam) -> float:
    """Beam-area ratio target/source: keeps a point source's peak in Jy/beam."""
    return float(math.sqrt(np.linalg.det(beam_covariance(target)) / np.linalg.det(beam_covariance(source))))


def noise_scale(source: RestoringBeam, target: RestoringBeam) -> float:
    """Factor on an image's noise (Jy/beam) after convolution to ``target`` and rescaling.

    For noise whose autocorrelation has the source beam's shape (covariance
    C_s), convolving with the kernel (C_t - C_s) multiplies the noise power
    spectrum by exp(-f^T (C_t - C_s) f); integrating gives a variance factor
    sqrt(det C_s / det(2 C_t - C_s)); the area rescaling adds det C_t / det C_s.
    """
    cs, ct = beam_covariance(source), beam_covariance(target)
    return float(math.sqrt(np.linalg.det(ct)) / (np.linalg.det(cs) * np.linalg.det(2 * ct - cs)) ** 0.25)


def convolve_to(image: np.ndarray, source: RestoringBeam, target: RestoringBeam, wcs: WCS,
                workers: int = 1) -> np.ndarray:
    """``image`` (Jy/beam of ``source``) convolved to ``target``, in Jy/beam of ``target``.

    NaNs count as zero (the caller masks them with the primary beam). The FFT
    is padded by four kernel sigmas so the circular wrap never reaches the
    image; float32 in, float32 out (complex64 spectrum: ~2x the image in memory).
    """
    kernel = kernel_covariance(source, target, wcs)
    scale = flux_scale(source, target)
    data = np.nan_to_num(np.asarray(image, dtype=np.float32), copy=True, nan=0.0)
    if np.allclose(kernel, 0.0):
        data *= np.float32(scale)
        return data
    ny, nx = data.shape
    pad_y = int(math.ceil(4 * math.sqrt(kernel[1, 1]))) + 1
    pad_x = int(math.ceil(4 * math.sqrt(kernel[0, 0]))) + 1
    fy = scipy.fft.next_fast_len(ny + pad_y, real=True)
    fx = scipy.fft.next_fast_len(nx + pad_x, real=True)
    spectrum = scipy.fft.rfft2(data, s=(fy, fx), workers=workers)
    del data
    ky = scipy.fft.fftfreq(fy).astype(np.float32)[:, None]
    kx = scipy.fft.rfftfreq(fx).astype(np.float32)[None, :]
    # Transfer function of the normalised Gaussian (sum 1), in cycles per pixel.
    exponent = (-2 * math.pi**2) * (kernel[0, 0] * kx * kx + 2 * kernel[0, 1] * kx * ky + kernel[1, 1] * ky * ky)
    spectrum *= np.exp(exponent).astype(np.float32) * np.float32(scale)
    out = scipy.fft.irfft2(spectrum, s=(fy, fx), workers=workers)[:ny, :nx]
    return np.ascontiguousarray(out, dtype=np.float32)
