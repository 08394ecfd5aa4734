"""Blind source finding on a tile image or mosaic with PyBDSF.

Why PyBDSF (docs/design-notes.md, "Blind source finding"): on a full-size
simulated tile it finds the same sources as Aegean in a seventh of the time
(Aegean fits each island in Python: minutes for a tile's ~1400), and
Aegean 2.3.5 cannot read a 4-D WSClean image with astropy 8 without a cube
index. Two things are done around it: the detection rms comes from the
imager's residual (PyBDSF's own map of the image read 7% high on a crowded
tile), and islands whose Gaussian fit failed (~2%) are measured by the
forced beam fit instead of being dropped.

We search the image *before* primary-beam correction, whose noise is the
same everywhere, so one threshold means one false-detection rate across the
field; fluxes are then divided by the beam at each source (as forced
photometry does), and sources where the beam is below ``pb_limit`` dropped.
An island is seeded by a pixel at least ``snr_min`` times the local rms (the
threshold that sets the false-detection rate); its brightest source is a
detection whatever its fitted peak (a fitted peak scatters ~1.4x more than
the brightest pixel, so cutting on it loses a tenth of 7-sigma sources).
Further sources of an island must reach ``snr_min`` on their own: PyBDSF
adds faint Gaussians in the wings of bright sources (code "C", 3-4 sigma).

PyBDSF writes a log beside its input; it is given a symbolic link in a
scratch directory so nothing lands in the product tree.
"""

from __future__ import annotations

import gc
import math
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dsa110_resources.constants import PRIMARY_BEAM_LIMIT
from dsa110_resources.mosaic.grid import BAND_CENTRE
from dsa110_resources.photometry.forced import RestoringBeam, _epoch_mjd, _frequency_hz, read_plane

__all__ = ["FinderOptions", "find_sources", "FINDER_NAME", "COLUMNS"]

FINDER_NAME = "pybdsf"

#: Columns of a source table (one row per source; fluxes beam-corrected, Jy).
COLUMNS = (
    "ra_deg", "dec_deg", "ra_err_arcsec", "dec_err_arcsec", "peak_jy", "peak_err_jy", "flux_jy", "flux_err_jy",
    "major_arcsec", "minor_arcsec", "pa_deg", "local_rms_jy", "snr", "pb_gain", "x_pix", "y_pix", "code",
    "island_id",
)


@dataclass(frozen=True)
class FinderOptions:
    """The finder's thresholds, in units of the local rms.

    snr_min: a source's peak over the local rms (the detection threshold, and
        PyBDSF's island seed ``thresh_pix``).
    island_snr: where islands are cut (``thresh_isl``).
    rms_box_beams: size and step of the rms/mean box in restoring-beam major
        axes: large enough to hold ~100 beams, small enough to follow a mosaic's
        noise rising toward its edges.
    pb_limit: sources where the primary beam is lower are dropped.
    """

    snr_min: float = 5.0
    island_snr: float = 3.0
    rms_box_beams: tuple[float, float] = (15.0, 5.0)
    pb_limit: float = PRIMARY_BEAM_LIMIT
    threads: int = 1


