"""Source fluxes fitted straight from an MS's visibilities: the tests' second path to the truth.

A point source at (ra, dec) has, in the MS convention (UVW of antenna 1 minus
antenna 2, DATA conjugated accordingly), the unit-flux fringe
``exp(+2 pi i (u l + v m + w (n - 1)) nu / c)`` about the FIELD phase centre.
A linear least-squares fit of real fluxes to the Stokes-I cross-correlations
needs no imager, no deconvolution and none of the pipeline's own code.
"""

from __future__ import annotations

import numpy as np
from casacore import tables as ct

C_M_S = 299792458.0


def read_stokes_i(ms) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(Stokes I (rows, chan), flags (rows, chan, pol), UVW (rows, 3), channel freqs) of the cross-correlations."""
    with ct.table(str(ms), ack=False) as table:
        cross = table.query("ANTENNA1 != ANTENNA2")
        data, flags, uvw = cross.getcol("DATA"), cross.getcol("FLAG"), cross.getcol("UVW")
        cross.close()
    with ct.table(f"{ms}/SPECTRAL_WINDOW", ack=False) as spw:
        freqs = spw.getcell("CHAN_FREQ", 0)
    return data.mean(axis=2), flags, uvw, freqs  # I = (XX + YY) / 2


def source_fringes(ms, positions_deg, uvw: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """(n_src, rows, chan) unit-flux Stokes-I visibilities of sources at (ra, dec) degrees."""
    with ct.table(f"{ms}/FIELD", ack=False) as field:
        ra0, dec0 = field.getcell("PHASE_DIR", 0)[0]
    fringes = []
    for ra_deg, dec_deg in positions_deg:
        ra, dec = np.deg2rad(ra_deg), np.deg2rad(dec_deg)
        l = np.cos(dec) * np.sin(ra - ra0)
        m = np.sin(dec) * np.cos(dec0) - np.cos(dec) * np.sin(dec0) * np.cos(ra - ra0)
        n = np.sqrt(1 - l * l - m * m)
        path = uvw[:, 0] * l + uvw[:, 1] * m + uvw[:, 2] * (n - 1)
        fringes.append(np.exp(2j * np.pi * path[:, None] * freqs[None] / C_M_S))
    return np.array(fringes)


def fit_fluxes(data: np.ndarray, fringes: np.ndarray) -> np.ndarray:
    """Real fluxes minimising |data - sum_s S_s fringe_s|^2 (normal equations)."""
    a = fringes.reshape(len(fringes), -1)
    gram = np.real(a.conj() @ a.T)
    rhs = np.real(a.conj() @ data.reshape(-1))
    return np.linalg.solve(gram, rhs)
