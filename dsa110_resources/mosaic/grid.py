"""Output grids: where a mosaic's pixels are on the sky.

A drift scan sweeps a strip of constant declination; an hour sweeps ~15 deg
of RA, a UTC day all 360 deg (plus 1 deg: a solar day is longer than a
sidereal one). Grids are *planned from time and declination*, not from the
tiles that happened to arrive, so a partition always has the same grid and
the covered fraction of it is meaningful.

* hourly: one SIN grid centred on the strip swept during the hour.
* nightly: fixed blocks of one hour of RA (RA00h..RA23h, so a block is the
  same piece of sky every day), each overlapping its neighbours by a margin,
  each its own SIN grid; the strip is never one giant image.

The strip's half-height is the angle at which the primary beam (band centre)
falls to the blanking level: beyond it nothing survives blanking anyway.
SIN projection, as the tiles use: over a 1 h block (<~ 9 deg on the sky at
Dec +54) its distortion is < 0.3 %, and the bounding box is computed from the
projected strip outline so curved parallels stay inside.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time
from astropy.wcs import WCS
from scipy.optimize import brentq

from dsa110_resources import constants as C
from dsa110_resources.imaging.primary_beam import airy_beam

BAND_CENTRE = (C.BAND_LOW + C.BAND_HIGH) / 2
#: Nightly blocks: one hour of RA each, overlapping neighbours by this much RA on each side.
BLOCK_WIDTH = 15 * u.deg
BLOCK_OVERLAP = 0.5 * u.deg
#: Pixels of margin around the planned region.
EDGE_PIXELS = 4


def beam_radius(level: float, freq: u.Quantity = BAND_CENTRE) -> u.Quantity:
    """Off-axis angle where the Airy power beam falls to ``level`` (main lobe)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"beam level must be in (0, 1), got {level}")
    first_null = 1.2197 * (299_792_458.0 / freq.to_value(u.Hz)) / C.DISH_DIAMETER.to_value(u.m)  # rad
    theta = brentq(lambda t: airy_beam(t * u.rad, freq) - level, 1e-9, first_null * 0.999)
    return (theta * u.rad).to(u.deg)


@dataclass(frozen=True)
class MosaicGrid:
    """A mosaic's pixel grid and the sky region it was planned to cover.

    ``ra_min``/``ra_max`` bound the planned region in RA (``ra_max`` may exceed
    360 deg when it wraps); ``dec_min``/``dec_max`` in Dec.
    """

    label: str
    wcs: WCS
    shape: tuple[int, int]
    ra_min: u.Quantity
    ra_max: u.Quantity
    dec_min: u.Quantity
    dec_max: u.Quantity
    start: Time | None = None
    end: Time | None = None
    meta: dict = field(default_factory=dict)

    @property
    def cell(self) -> u.Quantity:
        return self.wcs.proj_plane_pixel_scales()[1].to(u.arcsec)

    @property
    def n_pixels(self) -> int:
        return self.shape[0] * self.shape[1]

    def planned_mask(self, rows: slice, stride: int = 1) -> np.ndarray:
        """True for pixels (in ``rows``, every ``stride``) inside the planned RA/Dec region."""
        ys = np.arange(self.shape[0])[rows][::stride]
        xs = np.arange(0, self.shape[1], stride)
        gx, gy = np.meshgrid(xs, ys)
        world = self.wcs.pixel_to_world(gx, gy)
        ra = world.ra.deg
        dec = world.dec.deg
        lo = self.ra_min.to_value(u.deg)
        span = (self.ra_max - self.ra_min).to_value(u.deg)
        in_ra = np.mod(ra - lo, 360.0) <= span
        in_dec = (dec >= self.dec_min.to_value(u.deg)) & (dec <= self.dec_max.to_value(u.deg))
        return in_ra & in_dec & np.isfinite(ra)

    def footprint_contains(self, coords: SkyCoord) -> np.ndarray:
        """True where ``coords`` fall on the grid's pixels."""
        x, y = self.wcs.world_to_pixel(coords)
        ny, nx = self.shape
        return np.isfinite(x) & (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)


def grid_for_region(
    label: str,
    ra_min: u.Quantity,
    ra_max: u.Quantity,
    dec_min: u.Quantity,
    dec_max: u.Quantity,
    cell: u.Quantity,
    start: Time | None = None,
    end: Time | None = None,
) -> MosaicGrid:
    """A SIN grid (RA left, north up) just holding the RA/Dec box, ``cell`` per pixel."""
    ra_lo, ra_hi = ra_min.to_value(u.deg), ra_max.to_value(u.deg)
    if ra_hi <= ra_lo:
        ra_hi += 360.0
    if ra_hi - ra_lo > 180.0:
        raise ValueError(f"region of {ra_hi - ra_lo:.1f} deg in RA is too wide for one grid: use blocks")
    d_lo, d_hi = dec_min.to_value(u.deg), min(dec_max.to_value(u.deg), 90.0)
    ra_c = ((ra_lo + ra_hi) / 2) % 360.0
    dec_c = (d_lo + d_hi) / 2
    step = cell.to_value(u.deg)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [ra_c, dec_c]
    wcs.wcs.cdelt = [-step, step]
    wcs.wcs.crpix = [1.0, 1.0]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.equinox = 2000.0
    # Project the box outline densely: parallels curve in SIN.
    n = 256
    ras = np.concatenate([np.linspace(ra_lo, ra_hi, n), np.full(n, ra_hi), np.linspace(ra_hi, ra_lo, n), np.full(n, ra_lo)])
    decs = np.concatenate([np.full(n, d_lo), np.linspace(d_lo, d_hi, n), np.full(n, d_hi), np.linspace(d_hi, d_lo, n)])
    x, y = wcs.wcs_world2pix(ras % 360.0, decs, 0)
    ok = np.isfinite(x) & np.isfinite(y)
    x0, x1 = np.floor(x[ok].min()) - EDGE_PIXELS, np.ceil(x[ok].max()) + EDGE_PIXELS
    y0, y1 = np.floor(y[ok].min()) - EDGE_PIXELS, np.ceil(y[ok].max()) + EDGE_PIXELS
    wcs.wcs.crpix = [1.0 - x0, 1.0 - y0]
    shape = (int(y1 - y0) + 1, int(x1 - x0) + 1)
    return MosaicGrid(label, wcs, shape, ra_lo * u.deg, ra_hi * u.deg, d_lo * u.deg, d_hi * u.deg, start, end)


