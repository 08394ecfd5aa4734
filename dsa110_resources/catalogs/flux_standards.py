"""Standard flux-density models of the primary flux calibrators, through CASA.

3C286, 3C48, 3C147 and 3C138 have standard spectra (Perley & Butler 2017,
the scale CASA ``setjy`` uses by default); every other calibrator is modelled
with its catalog power law. The spectrum comes from CASA's own flux-standard
code (``imager.predictcomp``, the FluxStandard engine behind ``setjy``), run in
a child process at a few frequencies across the MS band with the observation
date as the epoch (CASA applies the time dependence a standard has for the
variable sources 3C48, 3C147 and 3C138; Perley-Butler 2017 in CASA 6.7 gives
them one fit for all dates, so the epoch is recorded but does not move the
flux). ``setjy`` itself is not called: it puts the model at the FIELD centre
without the dish response, whereas a drift-scan tile sees the calibrator off
centre through a time-averaged primary beam, so the sky model
(:mod:`dsa110_resources.calibration.skymodel`) places it and applies the beam.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
from astropy.time import Time

__all__ = ["FLUX_STANDARD", "STANDARD_CALIBRATORS", "standard_name", "standard_spectra", "standard_spectrum"]

FLUX_STANDARD = "Perley-Butler 2017"
#: Canonical name -> the names the VLA calibrator list and catalogs use for it.
STANDARD_CALIBRATORS: dict[str, tuple[str, ...]] = {
    "3C286": ("1331+305", "J1331+3030", "3C 286"),
    "3C48": ("0137+331", "J0137+3309", "3C 48"),
    "3C147": ("0542+498", "J0542+4951", "3C 147"),
    "3C138": ("0521+166", "J0521+1638", "3C 138"),
}
_ALIASES = {alias.replace(" ", "").upper(): name for name, aliases in STANDARD_CALIBRATORS.items()
            for alias in (name, *aliases)}
#: Frequencies at which CASA evaluates the standard (interpolated log-log between:
#: the standard's curvature over 1.31-1.50 GHz is < 0.05% from a straight line per step).
N_FREQ_SAMPLES = 9


def standard_name(name: str) -> str | None:
    """The canonical name of a flux-standard calibrator (any alias), else None."""
    return _ALIASES.get(str(name).replace(" ", "").upper())


@functools.lru_cache(maxsize=64)
def _casa_fluxes(names: tuple[str, ...], epoch_iso: str, freqs_hz: tuple[float, ...],
                 standard: str) -> dict[str, tuple[float, ...]]:
    from dsa110_resources.casa import run_casa

    with tempfile.TemporaryDirectory(prefix="fluxstd-") as work:  # one CASA process for all names
        out = run_casa("dsa110_resources.calibration.casa_steps:standard_fluxes", list(names), standard,
                       epoch_iso, list(freqs_hz), str(Path(work) / "cl"), workdir=Path(work))
    return {name: tuple(values) for name, values in out.items()}


def standard_spectra(names, freqs_hz: np.ndarray, epoch: Time, *,
                     standard: str = FLUX_STANDARD) -> dict[str, np.ndarray]:
    """Stokes-I flux density (Jy) of standard calibrators at ``freqs_hz`` on ``epoch``, keyed
    by the names given. Raises KeyError for a source that has no standard model."""
    canonical = {name: standard_name(name) for name in names}
    for name, std in canonical.items():
        if std is None:
            raise KeyError(f"{name} has no {standard} flux model (standards: {', '.join(STANDARD_CALIBRATORS)})")
    freqs_hz = np.asarray(freqs_hz, float)
    grid = np.linspace(freqs_hz.min(), freqs_hz.max(), N_FREQ_SAMPLES) if np.ptp(freqs_hz) > 0 else freqs_hz[:1]
    day = Time(epoch).utc.isot[:10]  # one evaluation per day: the standards change over years
    values = _casa_fluxes(tuple(sorted(set(canonical.values()))), day, tuple(float(f) for f in grid), standard)
    out = {}
    for name, std in canonical.items():
        fluxes = np.asarray(values[std])
        if not np.all(np.isfinite(fluxes) & (fluxes > 0)):
            raise ValueError(f"CASA returned no usable {standard} flux for {std} on {day}: {fluxes}")
        out[name] = (np.full(freqs_hz.shape, fluxes[0]) if len(grid) == 1
                     else np.exp(np.interp(np.log(freqs_hz), np.log(grid), np.log(fluxes))))
    return out


def standard_spectrum(name: str, freqs_hz: np.ndarray, epoch: Time, *,
                      standard: str = FLUX_STANDARD) -> np.ndarray:
    """One standard calibrator's spectrum (see :func:`standard_spectra`)."""
    return standard_spectra([name], freqs_hz, epoch, standard=standard)[name]
