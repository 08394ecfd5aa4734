"""One tile as a mosaic input: the beam-uncorrected image, its primary beam, noise and restoring beam.

The linear mosaic needs, per tile p, the image I_p *without* primary-beam
correction, the beam A_p it was observed with (the imaging module's
drift-averaged ``<tile>.pb.fits``), the noise sigma_p that sets its weight
w_p = 1/sigma_p^2, and its restoring beam (to convolve every tile to a common
one). Everything is read from the FITS products' headers
(imaging/fits_products.py conventions); the noise is taken from the products
database when the caller has it, otherwise measured on the residual (or the
image) with the same robust estimator image QA uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

from dsa110_resources.imaging.qa import robust_noise
from dsa110_resources.photometry.forced import RestoringBeam

#: Pixels sampled for a measured noise: enough for a MAD good to < 1 %.
NOISE_SAMPLE_STRIDE = 4


def sibling(image_path: str | Path, kind: str) -> Path:
    """``<prefix>.image.fits`` -> ``<prefix>.<kind>.fits`` (the imaging module's naming)."""
    path = Path(image_path)
    name = path.name
    for suffix in (".image.fits", ".fits"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + f".{kind}.fits")
    raise ValueError(f"not a FITS image name: {path}")


def read_plane_header(path: str | Path) -> tuple[fits.Header, WCS, tuple[int, int]]:
    """Header, celestial WCS and (ny, nx) of a (possibly 4-D) FITS image, without reading pixels."""
    header = fits.getheader(path)
    naxis = header["NAXIS"]
    if naxis < 2:
        raise ValueError(f"{path} has no image plane")
    return header, WCS(header).celestial, (int(header["NAXIS2"]), int(header["NAXIS1"]))


def read_plane_data(path: str | Path) -> np.ndarray:
    """The first 2-D plane as native-endian float32 (memory: one plane)."""
    with fits.open(path, memmap=True) as hdul:
        data = hdul[0].data
        while data.ndim > 2:
            data = data[0]
        return np.array(data, dtype=np.float32)


def measure_noise(path: str | Path, pb_path: str | Path | None = None, pb_limit: float = 0.2) -> u.Quantity:
    """Robust noise of an image (a residual ideally), inside the beam when one is given."""
    data = read_plane_data(path)[::NOISE_SAMPLE_STRIDE, ::NOISE_SAMPLE_STRIDE]
    if pb_path is not None and Path(pb_path).exists():
        pb = read_plane_data(pb_path)[::NOISE_SAMPLE_STRIDE, ::NOISE_SAMPLE_STRIDE]
        data = data[pb >= pb_limit]
    return robust_noise(data) * u.Jy


@dataclass(frozen=True)
class MosaicInput:
    """A tile ready to be combined (all figures with units)."""

    tile_id: str
    image_path: Path  # beam-uncorrected restored image, Jy/beam
    pb_path: Path  # drift-averaged primary beam on the same grid
    noise: u.Quantity  # sigma_p, Jy/beam, of image_path
    beam: RestoringBeam
    start_time: Time
    end_time: Time
    pointing: SkyCoord  # OBSRA/OBSDEC: meridian point at mid-time
    shape: tuple[int, int]
    wcs: WCS

    @property
    def mid_time(self) -> Time:
        return self.start_time + (self.end_time - self.start_time) / 2

    @property
    def weight(self) -> u.Quantity:
        """w_p = 1 / sigma_p^2."""
        return 1.0 / self.noise**2

    @property
    def cell(self) -> u.Quantity:
        return self.wcs.proj_plane_pixel_scales()[1].to(u.arcsec)

    @classmethod
    def from_fits(
        cls,
        image_path: str | Path,
        pb_path: str | Path | None = None,
        *,
        noise: u.Quantity | None = None,
        residual_path: str | Path | None = None,
        tile_id: str | None = None,
    ) -> MosaicInput:
        """Build from an imaging product (``<tile>.image.fits``) and its siblings.

        ``pb_path`` defaults to ``<tile>.pb.fits``. ``noise`` (e.g. Image.noise_jy
        from the products DB) avoids a read; without it the residual
        (``<tile>.residual.fits`` when present) is measured.
        """
        image_path = Path(image_path)
        header, wcs, shape = read_plane_header(image_path)
        if str(header.get("IMAGTYPE", "image")).lower() == "pbcor":
            raise ValueError(f"{image_path} is primary-beam corrected; the mosaic needs the uncorrected image")
        pb_path = Path(pb_path) if pb_path is not None else sibling(image_path, "pb")
        if not pb_path.exists():
            raise FileNotFoundError(f"primary beam {pb_path} of {image_path} not found")
        _, pb_wcs, pb_shape = read_plane_header(pb_path)
        if pb_shape != shape:
            raise ValueError(f"beam {pb_path} is {pb_shape}, image {image_path} is {shape}")
        beam = RestoringBeam.from_header(header)
        if noise is None:
            if residual_path is None:
                candidate = sibling(image_path, "residual")
                residual_path = candidate if candidate.exists() else image_path
            noise = measure_noise(residual_path, pb_path)
        noise = u.Quantity(noise, u.Jy)
        if not np.isfinite(noise.value) or noise.value <= 0:
            raise ValueError(f"noise of {image_path} is {noise}: cannot weight it")
        start = Time(header["DATE-OBS"], scale="utc")
        end = Time(header["DATE-END"], scale="utc") if "DATE-END" in header else start
        if "OBSRA" in header and "OBSDEC" in header:
            pointing = SkyCoord(header["OBSRA"] * u.deg, header["OBSDEC"] * u.deg, frame="icrs")
        else:
            pointing = wcs.pixel_to_world((shape[1] - 1) / 2, (shape[0] - 1) / 2).icrs
        tile_id = tile_id or header.get("TILEID") or image_path.name.split(".")[0]
        return cls(str(tile_id), image_path, pb_path, noise, beam, start, end, pointing, shape, wcs)
