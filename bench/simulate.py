"""Benchmark: one full-size simulated tile (96 antennas, 16 subbands).

Reports wall time, peak RSS and output size, and compares the BLAS-cherk
predictor with a naive per-source numpy loop on the same subband (a subset
of sources, scaled), printing the ratio. Budget: <= 60 s, < 6 GB.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.time import Time


def naive_predict(antenna_enu, rel, flux, freqs, i1, i2):
    """Reference: loop over sources, exp per visibility (what we avoid)."""
    c = 299792458.0
    b = antenna_enu[i2] - antenna_enu[i1]
    out = np.zeros((rel.shape[0], len(i1), len(freqs)), np.complex64)
    for t in range(rel.shape[0]):
        for k in range(rel.shape[1]):
            out[t] += (flux[t, :, k][None, :] * np.exp(2j * np.pi * np.outer(b @ rel[t, k], freqs) / c)).astype(np.complex64)
    return out


def main() -> int:
    from dsa110_resources.simulation import SimulationConfig, write_tile
    from dsa110_resources.simulation.predict import predict_subband

    config = SimulationConfig.full()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        truth = write_tile(tmp, Time("2025-10-13T13:25:00"), config)
        wall = time.perf_counter() - t0
        size = sum(Path(p).stat().st_size for p in truth.files.values())
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    n_inc = sum(s["included"] for s in truth.sources)
    print(f"full tile: {wall:.1f} s wall, peak RSS {rss_gb:.2f} GB, {size / 1e9:.2f} GB written, "
          f"{len(truth.files)} files, {n_inc} sources predicted of {len(truth.sources)} in field")
    print(f"budget: time {'OK' if wall <= 60 else 'OVER'} (<= 60 s), memory {'OK' if rss_gb < 6 else 'OVER'} (< 6 GB)")

    # predictor vs naive loop, one subband, 4 integrations, n_inc sources
    rng = np.random.default_rng(0)
    n_ant, n_src, n_t = 96, max(n_inc, 50), 4
    ant = rng.normal(0, 300, (n_ant, 3))
    rel = rng.normal(0, 0.03, (n_t, n_src, 3))
    flux = rng.uniform(0, 1, (n_t, 48, n_src))
    freqs = 1.4e9 - 244140.625 * np.arange(48)
    i1, i2 = np.triu_indices(n_ant)
    t0 = time.perf_counter()
    fast = predict_subband(ant, rel, flux, freqs, i1, i2)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = naive_predict(ant, rel, flux, freqs, i1, i2)
    t_slow = time.perf_counter() - t0
    err = np.abs(fast - slow).max() / np.abs(slow).max()
    print(f"predictor ({n_src} sources, {n_t} ints, 1 subband): cherk {t_fast:.2f} s vs naive loop {t_slow:.2f} s "
          f"-> {t_slow / t_fast:.1f}x faster, max rel diff {err:.1e}")
    return 0 if wall <= 60 and rss_gb < 6 else 1


if __name__ == "__main__":
    sys.exit(main())
