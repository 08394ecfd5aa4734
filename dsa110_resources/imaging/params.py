"""Imaging parameters with DSA-110 defaults, and the grid chosen from the data.

The defaults follow imaging practice at DSA-110 (shared/dsa110-facts.md):
multi-frequency synthesis of Stokes I, Briggs weighting with robust 0.5,
cleaning to a few times the noise, the corrected image masked where the
primary beam falls below 0.2. The speed-related defaults (Nyquist cell,
baseline-dependent averaging, w-gridder accuracy, major-cycle gain) were
chosen on a full simulated tile with bench/image.py; each field's comment
says what it costs. The image grid is not a fixed number: the cell
is a fraction of the finest fringe spacing the MS actually holds (longest
projected baseline at the highest frequency), and the field covers a multiple
of the primary-beam FWHM, so a core-only tile gets a coarse small image and a
tile with outriggers a fine large one.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import astropy.units as u
import numpy as np

from dsa110_resources import constants as C

log = logging.getLogger(__name__)

#: Airy FWHM = AIRY_FWHM_FACTOR * lambda / D (first-principles value of the
#: (2 J1(x)/x)^2 pattern; primary_beam.py tests it).
AIRY_FWHM_FACTOR = 1.0290

#: Sizes WSClean and CASA both grid quickly (products of small primes, even).
_FFT_FRIENDLY = sorted(
    {2**a * 3**b * 5**c for a in range(1, 14) for b in range(0, 5) for c in range(0, 4)}
)


@dataclass(frozen=True)
class ImagingParams:
    """What to image and how. ``None`` fields are chosen from the MS.

    Quantities carry units; ``with_overrides`` takes plain numbers in the
    units named by each field's comment (what the command line passes).
    """

    size: int | None = None  # pixels per side; None: field_of_view / cell
    cell: u.Quantity | None = None  # angle; None: finest fringe / cells_per_fringe
    # Sampling of lambda_min / B_max. 2 is Nyquist for the longest baseline
    # (every measured spatial frequency lands on the grid) and gives the
    # Briggs-0.5 beam of a full tile (~75" x 48") 6-10 pixels; uniform
    # weighting's ~lambda/B beam gets ~2.4, so pass a finer cell for it.
    cells_per_fringe: float = 2.0
    field_of_view_fwhm: float = 1.5  # field side in units of the primary-beam FWHM
    max_size: int = 8192  # refuse to build anything bigger by accident
    weighting: str = "briggs"  # briggs | natural | uniform
    robust: float = 0.5  # Briggs robust (DSA-110 practice: 0 to 0.5)
    niter: int = 100_000  # upper bound; the threshold stops the clean
    max_major_cycles: int = 20  # safety stop: a clean that cannot converge ends here, not never
    gain: float = 0.1  # minor-cycle loop gain
    # Major-cycle gain (fraction of the peak cleaned per major cycle): 4 major
    # cycles on a full tile where 0.8 takes 5; 0.95 (3) left a faint off-axis
    # source of the imaging test 20% low and the full-tile residual 25% higher.
    mgain: float = 0.9
    threshold_sigma: float = 3.0  # stop cleaning at this many noise sigma
    mask_sigma: float = 5.0  # WSClean auto-mask: first clean to this, then to threshold within the mask
    uv_min: u.Quantity | None = None  # e.g. 1000 lambda ("uv > 1 klambda" is optional practice)
    # WSClean baseline-dependent time averaging (-baseline-averaging), in
    # wavelengths of uv motion. None: as much as the longest baseline moves in
    # one integration (B_max[lambda] * 2 pi * t_int / sidereal day, ~13 for a
    # 2.8 km array): short baselines are averaged only until they smear as much
    # as the longest already does: ~5x fewer visibilities and ~3x less imager
    # time on a full tile, for point-source peaks lower by ~0.5% within 1 deg
    # of the centre, ~2.5% at 1-1.5 deg and ~3.5% beyond (bench tile, against
    # no averaging). 0: off, for the last percent off-axis. tclean ignores it.
    baseline_averaging: float | None = None
    # WSClean w-gridder accuracy: 1e-3 changes a full-tile image by 2% of the
    # thermal noise (rms) against 1e-4, and grids ~25% faster.
    wgridder_accuracy: float = 1e-3
    # Multi-frequency synthesis over this many equal sub-bands of the 187-MHz
    # band (13% fractional), deconvolved jointly with a polynomial spectrum of
    # ``spectral_terms`` terms (WSClean -channels-out/-join-channels/
    # -fit-spectral-pol): the full-band image no longer assumes a flat
    # spectrum, and the sub-band images (kept with their own primary beams,
    # kinds image-sbN and pb-sbN) give the light curves a spectrum per epoch
    # for the ESE chromaticity test. 1: one band, one term (tclean always).
    subband_images: int = 4
    spectral_terms: int = 2
    data_column: str | None = None  # None: CORRECTED_DATA when it holds data, else DATA
    pb_limit: float = C.PRIMARY_BEAM_LIMIT  # corrected image is NaN where the beam is lower
    pb_time_samples: int = 9  # hour angles sampled across the tile for the averaged beam
    pb_freq_samples: int = 5  # frequencies sampled across the band
    threads: int = 2
    memory_gb: float | None = 8.0  # WSClean -abs-mem; None: WSClean's own default
    extra_args: tuple[str, ...] = field(default=())  # passed through to the backend
    timeout: float | None = None  # seconds the imager may run; None: child_steps.step_timeout(ms)

    def with_overrides(self, **values) -> ImagingParams:
        """A copy with the non-None ``values`` applied (plain numbers get units).

        ``cell`` in arcsec, ``uv_min`` in wavelengths.
        """
        clean = {k: v for k, v in values.items() if v is not None}
        if "cell" in clean and not isinstance(clean["cell"], u.Quantity):
            clean["cell"] = float(clean["cell"]) * u.arcsec
        if "uv_min" in clean and not isinstance(clean["uv_min"], u.Quantity):
            clean["uv_min"] = float(clean["uv_min"]) * u.dimensionless_unscaled
        return replace(self, **clean)

    def uv_min_wavelengths(self) -> float | None:
        if self.uv_min is None:
            return None
        return float(u.Quantity(self.uv_min).to_value(u.dimensionless_unscaled))


@dataclass(frozen=True)
class ImageGrid:
    """The pixel grid of one image: side in pixels and the cell angle."""

    size: int
    cell: u.Quantity

    @property
    def field_of_view(self) -> u.Quantity:
        return (self.size * self.cell).to(u.deg)


@dataclass(frozen=True)
class MsExtent:
    """What the grid choice needs from an MS: longest baseline and frequencies."""

    max_baseline: u.Quantity  # longest projected (u, v) length
    freq_min: u.Quantity
    freq_max: u.Quantity
    integration: u.Quantity = C.INTEGRATION_TIME  # the MS's (median) INTERVAL

    @classmethod
    def read(cls, ms: str | Path) -> MsExtent:
        from casacore.tables import table

        ms = str(ms)
        with table(ms, ack=False) as main:
            uvw = main.getcol("UVW")
            usable = ~main.getcol("FLAG_ROW")
            lengths = np.hypot(uvw[usable, 0], uvw[usable, 1])
            b_max = float(lengths.max()) if lengths.size else 0.0
            intervals = main.getcol("INTERVAL")[usable]
            interval = float(np.median(intervals)) if intervals.size else C.INTEGRATION_TIME.to_value(u.s)
        with table(f"{ms}::SPECTRAL_WINDOW", ack=False) as spw:
            freqs = np.concatenate([np.ravel(f) for f in spw.getcol("CHAN_FREQ")])
        return cls(b_max * u.m, freqs.min() * u.Hz, freqs.max() * u.Hz, interval * u.s)

    @property
    def max_baseline_wavelengths(self) -> float:
        """The longest baseline in wavelengths at the highest frequency."""
        return float((self.max_baseline / self.freq_max.to(u.m, equivalencies=u.spectral())).decompose())


def primary_beam_fwhm(freq: u.Quantity, diameter: u.Quantity = C.DISH_DIAMETER) -> u.Quantity:
    """FWHM of the Airy power pattern of a uniformly illuminated dish."""
    wavelength = freq.to(u.m, equivalencies=u.spectral())
    return (AIRY_FWHM_FACTOR * wavelength / diameter * u.rad).to(u.deg)


def fft_friendly(n: int) -> int:
    """The smallest even 2^a 3^b 5^c at or above ``n``."""
    return next(s for s in _FFT_FRIENDLY if s >= n)


def choose_grid(extent: MsExtent, params: ImagingParams) -> ImageGrid:
    """Cell from the finest fringe, size from the primary beam (either overridable).

    cell = (lambda_min / B_max) / cells_per_fringe (Nyquist by default); the
    side covers ``field_of_view_fwhm`` primary-beam FWHMs at the lowest
    frequency (where the beam is widest).
    """
    if params.cell is not None:
        cell = params.cell.to(u.arcsec)
    else:
        if extent.max_baseline <= 0 * u.m:
            raise ValueError("the MS has no unflagged baselines: cannot choose a cell size")
        lam_min = extent.freq_max.to(u.m, equivalencies=u.spectral())
        fringe = (lam_min / extent.max_baseline).decompose() * u.rad
        # Round down to 0.1 arcsec so products of one array configuration share a grid.
        cell = math.floor((fringe / params.cells_per_fringe).to_value(u.arcsec) * 10) / 10 * u.arcsec
        cell = max(cell, 0.1 * u.arcsec)
    if params.size is not None:
        size = int(params.size)
    else:
        fov = params.field_of_view_fwhm * primary_beam_fwhm(extent.freq_min)
        size = fft_friendly(math.ceil((fov / cell).decompose().value))
    if size > params.max_size:
        raise ValueError(
            f"image of {size}^2 pixels at {cell:.2f} exceeds max_size={params.max_size};"
            " set size/cell explicitly or raise max_size"
        )
    return ImageGrid(size=size, cell=cell)


def choose_baseline_averaging(extent: MsExtent, params: ImagingParams) -> float | None:
    """WSClean's -baseline-averaging in wavelengths, or None for off (see ImagingParams)."""
    if params.baseline_averaging is not None:
        return float(params.baseline_averaging) or None
    # uv motion of the longest baseline in one integration: |d(u,v)/dt| <= B omega_earth.
    omega = C.SIDEREAL_RATE.to_value(u.rad / u.s)
    motion = extent.max_baseline_wavelengths * omega * extent.integration.to_value(u.s)
    return round(motion, 2) if motion > 0 else None


