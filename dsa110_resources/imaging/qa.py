"""Image QA: noise, peak, dynamic range, restoring beam, source recovery.

Every figure is measured on the image itself. Noise is a robust (MAD-based)
estimate on the residual, so sources and clean artefacts barely move it.
Source recovery compares reference sources (a sky catalog or the simulator's
truth, intrinsic fluxes) with the image: a Gaussian of the restoring beam's
shape is fitted at each expected position on the beam-uncorrected image, and
the fitted peak divided by the beam there gives the recovered flux density.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from scipy.optimize import least_squares

MAD_TO_SIGMA = 1.482602218505602
FWHM_TO_SIGMA = 1.0 / np.sqrt(8 * np.log(2))


def robust_noise(data: np.ndarray, clip: float = 5.0, iterations: int = 3) -> float:
    """Standard deviation estimated from the median absolute deviation.

    A few rounds of clipping at ``clip`` sigma drop sources and artefacts, so
    the figure tracks the thermal noise, not the sky.
    """
    values = np.asarray(data, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite pixels to measure noise on")
    for _ in range(iterations):
        centre = np.median(values)
        sigma = MAD_TO_SIGMA * np.median(np.abs(values - centre))
        keep = np.abs(values - centre) <= clip * sigma
        if sigma == 0 or keep.all():
            break
        values = values[keep]
    centre = np.median(values)
    return float(MAD_TO_SIGMA * np.median(np.abs(values - centre)))


@dataclass(frozen=True)
class ReferenceSources:
    """Sources the image should show: positions and intrinsic flux densities."""

    coords: SkyCoord
    flux: u.Quantity
    names: tuple[str, ...] = ()

    def __post_init__(self):
        if self.coords.shape != self.flux.shape:
            raise ValueError("coords and flux must have the same shape")
        if not self.names:
            object.__setattr__(self, "names", tuple(f"src{i}" for i in range(len(self.flux))))

    def __len__(self) -> int:
        return len(self.flux)

    @classmethod
    def from_truth(cls, truth, included_only: bool = True) -> ReferenceSources:
        """From the simulator's TileTruth (its ``sources`` rows).

        Uses ``true_flux_jy`` (catalog flux times any light-curve scaling at
        mid-time) and, by default, only the sources actually put into the
        visibilities (``included``).
        """
        rows = list(truth.sources if hasattr(truth, "sources") else truth)
        if included_only:
            rows = [r for r in rows if r.get("included", True)]
        return cls.from_rows(rows)

    @classmethod
    def from_rows(cls, rows) -> ReferenceSources:
        """From dict rows with ra_deg, dec_deg and true_flux_jy or flux_jy (a catalog)."""
        rows = list(rows)
        ra = np.array([r["ra_deg"] for r in rows], dtype=float) * u.deg
        dec = np.array([r["dec_deg"] for r in rows], dtype=float) * u.deg
        flux = np.array([r.get("true_flux_jy", r.get("flux_jy")) for r in rows], dtype=float) * u.Jy
        names = tuple(str(r.get("name", f"src{i}")) for i, r in enumerate(rows))
        return cls(SkyCoord(ra=ra, dec=dec, frame="icrs"), flux, names)


@dataclass
class SourceMatch:
    """One reference source measured on the image."""

    name: str
    ra_deg: float
    dec_deg: float
    true_flux_jy: float
    beam_response: float
    snr: float  # apparent (beam-attenuated) flux / noise
    flux_jy: float | None = None  # recovered, beam corrected
    flux_ratio: float | None = None
    offset_arcsec: float | None = None
    offset_beams: float | None = None  # offset in units of the beam FWHM along its direction


@dataclass
class RecoveryStats:
    """Flux-ratio and position-offset statistics over the sources above ``snr_min``."""

    snr_min: float
    n_reference: int
    n_measured: int
    flux_ratio_median: float | None
    flux_ratio_max_deviation: float | None  # max |ratio - 1|
    offset_median_arcsec: float | None
    offset_max_arcsec: float | None
    offset_median_beams: float | None
    offset_max_beams: float | None
    sources: list[SourceMatch] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ImageQA:
    """The QA figures stored with every image."""

    noise_jy: float
    peak_jy: float
    dynamic_range: float
    bmaj_arcsec: float
    bmin_arcsec: float
    bpa_deg: float
    expected_noise_jy: float | None = None
    noise_ratio: float | None = None  # measured / expected
    recovery: RecoveryStats | None = None
    noise_gate: dict | None = None  # the gate's expectation (imaging.noise_gate.NoiseExpectation)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary_lines(self) -> list[str]:
        lines = [
            f"noise      {self.noise_jy * 1e3:.3f} mJy/beam",
            f"peak       {self.peak_jy:.4f} Jy/beam",
            f"dyn range  {self.dynamic_range:.1f}",
            f"beam       {self.bmaj_arcsec:.1f}\" x {self.bmin_arcsec:.1f}\" PA {self.bpa_deg:.1f} deg",
        ]
        if self.expected_noise_jy:
            lines.append(
                f"expected   {self.expected_noise_jy * 1e3:.3f} mJy/beam (ratio {self.noise_ratio:.2f})"
            )
        r = self.recovery
        if r is not None:
            lines.append(f"sources    {r.n_measured}/{r.n_reference} above {r.snr_min:g} sigma measured")
            if r.n_measured:
                lines.append(
                    f"flux ratio median {r.flux_ratio_median:.4f}, max |ratio-1| {r.flux_ratio_max_deviation:.4f}"
                )
                lines.append(
                    f"offsets    median {r.offset_median_arcsec:.2f}\" max {r.offset_max_arcsec:.2f}\""
                    f" ({r.offset_median_beams:.3f} / {r.offset_max_beams:.3f} beams)"
                )
        return lines


def _beam_axes(bmaj: u.Quantity, bmin: u.Quantity, bpa: u.Quantity):
    """Unit vectors of the beam's axes on the sky, in (east, north)."""
    pa = bpa.to_value(u.rad)
    major = np.array([np.sin(pa), np.cos(pa)])  # PA from north through east
    minor = np.array([np.cos(pa), -np.sin(pa)])
    return major, minor


