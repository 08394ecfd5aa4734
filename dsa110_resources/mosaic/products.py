"""Mosaic FITS products: mosaic, weight and noise planes with self-describing headers.

Every plane carries the grid's WCS, the common restoring beam (BMAJ/BMIN/BPA,
degrees), the time range of the tiles that went in (DATE-OBS/DATE-END), the
coverage, the blanking level and the inputs: NINPUT and INPUTnnn = tile id
with its noise and weight in the comment, plus HISTORY lines naming skipped
tiles. Files are written through imaging.fits_products.write_fits (temporary
name, then rename); ``publish_products`` moves a staged set into the product
tree through StorageTiers (atomic per file).
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits

from dsa110_resources import constants as C
from dsa110_resources.imaging.fits_products import write_fits
from dsa110_resources.stores import layout

from .combine import MosaicProducts

#: kind -> BUNIT
PRODUCT_KINDS = {"mosaic": "Jy/beam", "weight": "Jy-2 beam2", "noise": "Jy/beam"}


def mosaic_header(products: MosaicProducts, kind: str, extra: dict | None = None) -> fits.Header:
    """The header of one plane (``kind`` in PRODUCT_KINDS)."""
    grid = products.grid
    h = grid.wcs.to_header()
    h["BUNIT"] = (PRODUCT_KINDS[kind], "pixel unit")
    h["BMAJ"] = (products.beam.major.to_value(u.deg), "[deg] common restoring beam major FWHM")
    h["BMIN"] = (products.beam.minor.to_value(u.deg), "[deg] common restoring beam minor FWHM")
    h["BPA"] = (products.beam.pa.to_value(u.deg), "[deg] common restoring beam position angle")
    h["TELESCOP"] = (C.TELESCOPE_NAME, "telescope")
    h["OBJECT"] = (grid.label, "mosaic label")
    h["IMAGTYPE"] = (kind, "mosaic | weight | noise")
    h["MOSAIC"] = (grid.label, "mosaic label")
    h["MOSMETH"] = ("linear", "sum A I w / sum A^2 w, w = 1/sigma^2")
    h["TIMESYS"] = "UTC"
    if products.start_time is not None:
        h["DATE-OBS"] = (products.start_time.utc.isot, "start of the earliest tile (UTC)")
        h["MJD-OBS"] = (products.start_time.utc.mjd, "[d] start of the earliest tile")
        h["DATE-END"] = (products.end_time.utc.isot, "end of the latest tile (UTC)")
        h["MJD-END"] = (products.end_time.utc.mjd, "[d] end of the latest tile")
    if grid.start is not None:
        h["PLANBEG"] = (grid.start.utc.isot, "planned range start (UTC)")
        h["PLANEND"] = (grid.end.utc.isot, "planned range end (UTC)")
    h["RAMIN"] = (grid.ra_min.to_value(u.deg) % 360.0, "[deg] planned region RA start")
    h["RAMAX"] = (grid.ra_max.to_value(u.deg) % 360.0, "[deg] planned region RA end")
    h["DECMIN"] = (grid.dec_min.to_value(u.deg), "[deg] planned region Dec min")
    h["DECMAX"] = (grid.dec_max.to_value(u.deg), "[deg] planned region Dec max")
    h["BLANKLVL"] = (products.blank_level, "combined-beam level below which blanked")
    h["WREF"] = (products.reference_weight, "[Jy-2] reference weight of the beam level")
    h["COVERAGE"] = (products.coverage, "fraction of grid pixels above the blank level")
    h["NINPUT"] = (len(products.contributions), "tiles combined")
    for i, c in enumerate(products.contributions, start=1):
        h[f"INPUT{i:03d}"] = (c.tile_id, f"sigma {c.noise_common_jy * 1e3:.4f} mJy/beam, {c.pixels} px")
    for tile_id, reason in products.skipped.items():
        h.add_history(f"skipped {tile_id}: {reason}")
    for key, value in (extra or {}).items():
        h[key] = value
    return h


def write_products(products: MosaicProducts, directory: str | Path, stem: str | None = None,
                   extra: dict | None = None) -> dict[str, Path]:
    """Write ``<stem>.{mosaic,weight,noise}.fits`` into ``directory``; kind -> path.

    Planes are written one at a time; the noise plane is derived just before
    it is written, so peak memory is one plane above the products'.
    """
    directory = Path(directory)
    stem = stem or products.grid.label
    paths = {}
    for kind in ("mosaic", "weight", "noise"):
        data = getattr(products, kind)
        paths[kind] = write_fits(directory / f"{stem}.{kind}.fits", data, mosaic_header(products, kind, extra))
        del data
    return paths


def publish_products(tiers, products: MosaicProducts, relative_dir: str | Path, stem: str | None = None,
                     extra: dict | None = None) -> dict[str, Path]:
    """Stage and atomically publish the three planes under ``relative_dir`` of the data root."""
    stem = stem or products.grid.label
    need = 3 * products.grid.n_pixels * 4
    published = {}
    with tiers.staging(f"mosaic-{stem}", need_bytes=need) as staging:
        staged = write_products(products, staging, stem, extra)
        for kind, path in staged.items():
            published[kind] = tiers.publish(path, Path(relative_dir) / path.name)
    return published


def mosaic_relative_dir(kind: str, label: str) -> Path:
    """``mosaics/{hourly,nightly,custom}/YYYY-MM-DD`` for a label starting with the date."""
    return Path(layout.mosaic_dir(kind, label))


def read_mosaic(path: str | Path) -> tuple[np.ndarray, fits.Header]:
    """Data and header of a mosaic product."""
    with fits.open(path) as hdul:
        return np.asarray(hdul[0].data, dtype=np.float32), hdul[0].header.copy()
