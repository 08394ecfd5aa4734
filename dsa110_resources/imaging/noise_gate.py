"""The image gates that protect the flux scale: noise against what the tile should reach,
and recovered fluxes against the catalog.

Why the old noise gate (noise <= 10x thermal) failed on tiles near 3C147 and
3C286: the noise there is real, and not calibration's fault. A bright source
leaves a floor in the residual proportional to its flux, from two effects
measured on simulated tiles with no calibration errors at all (3C286 in or
next to the field, imaged by the pipeline's WSClean defaults; noise in mJy,
thermal in brackets):

=====================  ===================  ====================  ==================
array                  source at transit    next tile (1.2 deg)   same, no beam
=====================  ===================  ====================  ==================
6 ant, 2 subbands      61 (9.9): 6.2x      161 (9.9): 16.4x      122: 12.4x
24 ant, 4 subbands     3.2 (1.6): 2.0x      12.5 (1.6): 7.7x      6.1: 3.8x
24 ant, 16 subbands    1.8 (0.8): 2.2x      -                     -
=====================  ===================  ====================  ==================

* a static floor: the imaging's dynamic range on a point source (gridding,
  baseline-dependent averaging, deconvolution of the sparse PSF), ~1e-4 to
  1e-3 of the source's apparent flux and falling with the number of
  baselines and of subbands;
* the drift: the dishes do not track, so a source's apparent flux changes
  while it crosses the beam (by tens of % on the beam's flank). CLEAN models
  a constant source; the varying part keeps its sidelobes (the "no beam"
  column removes just this effect by simulating without a primary beam).

The demo's tile after the 3C286 transit reached 15x thermal: past any fixed
multiple that still catches a failed calibration. So the expected noise
carries both floors,

    sigma_expected^2 = sigma_thermal^2 + ((a S_app + b S_var) / (N_bl sqrt(n_sb)))^2

with S_app the apparent (drift-averaged) flux of the bright sources near the
field, S_var the rms of its change over the tile (primary_beam.DriftScanBeam.
variation), N_bl the live baselines, n_sb the subbands' worth of live
channels; a = 0.10 and b = 0.90 are the least-squares fit to the ten cases of
the table and its "no beam" twins. Measured / expected then lies in 0.5-1.5
on all of them, and the gate fails above ``NOISE_LIMIT`` = 3 of that: twice
the worst healthy case, far below what failed calibration or bad data give
(tens to hundreds).

At full size (96 antennas, 16 subbands) the tile after a 3C147 transit
failed for another reason: WSClean 3.1's minor loop diverged with the
pipeline's options (third major cycle, from a 150 mJy residual to ~1e17 Jy in
100000 iterations; image noise ~1e18 Jy), with and without baseline-dependent
averaging, with autocorrelations flagged or not, at gain 0.1 or 0.05 and on a
half-size field. Without averaging the diverging cycle starts on a -155 mJy
residual at 3C147 itself (16.8 Jy apparent): the drift residual above, which
no point component fits. Such an image is garbage and this gate fails it, as it
should; the imaging fix is open (issue 16). The gate's expectation for that
tile is 0.30 mJy (thermal 0.20 mJy; S_app 16.9 Jy, S_var 2.6 Jy).

Bright sources come from the sky catalog (sources of at least
``MIN_APPARENT`` apparent flux within ``SEARCH_RADIUS``, which also covers
sources outside the imaged field whose sidelobes CLEAN cannot touch); without
a catalog, the image's own peak stands for S_app and S_var is unknown (0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import astropy.units as u
import numpy as np

from dsa110_resources import constants as C

__all__ = ["NoiseExpectation", "bright_flux", "expected_noise", "flux_scale_problems", "image_noise_problems",
           "noise_problems"]

STATIC_FLOOR = 0.10  # a, per Jy apparent (fit, see module docstring)
DRIFT_FLOOR = 0.90  # b, per Jy of drift variation
NOISE_LIMIT = 3.0  # measured / expected
SEARCH_RADIUS = 6 * u.deg  # main lobe and first sidelobe (Airy first null ~3.3 deg at 1.31 GHz)
MIN_APPARENT = 0.1 * u.Jy
CHANNELS_PER_SUBBAND = C.N_CHANNELS // C.N_SUBBANDS
#: Flux-scale gate: the median recovered/catalog flux of at least MIN_REFERENCES sources.
MAX_FLUX_SCALE_ERROR = 0.10
MIN_REFERENCES = 3


@dataclass(frozen=True)
class NoiseExpectation:
    """What a tile image's noise should be, and from what (JSON-ready via ``as_dict``)."""

    thermal_jy: float
    static_flux_jy: float  # S_app
    variable_flux_jy: float  # S_var
    n_baselines: int
    n_subbands: float
    expected_jy: float
    bright_from: str  # "catalog" | "image peak" | "none"

    def as_dict(self) -> dict:
        return asdict(self)