def resolve(extent: MsExtent, params: ImagingParams) -> tuple[ImageGrid, ImagingParams]:
    """The grid and the parameters with every data-dependent choice made."""
    return choose_grid(extent, params), replace(
        params, baseline_averaging=choose_baseline_averaging(extent, params) or 0.0)


def choose_data_column(ms: str | Path, requested: str | None = None, sample_rows: int = 4096) -> str:
    """CORRECTED_DATA when it holds calibrated data, else DATA; always logged.

    An all-zero CORRECTED_DATA is a column created but never filled (a pitfall
    of the old pipeline): imaging it would make an empty image, so DATA is
    used and the fallback is logged loudly. An explicit request is honoured.
    """
    from casacore.tables import table

    with table(str(ms), ack=False) as main:
        columns = set(main.colnames())
        if requested is not None:
            if requested not in columns:
                raise ValueError(f"{ms}: data column {requested} does not exist (has {sorted(columns)})")
            log.info("imaging %s from %s (requested)", ms, requested)
            return requested
        if "CORRECTED_DATA" in columns:
            n = main.nrows()
            starts = sorted({0, max(0, n // 2 - sample_rows // 2), max(0, n - sample_rows)})
            holds_data = any(
                np.any(main.getcol("CORRECTED_DATA", startrow=s, nrow=min(sample_rows, n - s)) != 0)
                for s in starts
            )
            if holds_data:
                log.info("imaging %s from CORRECTED_DATA", ms)
                return "CORRECTED_DATA"
            log.warning("%s: CORRECTED_DATA is all zeros in the sampled rows; imaging DATA", ms)
        else:
            log.info("imaging %s from DATA (no CORRECTED_DATA column)", ms)
    return "DATA"