def swept_ra(start: Time, end: Time, declination: u.Quantity,
             location: EarthLocation | None = None) -> tuple[u.Quantity, u.Quantity]:
    """ICRS RA of the meridian point at ``start`` and ``end`` (the second unwrapped above the first)."""
    from dsa110_resources.conversion.phasing import meridian_centre

    location = location or C.site_location()
    lo = meridian_centre(start, declination, location).ra.to(u.deg)
    hi = meridian_centre(end, declination, location).ra.to(u.deg)
    sidereal_span = ((end - start).to(u.day).value * 360.98564736629) * u.deg
    hi = lo + sidereal_span + (((hi - lo - sidereal_span).to_value(u.deg) + 180) % 360 - 180) * u.deg
    return lo, hi


def grid_for_range(
    start: Time,
    end: Time,
    declination: u.Quantity,
    cell: u.Quantity,
    *,
    level: float = C.PRIMARY_BEAM_LIMIT,
    label: str | None = None,
    location: EarthLocation | None = None,
) -> MosaicGrid:
    """One grid over the strip swept between ``start`` and ``end`` (up to ~12 h)."""
    radius = beam_radius(level)
    ra_lo, ra_hi = swept_ra(start, end, declination, location)
    ra_pad = (radius.to(u.deg) / np.cos(np.minimum(np.abs(declination) + radius, 89.0 * u.deg))).to(u.deg)
    label = label or f"{start.utc.isot[:16]}_{end.utc.isot[:16]}"
    return grid_for_region(label, ra_lo - ra_pad, ra_hi + ra_pad, declination - radius, declination + radius,
                           cell, start, end)


def hourly_grid(hour_start: Time, declination: u.Quantity, cell: u.Quantity, *,
                level: float = C.PRIMARY_BEAM_LIMIT, location: EarthLocation | None = None) -> MosaicGrid:
    """The grid of the hourly mosaic starting at ``hour_start`` (label ``YYYY-MM-DDTHH``)."""
    hour_start = Time(hour_start, scale="utc")
    return grid_for_range(hour_start, hour_start + 1 * u.hour, declination, cell, level=level,
                          label=hour_start.utc.isot[:13], location=location)


def blocks_for_range(
    start: Time,
    end: Time,
    declination: u.Quantity,
    cell: u.Quantity,
    *,
    level: float = C.PRIMARY_BEAM_LIMIT,
    block_width: u.Quantity = BLOCK_WIDTH,
    overlap: u.Quantity = BLOCK_OVERLAP,
    location: EarthLocation | None = None,
    label_prefix: str = "",
) -> list[MosaicGrid]:
    """Fixed RA blocks (RA00h, RA01h, ... for 15-deg blocks) touched by the strip swept in [start, end)."""
    width = block_width.to_value(u.deg)
    n_blocks = int(round(360.0 / width))
    if abs(n_blocks * width - 360.0) > 1e-6:
        raise ValueError(f"block width {block_width} does not divide 360 deg")
    radius = beam_radius(level)
    ra_lo, ra_hi = swept_ra(start, end, declination, location)
    ra_pad = (radius / np.cos(np.minimum(np.abs(declination) + radius, 89.0 * u.deg))).to_value(u.deg)
    lo, hi = ra_lo.to_value(u.deg) - ra_pad, ra_hi.to_value(u.deg) + ra_pad
    ov = overlap.to_value(u.deg)
    if hi - lo >= 360.0:
        wanted = range(n_blocks)
    else:
        wanted = sorted({int(np.floor(r / width)) % n_blocks for r in np.arange(lo, hi + width / 2, width / 4)
                         if r <= hi} | {int(np.floor(hi / width)) % n_blocks})
    grids = []
    for k in wanted:
        name = f"{label_prefix}RA{k:02d}h" if abs(width - 15.0) < 1e-9 else f"{label_prefix}RA{k * width:05.1f}d"
        grid = grid_for_region(name, (k * width - ov) * u.deg, ((k + 1) * width + ov) * u.deg,
                               declination - radius, declination + radius, cell, Time(start), Time(end))
        grid.meta["block_index"] = k
        grids.append(grid)
    return grids


def nightly_blocks(day: str | Time, declination: u.Quantity, cell: u.Quantity, **kwargs) -> list[MosaicGrid]:
    """All RA blocks of the UTC day ``day`` (``YYYY-MM-DD``): the whole circle, 24 blocks by default."""
    start = Time(str(day)[:10] + "T00:00:00", scale="utc")
    prefix = start.utc.isot[:10] + "_"
    return blocks_for_range(start, start + 1 * u.day, declination, cell, label_prefix=prefix, **kwargs)