def expected_noise(thermal: u.Quantity, n_baselines: int, n_channels: int, *, static_flux: u.Quantity,
                   variable_flux: u.Quantity = 0 * u.Jy, bright_from: str = "catalog") -> NoiseExpectation:
    """Thermal noise plus the bright-source floor (module docstring)."""
    n_sb = max(n_channels / CHANNELS_PER_SUBBAND, 1e-3)
    s_app, s_var = static_flux.to_value(u.Jy), variable_flux.to_value(u.Jy)
    floor = (STATIC_FLOOR * s_app + DRIFT_FLOOR * s_var) / (max(n_baselines, 1) * np.sqrt(n_sb))
    th = thermal.to_value(u.Jy)
    return NoiseExpectation(th, s_app, s_var, int(n_baselines), float(n_sb), float(np.hypot(th, floor)),
                            bright_from)


def bright_flux(obs, catalog) -> tuple[u.Quantity, u.Quantity]:
    """(S_app, S_var) of the catalog's bright sources around a tile: sums over sources of at
    least MIN_APPARENT drift-averaged flux within SEARCH_RADIUS. Plain sums, not quadrature:
    with 3C286 and four 1.5-3 Jy sources in the field (tests/integration/test_image_gates.py)
    the quadrature sum left the healthy tile at 2.8x its expectation, the plain sum at ~2x."""
    from dsa110_resources.imaging.primary_beam import DriftScanBeam

    near = catalog.cone(obs.phase_center, SEARCH_RADIUS)
    if len(near) == 0:
        return 0 * u.Jy, 0 * u.Jy
    beam = DriftScanBeam(pointing_mid=obs.phase_center, mid_time=obs.mid_time, start_time=obs.start_time,
                         end_time=obs.end_time, frequencies=np.atleast_1d(obs.ref_freq.to_value(u.Hz)) * u.Hz,
                         time_samples=C.INTEGRATIONS_PER_FILE, freq_samples=1)
    flux = near.flux_at(obs.ref_freq).to_value(u.Jy)
    apparent = flux * beam.response(near.coords)
    keep = apparent >= MIN_APPARENT.to_value(u.Jy)
    if not keep.any():
        return 0 * u.Jy, 0 * u.Jy
    variable = flux[keep] * beam.variation(near.coords[keep])
    return float(np.sum(apparent[keep])) * u.Jy, float(np.sum(variable)) * u.Jy


def noise_problems(measured_jy: float | None, expectation: dict | None, limit: float = NOISE_LIMIT) -> list[str]:
    """Why an image fails the noise gate (empty: it passes)."""
    if measured_jy is None or not expectation or not expectation.get("expected_jy"):
        return ["noise or its expectation not measured"]
    ratio = measured_jy / expectation["expected_jy"]
    if ratio > limit:
        return [f"noise {measured_jy * 1e3:.3f} mJy is {ratio:.1f}x the expected {expectation['expected_jy'] * 1e3:.3f}"
                f" mJy (thermal {expectation['thermal_jy'] * 1e3:.3f} mJy, bright sources "
                f"{expectation['static_flux_jy']:.2f} Jy apparent; limit {limit:g}x)"]
    return []


def image_noise_problems(noise_jy: float | None, qa: dict | None, limit: float = NOISE_LIMIT) -> list[str]:
    """The noise gate on an image's stored QA. Images recorded before the gate had an
    expectation (only ``noise_ratio`` to thermal) are judged on thermal alone."""
    qa = qa or {}
    if qa.get("noise_gate"):
        return noise_problems(noise_jy, qa["noise_gate"], limit)
    ratio = qa.get("noise_ratio")
    if ratio is None:
        return ["no noise/thermal ratio measured"]
    return [f"noise {ratio:.1f}x thermal (limit {limit:g}x; no bright-source expectation recorded)"] \
        if ratio > limit else []


def flux_scale_problems(recovery: dict | None, max_error: float = MAX_FLUX_SCALE_ERROR,
                        min_sources: int = MIN_REFERENCES) -> tuple[list[str], str]:
    """The image's flux scale against the catalog: (problems, what was judged).

    The median of recovered / catalog flux over the reference sources above
    the recovery SNR must lie within ``max_error`` of 1 (the catalog's own
    scale is good to a few %, variability and beam errors add a few more).
    Fewer than ``min_sources`` measured: not judged (no problems, said so).
    """
    if not recovery or (recovery.get("n_measured") or 0) < min_sources:
        n = (recovery or {}).get("n_measured") or 0
        return [], f"not judged: {n} catalog sources measured (need {min_sources})"
    median = recovery["flux_ratio_median"]
    what = f"median recovered/catalog flux {median:.3f} over {recovery['n_measured']} sources"
    if abs(median - 1) > max_error:
        return [f"{what}: off by more than {max_error:.0%}"], what
    return [], what
