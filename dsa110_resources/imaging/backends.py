"""One interface, two imagers: ``make_image(ms, out_prefix, params, backend=...)``.

The backends differ only in how they turn visibilities into an image,
residual and restoring beam. Everything after that is shared: the grid is
chosen from the MS the same way, the primary beam is the product's own (not
the imager's), and the FITS products, headers and QA are made by the same
code, so a WSClean image and a tclean image of one tile are directly
comparable.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from . import tclean as tclean_backend
from . import wsclean as wsclean_backend
from .fits_products import ProductContext, plane, product_path, restoring_beam, stamp, subband_kind, write_fits
from .msinfo import TileObservation
from .params import ImageGrid, ImagingParams, MsExtent, choose_data_column, resolve
from .primary_beam import correct
from .qa import ImageQA, ReferenceSources, measure

log = logging.getLogger(__name__)

BACKENDS = {"wsclean": wsclean_backend.run, "tclean": tclean_backend.run}


def default_backend() -> str:
    """WSClean when installed (it is the faster imager), else CASA tclean."""
    return "wsclean" if wsclean_backend.available() else "tclean"


@dataclass
class ImageResult:
    """What one imaging run produced."""

    observation: TileObservation
    backend: str
    grid: ImageGrid
    data_column: str
    products: dict[str, Path]  # kind -> FITS path (image, residual, pbcor, pb; image-sbN, pb-sbN)
    qa: ImageQA
    backend_seconds: float
    total_seconds: float
    preview: Path | None = None
    extras: dict = field(default_factory=dict)


def make_image(
    ms: str | Path,
    out_prefix: str | Path,
    params: ImagingParams | None = None,
    backend: str | None = None,
    *,
    tile_id: str | None = None,
    caltables: tuple[str, ...] | list[str] = (),
    references: ReferenceSources | None = None,
    expected_noise: u.Quantity | None = None,
    workdir: str | Path | None = None,
    preview: bool = True,
) -> ImageResult:
    """Image one tile: FITS products at ``<out_prefix>.<kind>.fits`` plus QA.

    ``references`` (catalog or simulator truth) enables source-recovery QA;
    ``expected_noise`` (e.g. the simulator's thermal figure) adds a noise
    ratio. ``workdir`` holds the backend's scratch files (a temporary
    directory beside the products by default, removed afterwards).
    """
    started = time.perf_counter()
    params = params or ImagingParams()
    backend = backend or default_backend()
    if params.niter < 1:
        # WSClean leaves a dirty image without a restoring beam; QA needs one.
        raise ValueError("niter must be at least 1 (products carry a restoring beam)")
    if backend not in BACKENDS:
        raise ValueError(f"unknown imaging backend {backend!r}; choose from {sorted(BACKENDS)}")
    ms = Path(ms)
    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    observation = TileObservation.read(ms, tile_id=tile_id)
    data_column = choose_data_column(ms, params.data_column)
    grid, params = resolve(MsExtent.read(ms), params)
    log.info(
        "imaging tile %s with %s: %d^2 px at %.2f arcsec (%.2f deg), %s",
        observation.tile_id, backend, grid.size, grid.cell.to_value(u.arcsec),
        grid.field_of_view.to_value(u.deg), data_column,
    )
    own_workdir = workdir is None
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f".work-{out_prefix.name}-", dir=out_prefix.parent))
    try:
        raw = BACKENDS[backend](ms, work / backend, grid, params, data_column, observation.channel_ranges)
        result = _write_products(raw, observation, backend, grid, params, data_column, tuple(caltables),
                                 out_prefix, references, expected_noise, preview)
    finally:
        if own_workdir:
            shutil.rmtree(work, ignore_errors=True)
    result.backend_seconds = raw.seconds
    result.total_seconds = time.perf_counter() - started
    return result


def _write_products(raw, observation, backend, grid, params, data_column, caltables, out_prefix,
                    references, expected_noise, want_preview) -> ImageResult:
    with fits.open(raw.image) as hdul:
        header = hdul[0].header.copy()
        cube = np.asarray(hdul[0].data, dtype=np.float32)
    residual_cube = np.asarray(fits.getdata(raw.residual), dtype=np.float32)
    beam = restoring_beam(header)
    with warnings.catch_warnings():
        # WSClean writes DATE-OBS without MJD-OBS; astropy's fix is harmless.
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    image = plane(cube)
    residual = plane(residual_cube)
    pb = observation.beam(params).on_grid(wcs, image.shape)
    pbcor = correct(image, pb, params.pb_limit)
    context = ProductContext(
        observation=observation, backend=backend, params=params, data_column=data_column,
        caltables=caltables,
        history=(f"{backend} {grid.size}x{grid.size} cell {grid.cell.to_value(u.arcsec):.3f} arcsec",
                 *([f"baseline-dependent averaging {params.baseline_averaging:g} lambda"]
                   if backend == "wsclean" and params.baseline_averaging else [])),
    )
    products = {}
    for kind, data in (("image", image), ("residual", residual), ("pb", pb), ("pbcor", pbcor)):
        products[kind] = write_fits(
            product_path(out_prefix, kind), data.reshape(cube.shape), stamp(header, kind, context, beam)
        )
    for index, path in enumerate(raw.subbands):
        products.update(_subband_products(path, index, context, out_prefix, params))
    qa = measure(image, residual, pb, wcs, beam, params.pb_limit, references, expected_noise)
    preview_path = None
    if want_preview:
        from .preview import write_preview

        preview_path = write_preview(
            pbcor, Path(f"{out_prefix}.preview.png"), title=f"{observation.tile_id} {backend}", noise=None
        )
    return ImageResult(observation, backend, grid, data_column, products, qa, raw.seconds, 0.0, preview_path)


def _subband_products(path: Path, index: int, context: ProductContext, out_prefix: Path,
                      params: ImagingParams) -> dict[str, Path]:
    """The restored image of one sub-band and its own primary beam (the beam
    narrows across the band as 1/frequency: ~13% from edge to edge), stamped
    with the sub-band's channels. A sub-band with no channel carrying data
    (missing subband files) has no products."""
    with fits.open(path) as hdul:
        header = hdul[0].header.copy()
        cube = np.asarray(hdul[0].data, dtype=np.float32)
    axis = next((i for i in range(1, header["NAXIS"] + 1) if str(header.get(f"CTYPE{i}", "")).upper() == "FREQ"), None)
    if axis is None:
        raise ValueError(f"{path}: sub-band image has no FREQ axis")
    centre, width = header[f"CRVAL{axis}"], abs(header[f"CDELT{axis}"])
    obs = context.observation
    freqs = obs.frequencies.to_value(u.Hz)
    inside = np.abs(freqs - centre) <= width / 2 * (1 + 1e-9)
    if not inside.any():
        log.info("sub-band %d (%.1f MHz) of %s holds no data; no products", index, centre / 1e6, obs.tile_id)
        return {}
    sub_obs = replace(obs, frequencies=obs.frequencies[inside], bandwidth=obs.bandwidth * inside.sum() / inside.size)
    # The image is the sky at the mean frequency of the channels with data,
    # not at the sub-band's nominal centre (they differ when subbands are missing).
    header[f"CRVAL{axis}"] = (float(freqs[inside].mean()), "[Hz] mean of channels with data")
    sub_context = replace(context, observation=sub_obs,
                          history=(*context.history, f"sub-band {index}: {centre / 1e6:.3f} MHz, {width / 1e6:.3f} MHz wide"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    image = plane(cube)
    pb = sub_obs.beam(params).on_grid(wcs, image.shape)
    beam = restoring_beam(header)
    out = {}
    for kind, data in (("image", image), ("pb", pb)):
        name = subband_kind(kind, index)
        out[name] = write_fits(product_path(out_prefix, name), data.reshape(cube.shape),
                               stamp(header, name, sub_context, beam))
    return out
