"""A small PNG preview of a tile image for the UI.

Radio images are mostly noise with a few bright sources, so a linear stretch
shows either nothing or only the brightest source. Limits come from a
zscale-like interval around the noise, and an asinh stretch keeps the noise
texture visible while compressing the bright end. The image is block-averaged
down to at most ``max_pixels`` per side so the PNG stays small.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _downsample(data: np.ndarray, max_pixels: int) -> np.ndarray:
    factor = int(np.ceil(max(data.shape) / max_pixels))
    if factor <= 1:
        return data
    ny, nx = (s // factor * factor for s in data.shape)
    blocks = data[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor)
    with np.errstate(invalid="ignore"):
        # nanmax keeps point sources visible (a mean would dilute them by factor^2).
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmax(blocks, axis=(1, 3))


def write_preview(
    data: np.ndarray,
    path: str | Path,
    title: str = "",
    max_pixels: int = 512,
    noise: float | None = None,
) -> Path:
    """Write a PNG of a 2-D image with an asinh stretch; returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from astropy.visualization import AsinhStretch, ImageNormalize, ZScaleInterval

    from .qa import robust_noise

    image = _downsample(np.asarray(data, dtype=float), max_pixels)
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        raise ValueError("nothing finite to preview")
    sigma = noise if noise else robust_noise(finite)
    low, _ = ZScaleInterval().get_limits(finite)
    vmin = max(low, np.median(finite) - 3 * sigma)
    vmax = max(np.nanmax(finite), vmin + 10 * sigma)
    # a = where the stretch turns from linear to logarithmic: ~10 sigma above vmin.
    a = float(np.clip(10 * sigma / (vmax - vmin), 1e-4, 1.0))
    norm = ImageNormalize(vmin=vmin, vmax=vmax, stretch=AsinhStretch(a=a))
    dpi = 100
    fig = plt.figure(figsize=(image.shape[1] / dpi, image.shape[0] / dpi), dpi=dpi)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(image, origin="lower", cmap="inferno", norm=norm, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.text(0.01, 0.99, title, color="white", fontsize=7, va="top", ha="left", transform=ax.transAxes)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