def _fit_point_source(image, x0, y0, wcs: WCS, beam, box: int):
    """Least-squares fit of amplitude, position and offset with the beam's shape fixed."""
    ny, nx = image.shape
    xi, yi = int(round(x0)), int(round(y0))
    x_lo, x_hi = max(0, xi - box), min(nx, xi + box + 1)
    y_lo, y_hi = max(0, yi - box), min(ny, yi + box + 1)
    cut = image[y_lo:y_hi, x_lo:x_hi].astype(float)
    if cut.size < 9 or not np.all(np.isfinite(cut)):
        return None
    yy, xx = np.mgrid[y_lo:y_hi, x_lo:x_hi]
    # Beam shape in pixel coordinates: pixel offsets -> (east, north) arcsec.
    scale = wcs.proj_plane_pixel_scales()
    dx_deg = scale[0].to_value(u.deg) * np.sign(wcs.pixel_scale_matrix[0, 0])  # east per +x pixel
    dy_deg = scale[1].to_value(u.deg)
    bmaj, bmin, bpa = beam
    major, minor = _beam_axes(bmaj, bmin, bpa)
    smaj = (bmaj * FWHM_TO_SIGMA).to_value(u.deg)
    smin = (bmin * FWHM_TO_SIGMA).to_value(u.deg)

    def model(p):
        amp, xc, yc, base = p
        east = (xx - xc) * dx_deg  # RA usually increases to the left (dx_deg < 0)
        north = (yy - yc) * dy_deg
        a = east * major[0] + north * major[1]
        b = east * minor[0] + north * minor[1]
        return amp * np.exp(-0.5 * ((a / smaj) ** 2 + (b / smin) ** 2)) + base

    iy, ix = np.unravel_index(np.argmax(cut), cut.shape)
    start = [cut[iy, ix], float(x_lo + ix), float(y_lo + iy), 0.0]
    fit = least_squares(lambda p: (model(p) - cut).ravel(), start, method="lm")
    amp, xc, yc, _ = fit.x
    if not (x_lo <= xc < x_hi and y_lo <= yc < y_hi):
        return None
    return amp, xc, yc


