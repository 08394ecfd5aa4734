"""FITS products of a tile image, with complete and identical headers.

Whatever backend made the image, every product (image, residual, beam,
beam-corrected image) leaves here with the same header vocabulary: the
restoring beam in degrees, BUNIT, the observing time (DATE-OBS/MJD-OBS at the
tile start, DATE-AVG/MJD-AVG at mid-time, DATE-END), TELESCOP, a frequency
axis, the pointing (OBSRA/OBSDEC, CASA's names), the tile id, the backend and
the calibration tables applied (CALTAB1..n). Files are written to a temporary
name and renamed, so nobody reads half a product.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits

from dsa110_resources import constants as C

from .msinfo import TileObservation
from .params import ImagingParams

#: Product kinds and their units (the DB's Image.kind vocabulary).
PRODUCT_UNITS = {"image": "Jy/beam", "residual": "Jy/beam", "pbcor": "Jy/beam", "pb": "", "model": "Jy/pixel"}
#: Per-sub-band products are ``<kind>-sb<N>`` of these kinds (N from 0, low to high frequency).
SUBBAND_KINDS = ("image", "pb")


def subband_kind(kind: str, index: int) -> str:
    if kind not in SUBBAND_KINDS:
        raise ValueError(f"no sub-band product of kind {kind!r}; sub-band kinds: {SUBBAND_KINDS}")
    return f"{kind}-sb{index}"


def base_kind(kind: str) -> str:
    """``image`` for ``image-sb2``; the kind itself otherwise (unknown kinds raise)."""
    base, _, index = kind.partition("-sb")
    if base not in PRODUCT_UNITS or (index and (base not in SUBBAND_KINDS or not index.isdigit())):
        raise ValueError(f"unknown product kind {kind!r}; known: {sorted(PRODUCT_UNITS)} "
                         f"and <{'|'.join(SUBBAND_KINDS)}>-sb<N>")
    return base


@dataclass(frozen=True)
class ProductContext:
    """Everything a header records beyond the pixels and the WCS."""

    observation: TileObservation
    backend: str
    params: ImagingParams
    data_column: str
    caltables: tuple[str, ...] = ()
    history: tuple[str, ...] = field(default=())


def product_path(out_prefix: str | Path, kind: str) -> Path:
    """``<prefix>.<kind>.fits``, matching stores.layout.image_path."""
    base_kind(kind)
    return Path(f"{out_prefix}.{kind}.fits")


def restoring_beam(header: fits.Header) -> tuple[u.Quantity, u.Quantity, u.Quantity]:
    """(bmaj, bmin, bpa) from a header, raising if the backend left none."""
    try:
        beam = header["BMAJ"] * u.deg, header["BMIN"] * u.deg, header["BPA"] * u.deg
    except KeyError:
        raise ValueError("image header has no restoring beam (BMAJ/BMIN/BPA)") from None
    if not beam[1] > 0 * u.deg:
        raise ValueError("image header has a zero restoring beam (a dirty image: was niter 0?)")
    return beam


def stamp(header: fits.Header, kind: str, context: ProductContext, beam: tuple | None = None) -> fits.Header:
    """A copy of ``header`` with the product vocabulary filled in."""
    obs = context.observation
    h = header.copy()
    h["BUNIT"] = (PRODUCT_UNITS[base_kind(kind)], "pixel unit")
    if beam is not None:
        bmaj, bmin, bpa = beam
        h["BMAJ"] = (bmaj.to_value(u.deg), "[deg] restoring beam major axis FWHM")
        h["BMIN"] = (bmin.to_value(u.deg), "[deg] restoring beam minor axis FWHM")
        h["BPA"] = (bpa.to_value(u.deg), "[deg] restoring beam position angle")
    h["TELESCOP"] = (C.TELESCOPE_NAME, "telescope")
    h["INSTRUME"] = (C.TELESCOPE_NAME, "instrument")
    h["OBJECT"] = (obs.tile_id, "tile id")
    h["TILEID"] = (obs.tile_id, "tile id (first file timestamp)")
    h["IMAGTYPE"] = (kind, "image | residual | pbcor | pb | model, -sbN: sub-band N")
    h["TIMESYS"] = "UTC"
    h["DATE-OBS"] = (obs.start_time.utc.isot, "tile start (UTC)")
    h["MJD-OBS"] = (obs.start_time.utc.mjd, "[d] tile start (UTC)")
    h["DATE-AVG"] = (obs.mid_time.utc.isot, "tile mid-time (UTC)")
    h["MJD-AVG"] = (obs.mid_time.utc.mjd, "[d] tile mid-time (UTC)")
    h["DATE-END"] = (obs.end_time.utc.isot, "tile end (UTC)")
    h["OBSRA"] = (obs.phase_center.ra.to_value(u.deg), "[deg] pointing RA at mid-time (ICRS)")
    h["OBSDEC"] = (obs.phase_center.dec.to_value(u.deg), "[deg] pointing Dec at mid-time (ICRS)")
    h["RESTFRQ"] = (obs.ref_freq.to_value(u.Hz), "[Hz] reference frequency")
    h["FREQLO"] = (obs.freq_min.to_value(u.Hz), "[Hz] lowest channel centre")
    h["FREQHI"] = (obs.freq_max.to_value(u.Hz), "[Hz] highest channel centre")
    h["BANDWID"] = (obs.bandwidth.to_value(u.Hz), "[Hz] total channel bandwidth")
    h["NANTS"] = (obs.n_antennas, "antennas carrying data")
    h["BACKEND"] = (context.backend, "imager")
    h["DATACOL"] = (context.data_column, "MS column imaged")
    h["WEIGHTNG"] = (context.params.weighting, "visibility weighting")
    h["ROBUST"] = (context.params.robust, "Briggs robust")
    h["PBLIMIT"] = (context.params.pb_limit, "beam level below which pbcor is blanked")
    h["DISHDIAM"] = (C.DISH_DIAMETER.to_value(u.m), "[m] dish diameter of the beam model")
    h["NCALTAB"] = (len(context.caltables), "calibration tables applied")
    for key in [k for k in h if k.startswith("CALTAB") and k != "NCALTAB"]:
        del h[key]
    for i, table in enumerate(context.caltables, start=1):
        h[f"CALTAB{i}"] = (str(table), "calibration table applied")
    h["MSNAME"] = (obs.ms.name, "Measurement Set imaged")
    for line in context.history:
        h.add_history(line)
    if base_kind(kind) == "pb":
        for key in ("BMAJ", "BMIN", "BPA"):
            h.remove(key, ignore_missing=True)
    return h


def write_fits(path: str | Path, data: np.ndarray, header: fits.Header) -> Path:
    """Write atomically (temporary name in the same directory, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fits.PrimaryHDU(data=np.asarray(data, dtype=np.float32), header=header).writeto(
        tmp, overwrite=True, output_verify="silentfix"
    )
    os.replace(tmp, path)
    return path


def plane(data: np.ndarray) -> np.ndarray:
    """The 2-D sky plane of a (stokes, freq, y, x) or (y, x) cube."""
    data = np.asarray(data)
    while data.ndim > 2:
        data = data[0]
    return data

