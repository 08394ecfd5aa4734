"""Synthetic beam files in the DSA-110 E-field layout (see imaging.primary_beam.MeasuredBeam).

The real ``DSA110_beam_1.h5`` is a measured cube we may not ship; tests and
demos need a file of the same layout whose beam is known and differs from
the pipeline's Airy default. Each feed's far field here is the voltage
pattern of a uniformly illuminated aperture of its own effective diameter
(unequal for X and Y, so the beam is elliptical), split between the
``etheta`` and ``ephi`` components by azimuth. Its phi-averaged Stokes-I
power is then exactly the mean of the two feeds' Airy power patterns
(``expected_power``), an independent check of the reader.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from scipy.special import j1

__all__ = ["expected_power", "write_synthetic_beam_file"]

C_M_S = 299_792_458.0


def _voltage(theta_rad: np.ndarray, freq_hz: np.ndarray, diameter_m: float) -> np.ndarray:
    x = np.pi * diameter_m * np.sin(theta_rad)[None, :] * freq_hz[:, None] / C_M_S
    safe = np.where(np.abs(x) < 1e-9, 1.0, x)
    return np.where(np.abs(x) < 1e-9, 1.0, 2.0 * j1(safe) / safe)


def expected_power(sin_theta, freq_hz, diameter_x_m: float, diameter_y_m: float) -> np.ndarray:
    """The phi-averaged Stokes-I power of such a file (broadcasting)."""
    theta = np.arcsin(np.clip(sin_theta, -1, 1))
    out = []
    for d in (diameter_x_m, diameter_y_m):
        x = np.pi * d * np.sin(theta) * np.asarray(freq_hz) / C_M_S
        safe = np.where(np.abs(x) < 1e-9, 1.0, x)
        out.append(np.where(np.abs(x) < 1e-9, 1.0, 2.0 * j1(safe) / safe) ** 2)
    return 0.5 * (out[0] + out[1])


def write_synthetic_beam_file(path: str | Path, *, diameter_x_m: float = 3.6, diameter_y_m: float = 4.2,
                              freqs_mhz: np.ndarray | None = None, theta_step_deg: float = 0.1,
                              theta_max_deg: float = 20.0, n_phi: int = 37) -> Path:
    """Write the file (frequencies labelled ``freq_Hz`` but in MHz, as the real one)."""
    path = Path(path)
    freqs_mhz = np.linspace(1200.0, 1600.0, 9) if freqs_mhz is None else np.asarray(freqs_mhz, float)
    theta_deg = np.arange(0.0, theta_max_deg + theta_step_deg / 2, theta_step_deg)
    phi_deg = np.linspace(0.0, 360.0, n_phi)
    theta, phi = np.deg2rad(theta_deg), np.deg2rad(phi_deg)
    tmp = path.with_name(f".{path.name}.tmp")
    with h5py.File(tmp, "w") as f:
        f["freq_Hz"] = freqs_mhz
        f["theta_pts"] = theta_deg
        f["phi_pts"] = phi_deg
        for group, diameter in (("X_pol_Efields", diameter_x_m), ("Y-pol_Efields", diameter_y_m)):
            v = _voltage(theta, freqs_mhz * 1e6, diameter)[:, :, None]  # (n_freq, n_theta, 1)
            f[f"{group}/etheta"] = (v * np.cos(phi)[None, None, :]).astype(np.complex64)
            f[f"{group}/ephi"] = (1j * v * np.sin(phi)[None, None, :]).astype(np.complex64)
    tmp.replace(path)
    return path
