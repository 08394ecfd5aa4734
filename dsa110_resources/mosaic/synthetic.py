"""Synthetic tile images with known truth, in the imaging module's FITS conventions.

Used by the proof tests and the benchmark: a row of drift-scan tiles along RA
(pointing advancing at the sidereal rate, one tile every TILE_DURATION),
each holding point sources x its drift-averaged primary beam
(imaging.primary_beam.DriftScanBeam, the same model the pipeline uses),
restored with its own elliptical beam, plus noise of known sigma correlated
like a real image's (white noise smoothed so its autocorrelation is the
restoring beam). Products per tile: ``<tile>.image.fits`` (beam-uncorrected),
``<tile>.pb.fits``, ``<tile>.residual.fits`` (the noise alone),
``<tile>.pbcor.fits``, 4-D (RA, Dec, FREQ, STOKES) like WSClean's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

from dsa110_resources import constants as C
from dsa110_resources.imaging.fits_products import write_fits
from dsa110_resources.imaging.primary_beam import DriftScanBeam, correct
from dsa110_resources.photometry.forced import RestoringBeam

from .grid import BAND_CENTRE


@dataclass(frozen=True)
class SyntheticTile:
    tile_id: str
    start: Time
    end: Time
    pointing: SkyCoord
    beam: RestoringBeam
    noise: u.Quantity
    prefix: Path  # products are <prefix>.<kind>.fits


def tile_header(pointing: SkyCoord, shape: tuple[int, int], cell: u.Quantity) -> fits.Header:
    """A 4-D SIN header centred on the pointing, as the imagers write."""
    ny, nx = shape
    w = WCS(naxis=4)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ", "STOKES"]
    w.wcs.crval = [pointing.ra.deg, pointing.dec.deg, BAND_CENTRE.to_value(u.Hz), 1.0]
    w.wcs.cdelt = [-cell.to_value(u.deg), cell.to_value(u.deg), (C.BAND_HIGH - C.BAND_LOW).to_value(u.Hz), 1.0]
    w.wcs.crpix = [nx // 2 + 1, ny // 2 + 1, 1.0, 1.0]
    w.wcs.radesys = "ICRS"
    w.wcs.equinox = 2000.0
    w.wcs.cunit = ["deg", "deg", "Hz", ""]
    return w.to_header()


def render_sources(wcs: WCS, shape, coords: SkyCoord, amplitudes: np.ndarray, beam: RestoringBeam,
                   out: np.ndarray, box_sigmas: float = 6.0) -> None:
    """Add elliptical-Gaussian point sources (peak = amplitude) at exact sub-pixel positions."""
    cov = beam.pixel_covariance(wcs)
    inv = np.linalg.inv(cov)
    hx = int(math.ceil(box_sigmas * math.sqrt(cov[0, 0])))
    hy = int(math.ceil(box_sigmas * math.sqrt(cov[1, 1])))
    xs, ys = wcs.world_to_pixel(coords)
    ny, nx = shape
    for x, y, amp in zip(np.atleast_1d(xs), np.atleast_1d(ys), np.atleast_1d(amplitudes), strict=True):
        if not (np.isfinite(x) and -hx <= x < nx + hx and -hy <= y < ny + hy):
            continue
        ix, iy = int(round(x)), int(round(y))
        x0, x1 = max(0, ix - hx), min(nx, ix + hx + 1)
        y0, y1 = max(0, iy - hy), min(ny, iy + hy + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        gy, gx = np.mgrid[y0:y1, x0:x1]
        dx, dy = gx - x, gy - y
        q = inv[0, 0] * dx * dx + 2 * inv[0, 1] * dx * dy + inv[1, 1] * dy * dy
        out[y0:y1, x0:x1] += (amp * np.exp(-0.5 * q)).astype(out.dtype)


def correlated_noise(shape, sigma: float, beam: RestoringBeam, wcs: WCS, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of std ``sigma`` whose autocorrelation has the restoring beam's shape.

    White noise smoothed with a Gaussian of half the beam's covariance has an
    autocorrelation of exactly the beam's covariance; the smoothing is done
    in Fourier space (float32, padded by nothing: the noise is stationary and
    a circular wrap does no harm).
    """
    import scipy.fft

    cov = beam.pixel_covariance(wcs) / 2
    white = rng.standard_normal(shape, dtype=np.float32)
    spec = scipy.fft.rfft2(white)
    del white
    ky = scipy.fft.fftfreq(shape[0]).astype(np.float32)[:, None]
    kx = scipy.fft.rfftfreq(shape[1]).astype(np.float32)[None, :]
    spec *= np.exp(-2 * math.pi**2 * (cov[0, 0] * kx * kx + 2 * cov[0, 1] * kx * ky + cov[1, 1] * ky * ky))
    out = scipy.fft.irfft2(spec, s=shape).astype(np.float32)
    out *= np.float32(sigma / out.std())
    return out


