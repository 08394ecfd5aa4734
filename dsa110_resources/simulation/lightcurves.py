"""Light curves injected into multi-day simulations (also for catalog-level tests).

An extreme scattering event (ESE) is a weeks-long dip in flux flanked by two
caustic peaks, as a plasma lens crosses the line of sight (Fiedler et al. 1987).
We use a simple, documented parameterisation rather than a full lens model,
because what downstream code must recover is the dip depth, its duration and
its epoch:

    S(t) = S0 * [1 - depth * D(x) + caustic * (C(x + 1/2) + C(x - 1/2))],
    x = (t - t0) / duration,
    D(x) = exp(-(x / 0.3)^8 / 2)             (flat-bottomed dip, width ~ duration)
    C(y) = exp(-(y / caustic_width)^2 / 2)  (peaks at the dip edges t0 +- duration/2)

Optional chromaticity: depth and caustic scale as (nu / ref_freq)^-2 (plasma
lensing goes as lambda^2), clipped so the flux never goes negative.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import astropy.units as u
import numpy as np
from astropy.time import Time

__all__ = ["ESELightCurve", "SteadyLightCurve", "light_curve_from_dict"]


@dataclass(frozen=True)
class SteadyLightCurve:
    """Constant flux: scale factor 1 at all times."""

    kind: str = "steady"

    def factor(self, time: Time, freq: u.Quantity | None = None) -> np.ndarray:
        shape = np.broadcast_shapes(np.shape(time.jd), () if freq is None else np.shape(freq))
        return np.ones(shape)

    def to_dict(self) -> dict:
        return {"kind": self.kind}


@dataclass(frozen=True)
class ESELightCurve:
    """Extreme-scattering-event light curve (see module docstring); times as MJD."""

    t0_mjd: float
    duration_days: float = 30.0
    depth: float = 0.3
    caustic: float = 0.15
    caustic_width: float = 0.05  # in units of duration
    chromatic: bool = False
    ref_freq_hz: float = 1.4e9
    kind: str = "ese"

    def factor(self, time: Time, freq: u.Quantity | None = None) -> np.ndarray:
        """Flux scale S(t)/S0, broadcast over time and (optionally) frequency."""
        x = (np.asarray(time.mjd, float) - self.t0_mjd) / self.duration_days
        dip = np.exp(-0.5 * (x / 0.3) ** 8)
        bumps = np.exp(-0.5 * ((x + 0.5) / self.caustic_width) ** 2) + np.exp(
            -0.5 * ((x - 0.5) / self.caustic_width) ** 2
        )
        scale = 1.0
        if self.chromatic and freq is not None:
            scale = (np.asarray(freq.to_value(u.Hz)) / self.ref_freq_hz) ** -2
        out = 1.0 - self.depth * scale * dip + self.caustic * scale * bumps
        return np.clip(out, 0.0, None)

    def to_dict(self) -> dict:
        return asdict(self)


def light_curve_from_dict(d: dict):
    """Inverse of ``to_dict`` (for truth files)."""
    d = dict(d)
    kind = d.pop("kind", "steady")
    if kind == "steady":
        return SteadyLightCurve()
    if kind == "ese":
        return ESELightCurve(**d)
    raise ValueError(f"unknown light-curve kind {kind!r}")
