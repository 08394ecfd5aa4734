"""CASA tclean backend: the reference imager, always available.

tclean runs in a CASA child process (dsa110_resources.casa.run_casa), so a
CASA crash fails this step and nothing else. Its images are exported with
Stokes last, the axis order WSClean writes (RA, Dec, FREQ, STOKES), and the
same header vocabulary is stamped on afterwards, so the two backends'
products are interchangeable downstream.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import astropy.units as u

from dsa110_resources.casa import run_casa
from dsa110_resources.child_steps import step_limit

from .params import ImageGrid, ImagingParams
from .wsclean import RawImages

log = logging.getLogger(__name__)


def tclean_arguments(ms: Path, imagename: str, grid: ImageGrid, params: ImagingParams, data_column: str,
                     channel_ranges=()) -> dict:
    """tclean keyword arguments equivalent to the WSClean command line.

    ``channel_ranges`` (inclusive runs of channels holding data) become an
    spw selection, so CASA does not read the flagged blocks of missing
    subbands at all.
    """
    args = dict(
        vis=str(ms),
        imagename=imagename,
        datacolumn="corrected" if data_column == "CORRECTED_DATA" else "data",
        imsize=[grid.size, grid.size],
        cell=f"{grid.cell.to_value(u.arcsec):.6g}arcsec",
        stokes="I",
        specmode="mfs",
        # w-projection: over a 4 deg field the w-term is tens of radians on the
        # outrigger baselines; WSClean corrects it with its w-gridder.
        gridder="wproject",
        wprojplanes=-1,
        deconvolver="hogbom",
        weighting=params.weighting,
        robust=params.robust,
        niter=params.niter,
        nmajor=params.max_major_cycles,
        gain=params.gain,
        # WSClean's -mgain: each major cycle cleans the peak down by this
        # fraction. DSA-110's PSF sidelobes are high, so tclean's default
        # (cyclefactor x sidelobe) would stop every minor cycle after a few
        # components and spend its time in major cycles.
        cyclefactor=1.0,
        maxpsffraction=1.0 - params.mgain,
        minpsffraction=min(0.05, 1.0 - params.mgain),
        nsigma=params.threshold_sigma,
        threshold="0Jy",
        # WSClean's -auto-mask: without a mask, cleaning to 3 sigma keeps
        # pulling noise into the model (the residual rms, and with it the
        # threshold, keeps falling). auto-multithresh grows a mask from peaks
        # above mask_sigma and cleans to nsigma inside it.
        usemask="auto-multithresh",
        noisethreshold=params.mask_sigma,
        sidelobethreshold=2.0,
        lownoisethreshold=1.5,
        minbeamfrac=0.1,
        # CASA knows no DSA-110 beam; the product computes its own, so tclean
        # must not blank anything on a beam of its own (negative: no mask).
        pblimit=-1e-6,
        restoringbeam="common",
        savemodel="none",
        interactive=False,
        parallel=False,
    )
    if (uv_min := params.uv_min_wavelengths()) is not None:
        args["uvrange"] = f">{uv_min:g}lambda"
    if channel_ranges:
        args["spw"] = "0:" + ";".join(f"{a}~{b}" for a, b in channel_ranges)
    return args


def _tclean_and_export(args: dict, exports: dict) -> dict:
    """Child-process body: tclean, then exportfits each product (Stokes last)."""
    from casatasks import exportfits, tclean

    tclean(**args)
    written = {}
    for kind, (casa_image, fits_path) in exports.items():
        if Path(casa_image).exists():
            exportfits(imagename=casa_image, fitsimage=fits_path, overwrite=True, stokeslast=True, velocity=False)
            written[kind] = fits_path
    return written


def run(ms: Path, workdir: Path, grid: ImageGrid, params: ImagingParams, data_column: str,
        channel_ranges=()) -> RawImages:
    """Image ``ms`` with tclean in ``workdir``; returns exported FITS outputs.

    One band, one spectral term: ``params.subband_images`` is WSClean's
    (tclean would need a cube or mtmfs run per product); no sub-band products.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    imagename = str(workdir / "tclean")
    args = tclean_arguments(Path(ms).resolve(), imagename, grid, params, data_column, channel_ranges)
    exports = {kind: (f"{imagename}.{kind}", str(workdir / f"tclean-{kind}.fits")) for kind in ("image", "residual", "model")}
    log.info("running tclean on %s: %s", ms, args)
    started = time.perf_counter()
    written = run_casa(
        "dsa110_resources.imaging.tclean:_tclean_and_export", args, exports, workdir=workdir / "casa",
        timeout=step_limit(params.timeout, ms),
    )
    seconds = time.perf_counter() - started
    if "image" not in written:
        raise RuntimeError(f"tclean made no image for {ms}")
    return RawImages(
        Path(written["image"]), Path(written["residual"]), Path(written["model"]) if "model" in written else None, seconds
    )