def write_tile(
    directory: Path,
    tile_id: str,
    start: Time,
    pointing: SkyCoord,
    shape: tuple[int, int],
    cell: u.Quantity,
    beam: RestoringBeam,
    noise: u.Quantity,
    sources: SkyCoord,
    fluxes: u.Quantity,
    rng: np.random.Generator,
    with_pbcor: bool = True,
) -> SyntheticTile:
    """Write one synthetic tile's products; returns what was put in."""
    end = start + C.TILE_DURATION
    mid = start + C.TILE_DURATION / 2
    header = tile_header(pointing, shape, cell)
    wcs = WCS(header).celestial
    drift = DriftScanBeam(pointing, mid, start, end, np.linspace(C.BAND_LOW, C.BAND_HIGH, 16))
    pb = drift.on_grid(wcs, shape)
    # Apparent flux = intrinsic x beam at the source (the beam is smooth over a restoring beam).
    response = drift.response(sources) if len(sources) else np.zeros(0)
    residual = correlated_noise(shape, noise.to_value(u.Jy), beam, wcs, rng)
    image = residual.copy()
    render_sources(wcs, shape, sources, fluxes.to_value(u.Jy) * response, beam, image)
    h = header.copy()
    h["BMAJ"], h["BMIN"], h["BPA"] = beam.major.to_value(u.deg), beam.minor.to_value(u.deg), beam.pa.to_value(u.deg)
    h["BUNIT"] = "Jy/beam"
    h["TELESCOP"] = C.TELESCOPE_NAME
    h["TILEID"] = tile_id
    h["OBJECT"] = tile_id
    h["DATE-OBS"] = start.utc.isot
    h["MJD-OBS"] = start.utc.mjd
    h["DATE-AVG"] = mid.utc.isot
    h["DATE-END"] = end.utc.isot
    h["OBSRA"] = pointing.ra.deg
    h["OBSDEC"] = pointing.dec.deg
    h["TIMESYS"] = "UTC"
    prefix = Path(directory) / tile_id
    cube = (1, 1) + tuple(shape)
    products = {"image": image, "residual": residual, "pb": pb}
    if with_pbcor:
        products["pbcor"] = correct(image, pb)
    for kind, data in products.items():
        hk = h.copy()
        hk["IMAGTYPE"] = kind
        if kind == "pb":
            hk["BUNIT"] = ""
        write_fits(Path(f"{prefix}.{kind}.fits"), data.reshape(cube), hk)
    return SyntheticTile(tile_id, start, end, pointing, beam, noise, prefix)


def drift_row(
    directory: Path,
    n_tiles: int,
    start: Time,
    ra0: u.Quantity,
    dec: u.Quantity,
    shape: tuple[int, int],
    cell: u.Quantity,
    sources: SkyCoord,
    fluxes: u.Quantity,
    *,
    beam: RestoringBeam,
    noise: u.Quantity,
    beam_jitter: float = 0.05,
    noise_jitter: float = 0.2,
    seed: int = 0,
    with_pbcor: bool = True,
) -> list[SyntheticTile]:
    """``n_tiles`` consecutive tiles: each TILE_DURATION later, pointing RA + sidereal drift.

    Beams differ by up to ``beam_jitter`` (fractional axes, +-10 deg PA) and
    noise by up to ``noise_jitter`` between tiles, as real tiles do.
    """
    rng = np.random.default_rng(seed)
    tiles = []
    for k in range(n_tiles):
        t0 = start + k * C.TILE_DURATION
        dra = (C.SIDEREAL_RATE * (k * C.TILE_DURATION + C.TILE_DURATION / 2)).to(u.deg)
        pointing = SkyCoord(ra0 + dra, dec, frame="icrs")
        f = 1 + beam_jitter * rng.uniform(-1, 1, 2)
        b = RestoringBeam(beam.major * max(f), beam.minor * min(f), beam.pa + rng.uniform(-10, 10) * u.deg)
        sigma = noise * (1 + noise_jitter * rng.uniform(-1, 1))
        tile_id = t0.utc.strftime("%Y-%m-%dT%H:%M:%S")
        tiles.append(write_tile(directory, tile_id, t0, pointing, shape, cell, b, sigma, sources, fluxes, rng,
                                with_pbcor=with_pbcor))
    return tiles
