"""Instrumental corruptions with known truth: gains, delays, bandpasses, dead
antennas, RFI, zeroed channels.

Model (pyuvdata convention, ant1 = a, ant2 = b):

    V_ab(t, nu, p) = J_a(t, nu, p) conj(J_b(t, nu, p)) V_ab^sky + RFI_ab + noise
    J_a(t, nu, p)  = g_a(t, p) * B_a(nu, p) * exp(-2 pi i nu tau_a,p)

* g: complex gains, |g| ~ 1 +- scatter, drifting linearly in amplitude and
  phase over time (rates random per antenna) so they change slowly within a
  tile and between tiles of a run (time measured from ``epoch``).
* B: smooth bandpass, a few-% ripple in amplitude and a smooth phase, per
  antenna and pol, defined over the whole 768-channel band.
* tau: per-antenna, per-pol delay (ns); a pure delay, so the phase term uses
  the full sky frequency.
* dead antennas: J = 0, their cross-correlations carry only noise.
* RFI: narrowband, a few channels near the known frequencies, on a run of
  integrations, correlated between antennas (random per-antenna phase).
* zeroed channels: all data exactly 0 (as the correlator writes dropped data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import astropy.units as u
import numpy as np

from dsa110_resources import constants as C

__all__ = ["Instrument", "RFIEvent", "make_instrument"]


@dataclass
class RFIEvent:
    """A narrowband interferer: global channel index (ascending band order),
    integrations [t_start, t_stop), amplitude in Jy."""

    frequency_hz: float
    channel: int  # index into constants.band_frequencies() (ascending)
    t_start: int
    t_stop: int
    amplitude_jy: float
    antenna_phase_seed: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Instrument:
    """Per-antenna truth for one tile, indexed by active-antenna position."""

    antenna_numbers: np.ndarray  # active antennas, pyuvdata numbers
    gains: np.ndarray  # (n_ant, n_times, n_pol) complex
    delays_ns: np.ndarray  # (n_ant, n_pol)
    bandpass: np.ndarray  # (n_ant, 768, n_pol) complex, ascending band order
    dead: np.ndarray  # (n_ant,) bool
    rfi: list[RFIEvent] = field(default_factory=list)
    zeroed_channels: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # ascending band index

    def jones(self, freqs_hz: np.ndarray, band_index: np.ndarray, zero_dead: bool = True) -> np.ndarray:
        """J_a(t, nu, p) for channels ``freqs_hz`` at band indices ``band_index``:
        shape (n_ant, n_times, n_chan, n_pol), complex64."""
        phase = np.exp(-2j * np.pi * freqs_hz[None, :, None] * self.delays_ns[:, None, :] * 1e-9)
        spec = self.bandpass[:, band_index, :] * phase  # (ant, chan, pol)
        j = self.gains[:, :, None, :] * spec[:, None, :, :]
        if zero_dead:
            j[self.dead] = 0.0
        return j.astype(np.complex64)


def make_instrument(config, antenna_numbers: np.ndarray, times_jd: np.ndarray, epoch_jd: float) -> Instrument:
    """Draw the corruptions a config asks for (seeded; off toggles give identity).

    Antenna properties (gain offsets, drift rates, delays, bandpasses, dead
    set) depend on the seed only, so they persist across the tiles of a run;
    RFI and zeroed channels are drawn per tile.
    """
    n_ant, n_t, n_pol = len(antenna_numbers), len(times_jd), len(C.POLARIZATIONS)
    rng = np.random.default_rng([config.seed, 1])
    hours = (np.asarray(times_jd) - epoch_jd) * 24.0
    gains = np.ones((n_ant, n_t, n_pol), complex)
    if config.gains:
        amp0 = 1.0 + config.gain_amplitude_scatter * rng.standard_normal((n_ant, 1, n_pol))
        rate = config.gain_drift * rng.choice([-1.0, 1.0], (n_ant, 1, n_pol)) * rng.uniform(0.5, 1.0, (n_ant, 1, n_pol))
        ph0 = rng.uniform(-np.pi, np.pi, (n_ant, 1, n_pol))
        prate = config.gain_phase_drift.to_value(u.rad / u.hour) * rng.standard_normal((n_ant, 1, n_pol))
        amp = np.clip(amp0 * (1.0 + rate * hours[None, :, None]), 0.05, None)
        gains = amp * np.exp(1j * (ph0 + prate * hours[None, :, None]))
    delays = np.zeros((n_ant, n_pol))
    if config.delays:
        delays = config.delay_scatter.to_value(u.ns) * rng.standard_normal((n_ant, n_pol))
    n_band = C.N_CHANNELS
    bandpass = np.ones((n_ant, n_band, n_pol), complex)
    if config.bandpass:
        x = np.linspace(-1.0, 1.0, n_band)[None, :, None]
        ripple_amp = rng.uniform(0.01, 0.05, (n_ant, 1, n_pol))
        ripple_period = rng.uniform(0.2, 0.6, (n_ant, 1, n_pol))
        ripple_phase = rng.uniform(0, 2 * np.pi, (n_ant, 1, n_pol))
        slope = rng.normal(0.0, 0.05, (n_ant, 1, n_pol))
        amp = (1.0 + slope * x + ripple_amp * np.sin(2 * np.pi * x / ripple_period + ripple_phase)) * (
            1.0 - 0.3 * x**8  # roll-off at the band edges
        )
        phase = rng.normal(0.0, 0.2, (n_ant, 1, n_pol)) * x**2 + rng.normal(0.0, 0.05, (n_ant, 1, n_pol)) * x**3
        bandpass = amp * np.exp(1j * phase)
    dead = np.zeros(n_ant, bool)
    if config.n_dead_antennas:
        dead[rng.choice(n_ant, config.n_dead_antennas, replace=False)] = True

    tile_rng = np.random.default_rng([config.seed, 2, int(round(times_jd[0] * 86400))])
    band = C.band_frequencies().to_value(u.Hz)
    rfi = []
    if config.rfi:
        for f in C.KNOWN_RFI_FREQUENCIES.to_value(u.Hz):
            f_true = f + tile_rng.uniform(-0.5e6, 0.5e6)
            ch = int(np.argmin(np.abs(band - f_true)))
            t0 = int(tile_rng.integers(0, n_t))
            t1 = int(min(n_t, t0 + tile_rng.integers(1, n_t + 1)))
            amp = config.rfi_amplitude.to_value(u.Jy) * tile_rng.uniform(0.2, 1.0)
            rfi.append(RFIEvent(float(band[ch]), ch, t0, t1, float(amp), int(tile_rng.integers(0, 2**31))))
    zeroed = np.zeros(0, int)
    if config.n_zeroed_channels:
        zeroed = np.sort(tile_rng.choice(n_band, config.n_zeroed_channels, replace=False))
    return Instrument(np.asarray(antenna_numbers), gains, delays, bandpass, dead, rfi, zeroed)
