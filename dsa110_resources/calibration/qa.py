"""Quality figures of solved caltables, for the registry's ``qa`` JSON and the QA gates.

Read straight from the table with python-casacore (no CASA process needed):

* ``flagged_fraction``: solutions CASA flagged (low SNR, no data);
* ``median_snr`` and ``min_antenna_snr``;
* ``phase_scatter_deg``: for a bandpass, channel-to-channel phase noise
  (median over antennas of std(diff(phase)) / sqrt 2), which is what the
  solution's noise does to the data; for gains, the rms of the time-to-time
  phase change, or with one solution interval the phase error its SNR
  implies (median of 1/SNR);
* ``amplitude``: median and robust spread of |solution|;
* ``outliers``: antennas whose median amplitude lies more than
  ``OUTLIER_SIGMA`` robust sigmas (and 5%) from the array's, whose phase noise is more
  than ``OUTLIER_SIGMA`` times the median, or that are mostly flagged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CalSolutions", "read_solutions", "solution_qa"]

OUTLIER_SIGMA = 5.0
MIN_AMPLITUDE_DEVIATION = 0.05  # fractional: smaller amplitude offsets are never outliers
MOSTLY_FLAGGED = 0.5


@dataclass
class CalSolutions:
    """A caltable's solutions as arrays, indexed by ANTENNA row."""

    caltype: str  # VisCal name, e.g. "B Jones", "G Jones", "K Jones"
    antenna: np.ndarray  # (n_row,)
    time: np.ndarray  # (n_row,) MJD seconds
    values: np.ndarray  # (n_row, n_chan, n_pol): CPARAM (complex) or FPARAM (delays, ns)
    flag: np.ndarray  # (n_row, n_chan, n_pol)
    snr: np.ndarray
    antenna_names: list[str]
    freqs_hz: np.ndarray  # channel frequencies of the solutions
    refant: int | None = None

    def per_antenna(self) -> dict[int, np.ndarray]:
        """Solutions of each antenna (the rows of that antenna, time-ordered)."""
        out = {}
        for a in np.unique(self.antenna):
            rows = np.flatnonzero(self.antenna == a)
            rows = rows[np.argsort(self.time[rows])]
            out[int(a)] = rows
        return out


def read_solutions(path: str | Path) -> CalSolutions:
    from casacore.tables import table

    path = str(path)
    with table(path, ack=False) as t:
        caltype = t.getkeyword("VisCal") if "VisCal" in t.keywordnames() else "?"
        column = "CPARAM" if "CPARAM" in t.colnames() else "FPARAM"
        values = t.getcol(column)
        flag = t.getcol("FLAG")
        snr = t.getcol("SNR")
        antenna = t.getcol("ANTENNA1")
        times = t.getcol("TIME")
        refant = t.getcol("ANTENNA2")
    with table(f"{path}::ANTENNA", ack=False) as t:
        names = list(t.getcol("NAME"))
    with table(f"{path}::SPECTRAL_WINDOW", ack=False) as t:
        freqs = np.asarray(t.getcell("CHAN_FREQ", 0), float)
    ref = np.unique(refant[refant >= 0])
    return CalSolutions(caltype, antenna, times, values, flag, snr, names, freqs,
                        int(ref[0]) if len(ref) == 1 else None)


