"""Forced photometry: flux density at known positions on a restored FITS image.

At each catalog position we fit one number, the amplitude of the restoring
beam (an elliptical Gaussian from BMAJ/BMIN/BPA) centred exactly there, by
least squares over a small box after subtracting a local background. For an
unresolved source the fitted amplitude in Jy/beam *is* its flux density in Jy.
Fixing position and shape (Condon 1997, "known position" case) removes the
positive bias a free fit has at low S/N, so faint and non-detected sources get
unbiased fluxes with honest errors, which is what light curves need.

Errors. Image noise is correlated over a beam (its autocorrelation is the
synthesised beam, which we model by the restoring beam), so the usual
``rms / sqrt(sum K^2)`` is far too small. We propagate the correlation exactly
for the fit's box: ``var(A) = rms^2 * sum_ij K_i K_j rho_ij / (sum K^2)^2``,
computed once per image (all sources share the beam), plus the error of the
background level, which depends on the number of independent beams in the
annulus. ``rms`` and the background are measured per source with the median
and MAD of a sampled annulus (robust to the source itself and to neighbours),
on the residual image when one is given.

Everything is vectorised over sources: boxes are gathered with one fancy-index
into the image, so 1000 sources on a 4800^2 tile take well under a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from scipy.spatial import cKDTree

from dsa110_resources.constants import PRIMARY_BEAM_LIMIT

__all__ = [
    "RestoringBeam",
    "FitsPlane",
    "ForcedPhotometryOptions",
    "forced_photometry",
    "forced_photometry_image",
    "forced_photometry_bands",
    "read_plane",
]

_FWHM_TO_SIGMA = 1.0 / math.sqrt(8.0 * math.log(2.0))
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class RestoringBeam:
    """Elliptical Gaussian beam: FWHM major/minor and position angle (east of north)."""

    major: u.Quantity
    minor: u.Quantity
    pa: u.Quantity

    @classmethod
    def from_header(cls, header: fits.Header) -> RestoringBeam:
        """Read BMAJ/BMIN/BPA (degrees, as WSClean and CASA write them)."""
        missing = [k for k in ("BMAJ", "BMIN") if k not in header]
        if missing:
            raise KeyError(f"image header lacks {missing}: cannot do beam-weighted photometry")
        return cls(header["BMAJ"] * u.deg, header["BMIN"] * u.deg, header.get("BPA", 0.0) * u.deg)

    def pixel_covariance(self, wcs: WCS) -> np.ndarray:
        """2x2 Gaussian covariance of the beam in pixel units (x, y) for this WCS.

        The beam is defined in (east, north) offsets; the WCS's linear part
        (deg/pixel, including any rotation or flip) maps pixels to those
        intermediate coordinates, so Sigma_pix = M^-1 Sigma_sky M^-T.
        """
        s_maj = self.major.to_value(u.deg) * _FWHM_TO_SIGMA
        s_min = self.minor.to_value(u.deg) * _FWHM_TO_SIGMA
        pa = self.pa.to_value(u.rad)
        major_dir = np.array([math.sin(pa), math.cos(pa)])  # (east, north)
        minor_dir = np.array([math.cos(pa), -math.sin(pa)])
        cov_sky = s_maj**2 * np.outer(major_dir, major_dir) + s_min**2 * np.outer(minor_dir, minor_dir)
        m_inv = np.linalg.inv(wcs.celestial.pixel_scale_matrix)
        # Intermediate world x runs toward east (increasing RA) in FITS convention.
        return m_inv @ cov_sky @ m_inv.T


@dataclass
class FitsPlane:
    """One 2-D image plane with its celestial WCS and header."""

    data: np.ndarray
    wcs: WCS
    header: fits.Header

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape


def read_plane(path: str | Path) -> FitsPlane:
    """Read the first Stokes/frequency plane of a (possibly 4-D) FITS image."""
    with fits.open(path, memmap=True) as hdul:
        hdu = hdul[0]
        data = hdu.data
        while data.ndim > 2:
            data = data[0]
        return FitsPlane(np.array(data, dtype=np.float32), WCS(hdu.header).celestial, hdu.header.copy())


@dataclass(frozen=True)
class ForcedPhotometryOptions:
    """Knobs of the forced fit, with the defaults the pipeline uses.

    box_sigmas: half-size of the fit box in beam sigmas (2.5 sigma ~ 1.06 FWHM
        holds 95% of the beam's weight while keeping neighbours out).
    annulus_fwhm: inner/outer radius of the background annulus in units of the
        beam's major FWHM (outside the source's own sidelobes, still local).
    annulus_samples: roughly how many pixels of the annulus to use; enough for
        a MAD good to a few % without gathering ~1e5 pixels per source.
    pb_limit: sources where the primary beam is below this are skipped.
    """

    box_sigmas: float = 2.5
    annulus_fwhm: tuple[float, float] = (2.0, 5.0)
    annulus_samples: int = 2000
    pb_limit: float = PRIMARY_BEAM_LIMIT


def _beam_kernel_inverse(cov: np.ndarray) -> tuple[float, float, float]:
    inv = np.linalg.inv(cov)
    return float(inv[0, 0]), float(inv[0, 1]), float(inv[1, 1])


def _box_offsets(cov: np.ndarray, box_sigmas: float) -> tuple[np.ndarray, np.ndarray]:
    hx = max(1, math.ceil(box_sigmas * math.sqrt(cov[0, 0])))
    hy = max(1, math.ceil(box_sigmas * math.sqrt(cov[1, 1])))
    oy, ox = np.mgrid[-hy : hy + 1, -hx : hx + 1]
    return ox.ravel(), oy.ravel()


def _annulus_offsets(radius_in: float, radius_out: float, samples: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Integer offsets on a strided grid inside the annulus; returns the area each sample stands for."""
    area = math.pi * (radius_out**2 - radius_in**2)
    stride = max(1, int(math.sqrt(area / max(samples, 1))))
    r = int(math.ceil(radius_out))
    grid = np.arange(-r, r + 1, stride)
    oy, ox = np.meshgrid(grid, grid, indexing="ij")
    rr = np.hypot(ox, oy)
    keep = (rr >= radius_in) & (rr <= radius_out)
    return ox[keep], oy[keep], float(stride**2)


