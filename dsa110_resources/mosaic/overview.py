"""Low-resolution overview PNG of a whole drift-scan strip, built block by block.

The nightly strip is ~360 deg x ~4 deg; the UI wants one picture of it, not
24 full-resolution blocks. ``StripOverview`` holds a small plate-carree
canvas (RA x Dec, ``resolution`` per pixel, ~0.05 deg: 7200 x 80 floats) and
each block is binned down and sampled onto it as it is made, so memory stays
one block plus the canvas. Shown as S/N (mosaic / noise), which is uniform
along the strip whatever the tile weights.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from scipy import ndimage

from .combine import MosaicProducts


class StripOverview:
    def __init__(self, dec_min: u.Quantity, dec_max: u.Quantity, resolution: u.Quantity = 0.05 * u.deg):
        self.res = resolution.to_value(u.deg)
        self.dec_min = dec_min.to_value(u.deg)
        self.dec_max = dec_max.to_value(u.deg)
        self.ny = int(np.ceil((self.dec_max - self.dec_min) / self.res)) + 1
        self.nx = int(round(360.0 / self.res))
        self.canvas = np.full((self.ny, self.nx), np.nan, np.float32)

    def add(self, products: MosaicProducts) -> None:
        """Bin the block's S/N map to about the canvas resolution and sample it onto the canvas."""
        grid = products.grid
        factor = max(1, int(self.res * 3600 / grid.cell.to_value(u.arcsec)))
        snr = products.mosaic / products.noise
        ny, nx = (s // factor * factor for s in snr.shape)
        with warnings.catch_warnings():  # bins wholly blanked are NaN, as they should be
            warnings.simplefilter("ignore", RuntimeWarning)
            binned = np.nanmean(snr[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor), axis=(1, 3))
        ra = (np.arange(self.nx) + 0.5) * self.res
        dec = self.dec_min + np.arange(self.ny) * self.res
        lo = grid.ra_min.to_value(u.deg)
        span = (grid.ra_max - grid.ra_min).to_value(u.deg)
        cols = np.flatnonzero(np.mod(ra - lo, 360.0) <= span)
        gra, gdec = np.meshgrid(ra[cols], dec)
        x, y = grid.wcs.wcs_world2pix(gra, gdec, 0)
        values = ndimage.map_coordinates(binned, [(y - (factor - 1) / 2) / factor,
                                         (x - (factor - 1) / 2) / factor], order=1, cval=np.nan)
        target = self.canvas[:, cols]
        keep = np.isfinite(values)
        target[keep] = values[keep]
        self.canvas[:, cols] = target

    def save_png(self, path: str | Path, title: str = "") -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(18, 2.6), dpi=100)
        extent = (360.0, 0.0, self.dec_min, self.dec_min + self.ny * self.res)
        ax.imshow(self.canvas[:, ::-1], origin="lower", extent=extent, aspect="auto", cmap="gray_r",
                  vmin=-3, vmax=10, interpolation="nearest")
        ax.set_xlabel("RA (deg)")
        ax.set_ylabel("Dec (deg)")
        ax.set_title(title or "strip overview (S/N)")
        fig.tight_layout()
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp)
        plt.close(fig)
        tmp.replace(path)
        return path