def recover_sources(
    image: np.ndarray,
    wcs: WCS,
    beam_map: np.ndarray,
    restoring: tuple[u.Quantity, u.Quantity, u.Quantity],
    noise_jy: float,
    references: ReferenceSources,
    snr_min: float = 10.0,
    pb_limit: float = 0.2,
) -> RecoveryStats:
    """Measure each reference source above ``snr_min`` on the (uncorrected) image.

    A source counts if it lies on the image where the beam is at least
    ``pb_limit`` and its apparent flux (intrinsic x beam) is ``snr_min``
    times the noise. Recovered flux = fitted peak / beam at the fitted position.
    """
    celestial = wcs.celestial
    ny, nx = image.shape
    bmaj, bmin, bpa = restoring
    cell = celestial.proj_plane_pixel_scales()[1].to(u.arcsec)
    box = max(3, int(np.ceil((0.75 * bmaj / cell).decompose().value)))
    xs, ys = celestial.world_to_pixel(references.coords)
    major, minor = _beam_axes(bmaj, bmin, bpa)
    icrs = references.coords.icrs
    ra_deg, dec_deg = icrs.ra.deg, icrs.dec.deg  # once: each attribute access builds a new array
    matches: list[SourceMatch] = []
    fits_at: list[tuple[int, float, float]] = []  # (match index, fitted x, fitted y)
    reference_of: list[int] = []
    for i in range(len(references)):
        x, y = float(xs[i]), float(ys[i])
        if not (box <= x < nx - box and box <= y < ny - box):
            continue
        response = float(beam_map[int(round(y)), int(round(x))])
        if response < pb_limit:
            continue
        true_flux = float(references.flux[i].to_value(u.Jy))
        snr = true_flux * response / noise_jy
        if snr < snr_min:
            continue
        match = SourceMatch(references.names[i], float(ra_deg[i]), float(dec_deg[i]), true_flux, response, snr)
        fitted = _fit_point_source(image, x, y, celestial, restoring, box)
        if fitted is not None:
            amp, xc, yc = fitted
            match.flux_jy = float(amp / float(beam_map[int(round(yc)), int(round(xc))]))
            match.flux_ratio = match.flux_jy / true_flux
            fits_at.append((len(matches), xc, yc))
        matches.append(match)
        reference_of.append(i)
    if fits_at:  # positions: one vectorised pixel -> sky conversion and offset for all fits
        index, xc, yc = (np.array(v) for v in zip(*fits_at))
        world = celestial.pixel_to_world(xc, yc).icrs
        found = SkyCoord(ra=world.ra, dec=world.dec, frame="icrs")
        refs = np.array(reference_of)[index]
        truth = SkyCoord(ra=ra_deg[refs] * u.deg, dec=dec_deg[refs] * u.deg, frame="icrs")
        d_east, d_north = truth.spherical_offsets_to(found)
        offset = np.stack([d_east.to_value(u.arcsec), d_north.to_value(u.arcsec)], axis=-1)
        along = np.hypot(offset @ major / bmaj.to_value(u.arcsec), offset @ minor / bmin.to_value(u.arcsec))
        for k, j in enumerate(index):
            matches[j].offset_arcsec = float(np.hypot(*offset[k]))
            matches[j].offset_beams = float(along[k])
    measured = [m for m in matches if m.flux_ratio is not None]
    ratios = np.array([m.flux_ratio for m in measured])
    offsets = np.array([m.offset_arcsec for m in measured])
    beams = np.array([m.offset_beams for m in measured])

    def stat(fn, values):
        return float(fn(values)) if values.size else None

    return RecoveryStats(
        snr_min=snr_min,
        n_reference=len(matches),
        n_measured=len(measured),
        flux_ratio_median=stat(np.median, ratios),
        flux_ratio_max_deviation=stat(lambda r: np.max(np.abs(r - 1)), ratios),
        offset_median_arcsec=stat(np.median, offsets),
        offset_max_arcsec=stat(np.max, offsets),
        offset_median_beams=stat(np.median, beams),
        offset_max_beams=stat(np.max, beams),
        sources=matches,
    )


def measure(
    image: np.ndarray,
    residual: np.ndarray,
    beam_map: np.ndarray,
    wcs: WCS,
    restoring: tuple[u.Quantity, u.Quantity, u.Quantity],
    pb_limit: float = 0.2,
    references: ReferenceSources | None = None,
    expected_noise: u.Quantity | None = None,
    snr_min: float = 10.0,
) -> ImageQA:
    """All QA figures of one tile image (2-D planes, beam-uncorrected)."""
    inside = beam_map >= pb_limit
    if not inside.any():
        raise ValueError("no pixel has primary-beam response above the limit")
    noise = robust_noise(residual[inside])
    peak = float(np.nanmax(image[inside]))
    bmaj, bmin, bpa = restoring
    qa = ImageQA(
        noise_jy=noise,
        peak_jy=peak,
        dynamic_range=peak / noise if noise > 0 else float("inf"),
        bmaj_arcsec=float(bmaj.to_value(u.arcsec)),
        bmin_arcsec=float(bmin.to_value(u.arcsec)),
        bpa_deg=float(bpa.to_value(u.deg)),
    )
    if expected_noise is not None:
        qa.expected_noise_jy = float(expected_noise.to_value(u.Jy))
        qa.noise_ratio = noise / qa.expected_noise_jy
    if references is not None:
        qa.recovery = recover_sources(image, wcs, beam_map, restoring, noise, references, snr_min, pb_limit)
    return qa
