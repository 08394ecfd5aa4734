"""WSClean backend: the field's standard fast imager, run as a subprocess.

WSClean writes ``<name>-image.fits`` etc. relative to ``-name``; we run it
inside a private work directory so parallel tiles never collide, and turn a
failure into an error naming the MS and quoting WSClean's own message.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u

from ..child_steps import StepTimeoutError, run_tool, step_limit
from .params import ImageGrid, ImagingParams

log = logging.getLogger(__name__)

EXECUTABLE = "wsclean"


class WSCleanError(RuntimeError):
    """WSClean failed on an MS; the message carries its output tail."""


@dataclass(frozen=True)
class RawImages:
    """A backend's own FITS outputs, before the product headers are stamped."""

    image: Path
    residual: Path
    model: Path | None
    seconds: float
    log_text: str = ""
    subbands: tuple[Path, ...] = ()  # restored sub-band images (each header has its frequency)


def available() -> bool:
    return shutil.which(EXECUTABLE) is not None


def command(ms: Path, name: str, grid: ImageGrid, params: ImagingParams, data_column: str) -> list[str]:
    """The WSClean command line for the standard DSA-110 image."""
    weight = ["-weight", "briggs", f"{params.robust:g}"] if params.weighting == "briggs" else ["-weight", params.weighting]
    cmd = [
        EXECUTABLE,
        "-name", name,
        "-size", str(grid.size), str(grid.size),
        "-scale", f"{grid.cell.to_value(u.arcsec):.6g}asec",
        *weight,
        "-pol", "I",  # Stokes I = (XX+YY)/2, as CASA forms it
        "-data-column", data_column,
        "-niter", str(params.niter),
        "-nmiter", str(params.max_major_cycles),
        "-gain", f"{params.gain:g}",
        "-mgain", f"{params.mgain:g}",
        "-auto-threshold", f"{params.threshold_sigma:g}",
        "-j", str(params.threads),
        "-no-update-model-required",  # leave the MS untouched (no MODEL_DATA writes)
        "-no-dirty",
        "-log-time",
    ]
    # The w-gridder: accurate w-correction over the 4 deg field, and faster
    # here than WSClean's w-stacking (measured on a full tile).
    cmd += ["-use-wgridder", "-wgridder-accuracy", f"{params.wgridder_accuracy:g}"]
    if params.subband_images > 1:
        # Joined-channel deconvolution: peaks found on the summed image, each
        # component's spectrum fitted across the sub-bands.
        cmd += ["-channels-out", str(params.subband_images), "-join-channels"]
        if params.spectral_terms > 1:
            cmd += ["-fit-spectral-pol", str(min(params.spectral_terms, params.subband_images))]
    if params.mask_sigma and params.mask_sigma > params.threshold_sigma:
        cmd += ["-auto-mask", f"{params.mask_sigma:g}"]
    if (uv_min := params.uv_min_wavelengths()) is not None:
        cmd += ["-minuv-l", f"{uv_min:g}"]
    if params.baseline_averaging:
        cmd += ["-baseline-averaging", f"{params.baseline_averaging:g}"]
    if params.memory_gb:
        cmd += ["-abs-mem", f"{params.memory_gb:g}"]
    cmd += list(params.extra_args)
    cmd.append(str(ms))
    return cmd


def run(ms: Path, workdir: Path, grid: ImageGrid, params: ImagingParams, data_column: str,
        channel_ranges=()) -> RawImages:
    """Image ``ms`` with WSClean in ``workdir``; returns its FITS outputs.

    ``channel_ranges`` is accepted for interface symmetry; WSClean skips
    fully flagged channels itself while reordering.
    """
    if not available():
        raise WSCleanError("wsclean is not installed (Debian package 'wsclean'); use backend='tclean'")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    name = "wsclean"
    cmd = command(Path(ms).resolve(), name, grid, params, data_column)
    (workdir / "tmp").mkdir(exist_ok=True)
    cmd[1:1] = ["-temp-dir", str(workdir / "tmp")]
    log.info("running %s", " ".join(cmd))
    started = time.perf_counter()
    try:
        done = run_tool(cmd, step=f"WSClean on {ms}", cwd=workdir, timeout=step_limit(params.timeout, ms))
    except StepTimeoutError as exc:
        (workdir / "wsclean.log").write_text(exc.output)
        raise WSCleanError(str(exc)) from exc
    seconds = time.perf_counter() - started
    output = (done.stdout or "") + (done.stderr or "")
    (workdir / "wsclean.log").write_text(output)
    # With sub-bands WSClean names the full-band products <name>-MFS-<kind>
    # and the sub-bands <name>-<NNNN>-<kind>.
    full = f"{name}-MFS" if params.subband_images > 1 else name
    image, residual, model = (workdir / f"{full}-{kind}.fits" for kind in ("image", "residual", "model"))
    subbands = tuple(workdir / f"{name}-{i:04d}-image.fits" for i in range(params.subband_images)) \
        if params.subband_images > 1 else ()
    if done.returncode != 0 or not image.exists() or not all(p.exists() for p in subbands):
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise WSCleanError(f"WSClean failed on {ms} (exit code {done.returncode}):\n{tail}")
    if not residual.exists():
        residual = image  # niter 0: nothing was cleaned, the image is its own residual
    return RawImages(image, residual, model if model.exists() else None, seconds, output, subbands)
