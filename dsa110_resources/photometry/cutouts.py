"""Image cut-outs around a source: small FITS stamps of the tile images it was measured on."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.wcs import WCS

__all__ = ["write_cutout"]

#: Header cards a cut-out keeps from its image (beam, epoch, units, frequency).
KEPT_CARDS = ("BMAJ", "BMIN", "BPA", "BUNIT", "MJD-OBS", "DATE-OBS", "RESTFRQ", "TELESCOP")


def write_cutout(image_path: str | Path, ra_deg: float, dec_deg: float, out_path: str | Path,
                 size: u.Quantity = 0.2 * u.deg) -> Path | None:
    """Write a size x size stamp of the image's first plane centred on (ra, dec).

    Returns the path, or None when the position is off the image. Written to a
    temporary name and renamed, so a reader never sees half a file.
    """
    image_path, out_path = Path(image_path), Path(out_path)
    try:
        with fits.open(image_path, memmap=True) as hdul:
            header = hdul[0].header
            data = np.asarray(hdul[0].data)
            wcs = WCS(header).celestial
    except (OSError, ValueError) as exc:
        raise ValueError(f"{image_path}: cannot read the image for a cut-out ({exc})") from exc
    while data.ndim > 2:
        data = data[0]
    try:
        stamp = Cutout2D(data, SkyCoord(ra_deg * u.deg, dec_deg * u.deg), size, wcs=wcs, mode="partial",
                         fill_value=np.nan)
    except ValueError:  # no overlap
        return None
    out_header = stamp.wcs.to_header()
    for card in KEPT_CARDS:
        if card in header:
            out_header[card] = header[card]
    out_header["ORIGIMG"] = str(image_path)[-68:]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.partial")
    fits.PrimaryHDU(stamp.data.astype(np.float32), out_header).writeto(tmp, overwrite=True)
    tmp.replace(out_path)
    return out_path