def _rms_box(header, options: FinderOptions) -> tuple[int, int]:
    beam = RestoringBeam.from_header(header)
    cell = abs(float(header["CDELT2"]))
    bmaj_pix = beam.major.to_value("deg") / cell
    box = max(20, int(round(options.rms_box_beams[0] * bmaj_pix)))
    step = max(5, int(round(options.rms_box_beams[1] * bmaj_pix)))
    return box, min(step, box // 2)


def residual_rms_map(residual: np.ndarray, box: int) -> np.ndarray:
    """Local rms of a residual image: MAD in boxes of ``box`` pixels, interpolated to every pixel.

    The residual holds the noise without the sources, so its rms is not
    inflated by the wings of the many faint sources a tile holds (PyBDSF's own
    map, on the image, came out ~7% high on a simulated tile: a tenth of the
    7-sigma sources lost).
    """
    from scipy.ndimage import zoom

    ny, nx = residual.shape
    by, bx = -(-ny // box), -(-nx // box)
    padded = np.full((by * box, bx * box), np.nan, np.float32)
    padded[:ny, :nx] = residual
    blocks = padded.reshape(by, box, bx, box).transpose(0, 2, 1, 3).reshape(by, bx, -1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks (blanked corners)
        med = np.nanmedian(blocks, axis=2)
        rms = 1.4826 * np.nanmedian(np.abs(blocks - med[..., None]), axis=2)
    good = np.isfinite(rms) & (rms > 0)
    if not good.any():
        raise ValueError("the residual image holds no finite noise")
    rms = np.where(good, rms, np.nanmedian(rms[good]))
    full = zoom(rms, (by * box / by, bx * box / bx), order=1, mode="nearest", grid_mode=True)
    return full[:ny, :nx].astype(np.float32)


def _run_pybdsf(image_path: Path, options: FinderOptions, rms_box: tuple[int, int],
                residual_path: Path | None = None, rms_path: Path | None = None):
    import bdsf
    from astropy.io import fits
    from astropy.table import Table

    with tempfile.TemporaryDirectory(prefix="dsa110-bdsf-") as scratch:
        link = Path(scratch) / image_path.name
        link.symlink_to(image_path.resolve())
        extra = {}
        if not math.isfinite(_frequency_hz(fits.getheader(image_path))):
            # A mosaic is 2-D with no FREQ axis; its tiles share the band.
            extra["frequency"] = float(BAND_CENTRE.to_value("Hz"))
        if residual_path is not None or rms_path is not None:
            rms = (read_plane(rms_path).data if rms_path is not None
                   else residual_rms_map(read_plane(residual_path).data, rms_box[0]))
            # Blanked pixels (a mosaic's edges): a noise nothing can exceed.
            good = np.isfinite(rms) & (rms > 0)
            rms = np.where(good, rms, 1e3 * np.nanmax(np.where(good, rms, np.nan))).astype(np.float32)
            header = fits.getheader(image_path)
            # The maps take the image's own axes (PyBDSF reads them like the image).
            shape = (1,) * (int(header["NAXIS"]) - 2) + rms.shape
            mean_file, rms_file = Path(scratch) / "mean.fits", Path(scratch) / "rms.fits"
            fits.writeto(mean_file, np.zeros(shape, np.float32), header)
            fits.writeto(rms_file, rms.reshape(shape), header)
            # rms_map=True: else PyBDSF may judge the map flat and use its own constant.
            extra.update(rmsmean_map_filename=[mean_file.name, rms_file.name], rms_map=True)  # names: in its dir
        # PyBDSF runs gc.collect() after each of its 16 steps; in a process that
        # has imported Dagster and astropy that was 8.7 of 9.5 s on a small
        # image. Frozen objects are skipped by the collector (and unfrozen after).
        gc.freeze()
        try:
            img = bdsf.process_image(
                str(link), thresh_pix=options.snr_min, thresh_isl=options.island_snr, rms_box=rms_box,
                quiet=True, ncores=options.threads, output_all=False, **extra,
            )
        finally:
            gc.unfreeze()
        if img.nsrc == 0:
            return None
        catalog = Path(scratch) / "srl.fits"
        # incl_empty: islands whose Gaussian fit failed (2% of a simulated
        # tile's, some of them 7 sigma) come back as rows with Source_id < 0.
        img.write_catalog(outfile=str(catalog), format="fits", catalog_type="srl", clobber=True, incl_empty=True)
        return Table.read(catalog)


def _fit_empty_islands(plane, rows: pd.DataFrame, residual_path) -> pd.DataFrame:
    """A beam-shaped forced fit at the brightest pixel of each island PyBDSF could not fit."""
    from astropy.coordinates import SkyCoord

    from dsa110_resources.photometry.forced import forced_photometry

    coords = SkyCoord(rows["ra_deg"].to_numpy(), rows["dec_deg"].to_numpy(), unit="deg")
    fit = forced_photometry(plane, coords, residual=read_plane(residual_path) if residual_path else None,
                            source_ids=rows.index.to_numpy()).set_index("source_id")
    rows = rows.copy()
    beam = RestoringBeam.from_header(plane.header)
    cell = abs(float(plane.header["CDELT2"])) * 3600.0
    amp = fit["apparent_flux_jy"].reindex(rows.index).to_numpy()
    rms = fit["local_rms_jy_beam"].reindex(rows.index).to_numpy()
    snr = amp / rms
    # Condon (1997): sigma_pos ~ FWHM / (2 snr); plus the pixel the position is quantised to.
    err = np.hypot(beam.major.to_value("arcsec") / (2 * np.maximum(snr, 1.0)), cell / math.sqrt(12))
    rows = rows.assign(peak_jy=amp, peak_err_jy=fit["flux_err_jy"].reindex(rows.index).to_numpy(), flux_jy=amp,
                       flux_err_jy=fit["flux_err_jy"].reindex(rows.index).to_numpy(), local_rms_jy=rms, snr=snr,
                       ra_err_arcsec=err, dec_err_arcsec=err, major_arcsec=beam.major.to_value("arcsec"),
                       minor_arcsec=beam.minor.to_value("arcsec"), pa_deg=beam.pa.to_value("deg"), code="E")
    return rows


def find_sources(image_path: str | Path, *, pb_path: str | Path | None = None,
                 residual_path: str | Path | None = None, rms_path: str | Path | None = None,
                 options: FinderOptions = FinderOptions()) -> pd.DataFrame:
    """Sources on one image, with beam-corrected fluxes; see the module docstring.

    residual_path: the imager's residual on the same grid; its local rms is the
        detection noise (else PyBDSF's rms map of the image itself).
    rms_path: an rms map on the same grid (a mosaic's noise plane), used as is.

    Returns a DataFrame with ``COLUMNS`` (empty when nothing is found) and, in
    ``.attrs``, the epoch (MJD), the finder and its run time.
    """
    image_path = Path(image_path)
    if not image_path.is_file():
        raise FileNotFoundError(f"image {image_path} does not exist")
    plane = read_plane(image_path)
    if "BMAJ" not in plane.header:
        raise ValueError(f"{image_path}: no restoring beam (BMAJ/BMIN) in the header: cannot find sources")
    start = time.perf_counter()
    table = _run_pybdsf(image_path, options, _rms_box(plane.header, options),
                        Path(residual_path) if residual_path else None, Path(rms_path) if rms_path else None)
    seconds = time.perf_counter() - start
    out = pd.DataFrame({c: pd.Series(dtype=float) for c in COLUMNS})
    if table is not None:
        deg = 3600.0
        peak = np.asarray(table["Peak_flux"], float)
        rms = np.asarray(table["Isl_rms"], float)
        ra, dec = np.asarray(table["RA"], float), np.asarray(table["DEC"], float)
        x, y = plane.wcs.world_to_pixel_values(ra, dec)
        out = pd.DataFrame({
            "ra_deg": ra % 360.0, "dec_deg": dec,
            "ra_err_arcsec": np.asarray(table["E_RA"], float) * deg,
            "dec_err_arcsec": np.asarray(table["E_DEC"], float) * deg,
            "peak_jy": peak, "peak_err_jy": np.asarray(table["E_Peak_flux"], float),
            "flux_jy": np.asarray(table["Total_flux"], float),
            "flux_err_jy": np.asarray(table["E_Total_flux"], float),
            "major_arcsec": np.asarray(table["Maj"], float) * deg,
            "minor_arcsec": np.asarray(table["Min"], float) * deg,
            "pa_deg": np.asarray(table["PA"], float),
            "local_rms_jy": rms, "snr": peak / rms, "pb_gain": 1.0,
            "x_pix": np.asarray(x, float), "y_pix": np.asarray(y, float),
            "code": np.asarray(table["S_Code"]).astype(str),
            "island_id": np.asarray(table["Isl_id"], int),
        })
        empty = np.asarray(table["Source_id"], int) < 0
        if empty.any():
            out.loc[empty] = _fit_empty_islands(plane, out[empty], residual_path)
        # The island passed the seed threshold (a pixel above snr_min): its
        # brightest source is a detection; further components must pass alone.
        brightest = out.groupby("island_id")["peak_jy"].transform("max") == out["peak_jy"]
        out = out[brightest | (out["snr"] >= options.snr_min)]
        if pb_path is not None:
            pb = read_plane(pb_path)
            px, py = pb.wcs.world_to_pixel_values(out["ra_deg"].to_numpy(), out["dec_deg"].to_numpy())
            ix, iy = np.rint(px).astype(int), np.rint(py).astype(int)
            inside = (ix >= 0) & (iy >= 0) & (ix < pb.shape[1]) & (iy < pb.shape[0])
            gain = np.where(inside, pb.data[np.clip(iy, 0, pb.shape[0] - 1), np.clip(ix, 0, pb.shape[1] - 1)], 0.0)
            gain = np.nan_to_num(gain)
            out = out.assign(pb_gain=gain)[gain >= options.pb_limit]
            for c in ("peak_jy", "peak_err_jy", "flux_jy", "flux_err_jy"):
                out[c] = out[c] / out["pb_gain"]
        out = out.sort_values("snr", ascending=False).reset_index(drop=True)
    out.attrs.update(epoch_mjd=_epoch_mjd(plane.header), finder=FINDER_NAME, seconds=round(seconds, 2),
                     image=str(image_path), shape=list(plane.shape))
    if not math.isfinite(out.attrs["epoch_mjd"]):
        raise ValueError(f"{image_path}: no MJD-OBS or DATE-OBS in the header: a detection needs an epoch")
    return out