def _robust_sigma(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def solution_qa(path: str | Path, antennas: Iterable[str] | None = None) -> dict:
    """QA figures of one caltable (JSON-ready).

    ``antennas``: names of the antennas that carried data (CASA writes rows
    for every antenna of the ANTENNA table, 117 stations of which ~96 are
    live); the others are left out of every figure. Fractions count only
    channels where some antenna has a solution (a missing subband is not a
    solution failure).
    """
    sol = read_solutions(path)
    kind = sol.caltype.split()[0] if sol.caltype else "?"
    if antennas is not None:
        wanted = {sol.antenna_names.index(a) for a in antennas if a in sol.antenna_names}
        keep = np.isin(sol.antenna, sorted(wanted))
        sol.antenna, sol.time, sol.values = sol.antenna[keep], sol.time[keep], sol.values[keep]
        sol.flag, sol.snr = sol.flag[keep], sol.snr[keep]
    live = ~np.all(sol.flag, axis=(0, 2)) if sol.flag.size else np.zeros(0, bool)
    sol.values, sol.flag, sol.snr = sol.values[:, live], sol.flag[:, live], sol.snr[:, live]
    ok = ~sol.flag
    figures: dict = {
        "caltype": sol.caltype,
        "n_antennas": int(len(np.unique(sol.antenna))),
        "n_channels_with_solutions": int(live.sum()),
        "n_solutions": int(sol.flag.size),
        "flagged_fraction": float(sol.flag.mean()) if sol.flag.size else 1.0,
        "median_snr": float(np.median(sol.snr[ok])) if ok.any() else 0.0,
    }
    rows = sol.per_antenna()
    antenna_flagged, antenna_amp, antenna_phase_noise, antenna_snr = {}, {}, {}, {}
    for a, idx in rows.items():
        v, f, s = sol.values[idx], sol.flag[idx], sol.snr[idx]
        name = sol.antenna_names[a] if a < len(sol.antenna_names) else str(a)
        antenna_flagged[name] = float(f.mean())
        good = ~f
        if not good.any():
            continue
        antenna_snr[name] = float(np.median(s[good]))
        if np.iscomplexobj(v):
            antenna_amp[name] = float(np.median(np.abs(v[good])))
            if kind == "B" and v.shape[1] > 2:
                noise = []
                for p in range(v.shape[2]):
                    chans = np.flatnonzero(good[0, :, p]) if v.shape[0] >= 1 else []
                    if len(chans) > 2:
                        ph = np.unwrap(np.angle(v[0, chans, p]))
                        step = np.diff(ph)[np.diff(chans) == 1]
                        if len(step) > 1:
                            noise.append(np.std(step) / np.sqrt(2))
                if noise:
                    antenna_phase_noise[name] = float(np.degrees(np.median(noise)))
            elif v.shape[0] > 1:
                dphi = np.angle(v[1:] * np.conj(v[:-1]))
                gmask = good[1:] & good[:-1]
                if gmask.any():
                    antenna_phase_noise[name] = float(np.degrees(np.sqrt(np.mean(dphi[gmask] ** 2))))
    figures["antenna_flagged_fraction"] = antenna_flagged
    figures["antenna_median_snr"] = antenna_snr
    if antenna_snr:
        figures["min_antenna_snr"] = float(min(antenna_snr.values()))
    outliers: dict[str, list[str]] = {}
    for name, frac in antenna_flagged.items():
        if frac > MOSTLY_FLAGGED:
            outliers.setdefault(name, []).append(f"{frac:.0%} of solutions flagged")
    if antenna_amp:
        amps = np.array(list(antenna_amp.values()))
        med, sig = float(np.median(amps)), _robust_sigma(amps)
        figures["amplitude"] = {"median": med, "robust_sigma": sig}
        for name, a in antenna_amp.items():
            # Both: well-behaved arrays have a tiny spread, and 0.4% off is no outlier.
            if sig > 0 and abs(a - med) > max(OUTLIER_SIGMA * sig, MIN_AMPLITUDE_DEVIATION * med):
                outliers.setdefault(name, []).append(f"amplitude {a:.3f} vs array median {med:.3f}")
    if antenna_phase_noise:
        noise = np.array(list(antenna_phase_noise.values()))
        med_noise = float(np.median(noise))
        figures["phase_scatter_deg"] = med_noise
        for name, n in antenna_phase_noise.items():
            if med_noise > 0 and n > OUTLIER_SIGMA * med_noise:
                outliers.setdefault(name, []).append(f"phase scatter {n:.2f} deg vs median {med_noise:.2f}")
    elif np.iscomplexobj(sol.values) and ok.any():
        # One solution interval: no scatter to measure, so report the phase
        # error its SNR implies (1/SNR rad), median over solutions.
        figures["phase_scatter_deg"] = float(np.degrees(np.median(1.0 / np.maximum(sol.snr[ok], 1e-6))))
    if not np.iscomplexobj(sol.values) and ok.any():
        figures["delay_ns"] = {"median": float(np.median(sol.values[ok])),
                               "rms": float(np.sqrt(np.mean(sol.values[ok] ** 2)))}
    figures["outliers"] = outliers
    return figures
