"""Benchmark: a day of tiles (~280 x ~1000 sources) through association, per-tile normalisation and transits.

The day is simulated as the array samples it (``drift_simulation``: the whole
RA circle at Dec +54.6, ~1000 sources in each tile's field). Steps timed:

- association: each tile's measured positions (catalog position + 2" jitter)
  matched to the catalog, one ``crossmatch`` per tile as tiles arrive;
- per-tile normalisation of the day (``normalise_tiles``; a first day has no
  history, so references need 3 measurements instead of 8);
- per-transit light curves (``aggregate_transits``);
- the whole daily chain (normalisation, transits, metrics, ESE search) over
  ``--history-days N`` of tiles, with the table's size and the peak memory, to
  show how it scales toward the 120 days a daily run reads.

Baseline in the same run: the obvious per-tile loop (each tile's references
selected with a boolean mask, a median of ratios), on a subset of tiles and
extrapolated. Prints the machine's load average before and after.

    .venv/bin/python bench/lightcurves.py [--history-days 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord

from dsa110_resources.catalogs.crossmatch import crossmatch
from dsa110_resources.photometry.daily import analyse_drift_scan
from dsa110_resources.photometry.drift_simulation import DriftSurveySpec, simulate_drift_survey
from dsa110_resources.photometry.references import eligible_references
from dsa110_resources.photometry.tile_normalisation import TileCriteria, normalise_tiles
from dsa110_resources.photometry.transits import aggregate_transits

#: Sources on the whole RA circle giving ~1000 per tile field at beam level 0.3.
SOURCES_PER_DAY = 78_000


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> str:
    return "load %.1f %.1f %.1f" % os.getloadavg()


def naive_per_tile(measurements: pd.DataFrame, refs: set, subset: int = 20) -> float:
    """Seconds per tile of the obvious loop: mask the tile's references, median of flux/baseline."""
    baseline = measurements[measurements["source_id"].isin(refs)].groupby("source_id")["flux_jy"].median()
    tiles = measurements["tile_id"].unique()[:subset]
    t = time.perf_counter()
    for tile in tiles:
        rows = measurements[(measurements["tile_id"] == tile) & measurements["source_id"].isin(refs)]
        np.median(rows["flux_jy"].to_numpy() / baseline.reindex(rows["source_id"]).to_numpy())
    return (time.perf_counter() - t) / len(tiles)


def bench_day(seed: int = 0) -> None:
    spec = DriftSurveySpec(n_sources=SOURCES_PER_DAY, n_days=1, ra_range_deg=(0.0, 360.0))
    t = time.perf_counter()
    sim = simulate_drift_survey(spec, seed=seed)
    t_sim = time.perf_counter() - t
    m = sim.measurements
    per_tile = m.groupby("tile_id").size()
    print(f"one day: {len(per_tile)} tiles, {len(m)} measurements, median {per_tile.median():.0f} sources a tile"
          f" (simulated in {t_sim:.1f} s); {load()}")

    rng = np.random.default_rng(seed)
    catalog = SkyCoord(sim.catalog["ra_deg"].to_numpy() * u.deg, sim.catalog["dec_deg"].to_numpy() * u.deg)
    jitter = rng.normal(0, 2.0 / 3600, (len(m), 2))
    cosd = np.cos(np.radians(m["dec_deg"].to_numpy()))
    ra = m["ra_deg"].to_numpy() + jitter[:, 0] / cosd
    dec = m["dec_deg"].to_numpy() + jitter[:, 1]
    t, c = time.perf_counter(), time.process_time()
    matched = 0
    right = 0
    ids = sim.catalog["source_id"].to_numpy()
    for _, rows in m.groupby("tile_id", sort=False).indices.items():
        found = crossmatch(SkyCoord(ra[rows] * u.deg, dec[rows] * u.deg), catalog, 10 * u.arcsec)
        matched += len(found)
        right += int(np.sum(ids[found["catalog_index"].to_numpy()] == m["source_id"].to_numpy()[rows][found["index"]]))
    t_assoc, c_assoc = time.perf_counter() - t, time.process_time() - c
    print(f"  association (one crossmatch per tile, {len(catalog)} catalog sources): {t_assoc:.1f} s"
          f" ({c_assoc:.1f} CPU s);"
          f" {matched / len(m):.4f} matched, {right / max(matched, 1):.4f} to the right source")

    eligible = eligible_references(sim.catalog)
    t, c = time.perf_counter(), time.process_time()
    norm = normalise_tiles(m, eligible, TileCriteria(min_measurements=3))
    t_norm, c_norm = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    transits = aggregate_transits(norm.table)
    t_transit, c_transit = time.perf_counter() - t, time.process_time() - c
    corr = norm.corrections
    ok = np.isfinite(corr["correction"].to_numpy())
    injected = sim.tile_scale.reindex(corr["tile_id"]).to_numpy()
    ratio = corr["correction"].to_numpy()[ok] / injected[ok]
    total, cpu = t_assoc + t_norm + t_transit, c_assoc + c_norm + c_transit
    # one day alone pins the scale between neighbouring tiles, not its slow drift around the sky
    local = np.std(np.diff(ratio)) / np.sqrt(2)
    print(f"  per-tile normalisation {t_norm:.1f} s ({c_norm:.1f} CPU s; {ok.sum()} of {len(ok)} tiles corrected,"
          f" median {np.median(corr['n_references']):.0f} references, corrections/injected scatter"
          f" {np.std(ratio / np.median(ratio)):.4f}, tile-to-tile {local:.4f}); transits {t_transit:.1f} s"
          f" ({c_transit:.1f} CPU s, {len(transits)} rows)")
    print(f"  association + normalisation + transits: {total:.1f} s wall, {cpu:.1f} CPU s (limit 60 s);"
          f" peak RSS {peak_mb():.0f} MB")
    refs = set(norm.references.loc[norm.references["used"], "source_id"])
    per = naive_per_tile(m, refs)
    print(f"  baseline per-tile loop (20 tiles, extrapolated to one pass over {len(per_tile)} tiles):"
          f" {per * len(per_tile):.1f} s a pass; normalise_tiles does {TileCriteria().iterations} passes"
          f" and the reference judging in {t_norm:.1f} s -> x{per * len(per_tile) * TileCriteria().iterations / t_norm:.1f}")
    print(f"  {load()}")


def bench_history(days: int, seed: int = 1) -> None:
    spec = DriftSurveySpec(n_sources=SOURCES_PER_DAY, n_days=days, ra_range_deg=(0.0, 360.0))
    sim = simulate_drift_survey(spec, seed=seed)
    # as read_measurements returns it: ids as categories
    m = sim.measurements.astype({"source_id": "category", "tile_id": "category", "band": "category"})
    del sim
    size = m.memory_usage(deep=True).sum() / 1e6
    before = peak_mb()
    t, c = time.perf_counter(), time.process_time()
    products = analyse_drift_scan(m, None)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    print(f"daily chain over {days} days ({len(m)} measurements, {m['tile_id'].nunique()} tiles, table {size:.0f} MB):"
          f" normalisation, transits, metrics, ESE search {elapsed:.1f} s ({cpu:.1f} CPU s),"
          f" {products.normalisation.fraction_normalised():.3f} normalised; peak RSS {before:.0f} MB before,"
          f" {peak_mb():.0f} MB after; {load()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history-days", type=int, default=0, help="also time a daily run over N days of tiles")
    args = parser.parse_args()
    bench_day()
    if args.history_days:
        bench_history(args.history_days)
