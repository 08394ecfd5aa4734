"""Catalog-level light-curve simulations for injection tests and threshold calibration.

No imaging: measured fluxes are drawn directly as truth x per-epoch flux-scale
error + noise, the regime the normalisation and ESE stages actually see. ESE
shapes come from the simulator's model
(:class:`dsa110_resources.simulation.lightcurves.ESELightCurve`), so the
detector is tested against the same events the end-to-end simulations inject.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from astropy.time import Time

from dsa110_resources.simulation.lightcurves import ESELightCurve

__all__ = ["SimulationSpec", "SimulatedLightCurves", "simulate_light_curves"]


@dataclass(frozen=True)
class SimulationSpec:
    """Population and error model; defaults mimic daily DSA-110 mosaics.

    Fluxes log-uniform in [flux_min_jy, flux_max_jy]; references are brighter
    (ref_flux range). Noise per measurement sqrt(thermal^2 + (frac*S)^2),
    reported honestly as the error; each epoch multiplies *all* fluxes by
    1 + N(0, scale_error) (the flux-scale error normalisation must remove).
    ESE depth, duration (days) and caustic/depth ratio are uniform in their ranges.
    """

    n_epochs: int = 60
    start_mjd: float = 60000.0
    cadence_days: float = 1.0
    n_references: int = 30
    n_steady: int = 5000
    n_ese: int = 300
    flux_min_jy: float = 0.010
    flux_max_jy: float = 1.0
    ref_flux_jy: tuple[float, float] = (0.3, 3.0)
    thermal_noise_jy: float = 0.5e-3
    fractional_noise: float = 0.005
    scale_error: float = 0.04
    missing_fraction: float = 0.03
    ese_depth: tuple[float, float] = (0.2, 0.5)
    ese_duration_days: tuple[float, float] = (14.0, 40.0)
    ese_caustic_ratio: tuple[float, float] = (0.2, 0.6)


@dataclass
class SimulatedLightCurves:
    epoch_mjd: np.ndarray  # (E,)
    flux: np.ndarray  # (S, E) measured
    err: np.ndarray  # (S, E)
    true_flux: np.ndarray  # (S, E) intrinsic (no scale error, no noise)
    kind: np.ndarray  # (S,) "reference" | "steady" | "ese"
    truth: pd.DataFrame  # per source: kind, mean_flux_jy, depth, duration_days, t0_mjd, caustic
    scale: np.ndarray  # (E,) the injected flux-scale factors

    @property
    def source_ids(self) -> np.ndarray:
        return self.truth.index.to_numpy()


def simulate_light_curves(spec: SimulationSpec = SimulationSpec(), seed: int = 0) -> SimulatedLightCurves:
    """Draw one population (references first, then steady sources, then ESEs)."""
    rng = np.random.default_rng(seed)
    epochs = spec.start_mjd + spec.cadence_days * np.arange(spec.n_epochs)
    kinds = np.array(["reference"] * spec.n_references + ["steady"] * spec.n_steady + ["ese"] * spec.n_ese)
    n = len(kinds)
    lo, hi = np.log10(spec.flux_min_jy), np.log10(spec.flux_max_jy)
    s0 = 10 ** rng.uniform(lo, hi, n)
    s0[: spec.n_references] = 10 ** rng.uniform(*np.log10(spec.ref_flux_jy), spec.n_references)
    true = np.repeat(s0[:, None], spec.n_epochs, axis=1)

    depth = np.full(n, np.nan)
    duration = np.full(n, np.nan)
    t0 = np.full(n, np.nan)
    caustic = np.full(n, np.nan)
    times = Time(epochs, format="mjd")
    span = epochs[-1] - epochs[0]
    for i in np.flatnonzero(kinds == "ese"):
        duration[i] = rng.uniform(*spec.ese_duration_days)
        depth[i] = rng.uniform(*spec.ese_depth)
        caustic[i] = depth[i] * rng.uniform(*spec.ese_caustic_ratio)
        margin = min(duration[i] / 2 + 3, span / 2)
        t0[i] = rng.uniform(epochs[0] + margin, epochs[-1] - margin)
        model = ESELightCurve(t0_mjd=t0[i], duration_days=duration[i], depth=depth[i], caustic=caustic[i])
        true[i] *= model.factor(times)

    scale = 1 + spec.scale_error * rng.standard_normal(spec.n_epochs)
    sigma = np.sqrt(spec.thermal_noise_jy**2 + (spec.fractional_noise * true) ** 2)
    flux = true * scale[None, :] + sigma * rng.standard_normal(true.shape)
    err = sigma.copy()
    missing = rng.random(true.shape) < spec.missing_fraction
    flux[missing] = np.nan
    err[missing] = np.nan
    truth = pd.DataFrame(
        {"kind": kinds, "mean_flux_jy": s0, "depth": depth, "duration_days": duration, "t0_mjd": t0, "caustic": caustic},
        index=pd.Index([f"SIM{i:06d}" for i in range(n)], name="source_id"),
    )
    return SimulatedLightCurves(epochs, flux, err, true, kinds, truth, scale)
