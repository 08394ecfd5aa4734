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
    """Write a PNG of a 2-D image with an asinh stretch; returns the path.

    The title goes into the PNG's text metadata rather than onto the pixels.
    """
    import matplotlib
    from astropy.visualization import AsinhStretch, ImageNormalize, ZScaleInterval
    from PIL import Image as PILImage
    from PIL.PngImagePlugin import PngInfo

    from .qa import robust_noise

    image = _downsample(np.asarray(data, dtype=float), max_pixels)
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        raise ValueError("nothing finite to preview")
    sigma = noise if noise else robust_noise(finite)
    low, _ = ZScaleInterval().get_limits(finite)
    vmin = max(low, np.median(finite) - 2 * sigma)
    vmax = max(np.nanmax(finite), vmin + 10 * sigma)
    # a = where the stretch turns from linear to logarithmic: a few sigma above vmin,
    # so the noise texture stays visible and bright sources do not saturate.
    a = float(np.clip(5 * sigma / (vmax - vmin), 1e-4, 1.0))
    norm = ImageNormalize(vmin=vmin, vmax=vmax, stretch=AsinhStretch(a=a), clip=True)
    scaled = np.nan_to_num(np.asarray(norm(image)), nan=0.0)
    rgba = matplotlib.colormaps["inferno"](scaled[::-1], bytes=True)  # north up
    rgba[..., 3] = np.where(np.isfinite(image[::-1]), 255, 0)  # blanked pixels transparent
    info = PngInfo()
    if title:
        info.add_text("Title", title)
    info.add_text("Stretch", f"asinh a={a:.3g}, {vmin:.3g}..{vmax:.3g} Jy/beam")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A 256-colour palette keeps the file small (the noise does not compress).
    picture = PILImage.fromarray(rgba, "RGBA").quantize(colors=255, method=PILImage.Quantize.FASTOCTREE)
    picture.save(path, optimize=True, pnginfo=info)
    return path