def _gather(data: np.ndarray, ix: np.ndarray, iy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = data.shape
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    vals = data[np.clip(iy, 0, ny - 1), np.clip(ix, 0, nx - 1)].astype(np.float64)
    good = inside & np.isfinite(vals)
    return np.where(good, vals, 0.0), good


def _correlation_factor(cov_beam: np.ndarray, cov_noise: np.ndarray, ox: np.ndarray, oy: np.ndarray) -> float:
    """sum_ij K_i K_j rho_ij / (sum K^2)^2 for a source at a box centre.

    K is the beam, rho the noise autocorrelation (peak 1). Same for every
    source of an image, so it is computed once; the double sum is K . (rho * K),
    a 2-D convolution over the box (FFT), not a P^2 pair matrix.
    """
    from scipy.signal import fftconvolve

    hx, hy = int(ox.max()), int(oy.max())
    a, b, c = _beam_kernel_inverse(cov_beam)
    kern = np.exp(-0.5 * (a * ox**2 + 2 * b * ox * oy + c * oy**2)).reshape(2 * hy + 1, 2 * hx + 1)
    ry, rx = np.mgrid[-2 * hy : 2 * hy + 1, -2 * hx : 2 * hx + 1]
    an, bn, cn = _beam_kernel_inverse(cov_noise)
    rho = np.exp(-0.5 * (an * rx**2 + 2 * bn * rx * ry + cn * ry**2))
    smoothed = fftconvolve(kern, rho, mode="same")
    return float(np.sum(kern * smoothed) / np.sum(kern**2) ** 2)


def _clipped_median_rms(samples: np.ndarray, clip: float = 3.0, iterations: int = 2):
    """Row-wise median and MAD-rms, re-estimated after clipping at ``clip`` sigma.

    Neighbouring sources inside the annulus inflate a plain MAD by ~10% and
    lift the median; clipping them (a Gaussian loses 0.3% at 3 sigma) fixes both.
    """
    values = samples
    for _ in range(iterations + 1):
        centre = np.nanmedian(values, axis=1)
        rms = _MAD_TO_SIGMA * np.nanmedian(np.abs(values - centre[:, None]), axis=1)
        values = np.where(np.abs(samples - centre[:, None]) <= clip * rms[:, None], samples, np.nan)
    return centre, rms


def forced_photometry(
    image: FitsPlane,
    positions: SkyCoord,
    *,
    beam: RestoringBeam | None = None,
    residual: FitsPlane | None = None,
    primary_beam: FitsPlane | None = None,
    noise_beam: RestoringBeam | None = None,
    source_ids=None,
    options: ForcedPhotometryOptions = ForcedPhotometryOptions(),
) -> pd.DataFrame:
    """Beam-weighted forced fluxes at ``positions`` on ``image``.

    image: the restored image, *not* primary-beam corrected, in Jy/beam.
    primary_beam: beam-response plane (any grid with a WCS); fluxes and errors
        are divided by it and sources below ``options.pb_limit`` are dropped.
        Without it, fluxes are apparent (pb_gain = 1).
    residual: residual plane on the same grid; used for the rms when given.
    noise_beam: shape of the noise autocorrelation; the restoring beam by default.

    Returns one row per measured source: source_id, ra_deg, dec_deg, x_pix,
    y_pix, flux_jy, flux_err_jy, apparent_flux_jy, background_jy_beam,
    local_rms_jy_beam, pb_gain, snr, blended (another position within one beam
    FWHM), edge (box partly off the image or blanked).
    """
    beam = beam or RestoringBeam.from_header(image.header)
    noise_beam = noise_beam or beam
    n = len(positions)
    ids = np.arange(n) if source_ids is None else np.asarray(source_ids)
    x, y = image.wcs.world_to_pixel(positions)
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ny, nx = image.shape

    pb_gain = np.ones(n)
    if primary_beam is not None:
        px, py = primary_beam.wcs.world_to_pixel(positions)
        ipx, ipy = np.rint(px).astype(int), np.rint(py).astype(int)
        pb_vals, pb_ok = _gather(primary_beam.data, ipx, ipy)
        pb_gain = np.where(pb_ok, pb_vals, 0.0)
    keep = (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5) & (pb_gain >= options.pb_limit)
    keep &= np.isfinite(x) & np.isfinite(y)
    x, y, ids, pb_gain, positions = x[keep], y[keep], ids[keep], pb_gain[keep], positions[keep]

    cov = beam.pixel_covariance(image.wcs)
    a, b, c = _beam_kernel_inverse(cov)
    ox, oy = _box_offsets(cov, options.box_sigmas)
    ix0 = np.rint(x).astype(int)
    iy0 = np.rint(y).astype(int)

    # Background and rms from a sampled annulus around each source.
    fwhm_major_pix = math.sqrt(np.linalg.eigvalsh(cov)[-1]) / _FWHM_TO_SIGMA
    r_in, r_out = (f * fwhm_major_pix for f in options.annulus_fwhm)
    ax, ay, area_per_sample = _annulus_offsets(r_in, r_out, options.annulus_samples)
    ann, ann_ok = _gather(image.data, ix0[:, None] + ax, iy0[:, None] + ay)
    ann = np.where(ann_ok, ann, np.nan)
    background, rms = _clipped_median_rms(ann)
    if residual is not None:
        res, res_ok = _gather(residual.data, ix0[:, None] + ax, iy0[:, None] + ay)
        _, rms = _clipped_median_rms(np.where(res_ok, res, np.nan))
    n_ann = np.sum(ann_ok, axis=1)

    # Amplitude fit over the box.
    bx = ix0[:, None] + ox
    by = iy0[:, None] + oy
    vals, good = _gather(image.data, bx, by)
    dx = bx - x[:, None]
    dy = by - y[:, None]
    kern = np.exp(-0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy)) * good
    sum_k2 = np.sum(kern * kern, axis=1)
    sum_k = np.sum(kern, axis=1)
    amplitude = np.sum(kern * (vals - background[:, None]), axis=1) / sum_k2

    corr = _correlation_factor(cov, noise_beam.pixel_covariance(image.wcs), ox, oy)
    # Background error: the median of n_indep independent beams, n_indep = area / noise-beam area.
    noise_cov = noise_beam.pixel_covariance(image.wcs)
    beam_area_pix = 2 * math.pi * math.sqrt(np.linalg.det(noise_cov))
    n_indep = np.maximum(n_ann * area_per_sample / beam_area_pix, 1.0)
    var_bg = (math.pi / 2) * rms**2 / n_indep
    full_box = np.all(good, axis=1)
    # Partial boxes: scale the full-box factor by the lost kernel power (an approximation, flagged).
    corr_each = np.where(full_box, corr, corr * np.max(sum_k2, initial=0.0) / np.maximum(sum_k2, 1e-30))
    var_amp = rms**2 * corr_each + (sum_k / sum_k2) ** 2 * var_bg
    err = np.sqrt(var_amp)

    blended = np.zeros(len(x), bool)
    if len(x) > 1:
        tree = cKDTree(np.column_stack([x, y]))
        counts = tree.query_ball_point(np.column_stack([x, y]), r=fwhm_major_pix, return_length=True)
        blended = counts > 1

    return pd.DataFrame(
        {
            "source_id": ids,
            "ra_deg": positions.icrs.ra.deg,
            "dec_deg": positions.icrs.dec.deg,
            "x_pix": x,
            "y_pix": y,
            "flux_jy": amplitude / pb_gain,
            "flux_err_jy": err / pb_gain,
            "apparent_flux_jy": amplitude,
            "background_jy_beam": background,
            "local_rms_jy_beam": rms,
            "pb_gain": pb_gain,
            "snr": amplitude / err,
            "blended": blended,
            "edge": ~full_box,
        }
    )


def _epoch_mjd(header: fits.Header) -> float:
    if "MJD-OBS" in header:
        return float(header["MJD-OBS"])
    if "DATE-OBS" in header:
        return float(Time(header["DATE-OBS"], scale="utc").mjd)
    return float("nan")


def _frequency_hz(header: fits.Header) -> float:
    for i in range(1, header.get("NAXIS", 0) + 1):
        if str(header.get(f"CTYPE{i}", "")).upper().startswith("FREQ"):
            return float(header[f"CRVAL{i}"])
    return float(header.get("RESTFRQ", header.get("FREQ", float("nan"))))


def forced_photometry_image(
    image_path: str | Path,
    positions: SkyCoord,
    *,
    pb_path: str | Path | None = None,
    residual_path: str | Path | None = None,
    source_ids=None,
    band: str = "full",
    options: ForcedPhotometryOptions = ForcedPhotometryOptions(),
) -> pd.DataFrame:
    """Forced photometry from FITS files; adds epoch_mjd, band, freq_hz and image columns."""
    image = read_plane(image_path)
    table = forced_photometry(
        image,
        positions,
        residual=read_plane(residual_path) if residual_path else None,
        primary_beam=read_plane(pb_path) if pb_path else None,
        source_ids=source_ids,
        options=options,
    )
    table["epoch_mjd"] = _epoch_mjd(image.header)
    table["band"] = band
    table["freq_hz"] = _frequency_hz(image.header)
    table["image"] = str(image_path)
    return table


def forced_photometry_bands(
    images: dict[str, str | Path],
    positions: SkyCoord,
    *,
    pb_paths: dict[str, str | Path] | None = None,
    source_ids=None,
    options: ForcedPhotometryOptions = ForcedPhotometryOptions(),
) -> pd.DataFrame:
    """Forced photometry on several sub-band images of one epoch (band label -> image path).

    Chromatic events (ESEs go as lambda^2) show different depths per band,
    calibration glitches do not; keeping per-band rows lets the ESE stage tell.
    """
    tables = [
        forced_photometry_image(
            path,
            positions,
            pb_path=(pb_paths or {}).get(band),
            source_ids=source_ids,
            band=band,
            options=options,
        )
        for band, path in images.items()
    ]
    return pd.concat(tables, ignore_index=True)
