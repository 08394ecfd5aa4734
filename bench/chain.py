"""Benchmark: the live per-tile chain on full-size tiles, against the telescope's cadence.

Simulates ``--tiles`` consecutive full-size tiles (96 antennas, 16 subbands,
NVSS-density sky, the correlator's file layout), the first holding a
calibrator transit (so it solves the bandpass and gains the later ones use),
and runs them one after another as the incoming-files sensor would launch
them: each tile's assets in chain order (``subband_group``,
``measurement_set``, ``calibrated_ms``, ``image``, ``photometry``, each with
its QA checks), through the real Dagster assets and resources (SQLite
products database, tmpfs staging, WSClean) in this process. Each step is
measured as its own in-process run: wall seconds and CPU seconds (this
process and its children: CASA, WSClean, AOFlagger), and the peak RSS.

Printed: a per-step table (the calibrator tile and the mean of the science
tiles), wall and CPU seconds per tile, throughput (tiles per hour), the
steady-state backlog against the ~309-s cadence, the catch-up time after a
6-hour outage, and the cores a telescope needs at 1x (live) and 2x (live +
reprocessing) from the CPU seconds per tile.

    python bench/chain.py                       # 3 tiles (1 calibrator + 2 science)
    python bench/chain.py --tiles 5 --json out.json
    python bench/chain.py --preset tiny         # a quick check of the bench itself
Target (issue 19, 2 cores): <= 150 s wall and <= 300 CPU-seconds per science tile.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import tempfile
import time
import warnings
from pathlib import Path

CADENCE_S = 309.2  # 24 x 12.884902 s
TARGET_WALL_S, TARGET_CPU_S = 150.0, 300.0
#: Dagster's console logger at WARNING: the per-step lines below are the report.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
STEPS = ("subband_group", "measurement_set", "calibrated_ms", "image", "photometry")


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _peak_rss_gb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    return own, children


def simulate(incoming: Path, n_tiles: int, calibrator: str, preset: str) -> list[str]:
    from astropy.time import Time

    from dsa110_resources.conversion.naming import window_key
    from dsa110_resources.simulation import SimulationConfig, calibrator_transit_start, write_tiles

    start, dec = calibrator_transit_start(calibrator, Time("2025-10-13T00:00:00", scale="utc"))
    make = SimulationConfig.full if preset == "full" else SimulationConfig.tiny
    config = make(declination=dec, calibrators=(calibrator,), gains=True, bandpass=True, rfi=True,
                  n_zeroed_channels=4)
    day = incoming / start.to_datetime().strftime("%Y-%m-%d")
    truths = write_tiles(day, start, n_tiles, config)
    shutil.move(day / "sky_catalog.csv", incoming.parent / "sky_catalog.csv")
    # A tile is keyed by its earliest file's time (the grouping's tile id).
    return [window_key(dt.datetime.fromisoformat(min(t.meta["file_timestamps"].values())).replace(tzinfo=dt.UTC))
            for t in truths]


def definitions_for(data: Path, fast_root: Path, min_subbands: int):
    from dagster import AssetSelection, Definitions, define_asset_job

    from dsa110_assets.definitions import defs as production_defs
    from dsa110_assets.imaging import ImagingResource
    from dsa110_resources.casa.resource import CasaResource
    from dsa110_resources.catalogs.resource import SkyCatalogResource
    from dsa110_resources.conversion.resource import IngestResource
    from dsa110_resources.db.resource import ProductsDBResource
    from dsa110_resources.db.session import sqlite_url
    from dsa110_resources.stores.resource import StorageResource

    resources = {
        "storage": StorageResource(data_root=str(data), fast_root=str(fast_root)),
        "products_db": ProductsDBResource(url=sqlite_url(data / "state" / "products.sqlite")),
        "ingest": IngestResource(incoming_dir=str(data / "incoming"), incomplete_wait_seconds=0,
                                 min_subbands=min_subbands),
        "casa": CasaResource(),
        "sky_catalog": SkyCatalogResource(path=str(data / "sky_catalog.csv")),
        "imaging": ImagingResource(),
    }
    jobs = [define_asset_job(f"step_{name}", selection=AssetSelection.assets(name)) for name in STEPS]
    return Definitions(assets=production_defs.assets, asset_checks=production_defs.asset_checks,
                       jobs=jobs, resources=resources)


def run_chain(definitions, keys: list[str]) -> list[dict]:
    from dagster import DagsterEventType, DagsterInstance

    instance = DagsterInstance.ephemeral()
    tiles = []
    for key in keys:
        row = {"window": key, "steps": {}}
        for name in STEPS:
            wall, cpu = time.perf_counter(), _cpu_seconds()
            result = definitions.resolve_job_def(f"step_{name}").execute_in_process(
                partition_key=key, instance=instance, raise_on_error=False, run_config=QUIET)
            step = {"wall_s": time.perf_counter() - wall, "cpu_s": _cpu_seconds() - cpu,
                    "success": result.success}
            checks = {e.event_specific_data.check_name: e.event_specific_data.passed
                      for e in result.all_events if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION}
            if checks:
                step["checks"] = checks
            row["steps"][name] = step
            print(f"  {key} {name:16s} {step['wall_s']:7.1f} s wall {step['cpu_s']:7.1f} s CPU"
                  + ("" if result.success else "  FAILED") + (f"  checks {checks}" if checks else ""),
                  flush=True)
        row["wall_s"] = sum(s["wall_s"] for s in row["steps"].values())
        row["cpu_s"] = sum(s["cpu_s"] for s in row["steps"].values())
        tiles.append(row)
    return tiles


def summarise(tiles: list[dict]) -> dict:
    science = tiles[1:] or tiles
    mean = lambda rows, key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    wall, cpu = mean(science, "wall_s"), mean(science, "cpu_s")
    summary = {
        "calibrator_tile": {"wall_s": tiles[0]["wall_s"], "cpu_s": tiles[0]["cpu_s"]},
        "science_tile": {"wall_s": wall, "cpu_s": cpu},
        "steps": {name: {"wall_s": mean([t["steps"][name] for t in science], "wall_s"),
                         "cpu_s": mean([t["steps"][name] for t in science], "cpu_s")} for name in STEPS},
        "tiles_per_hour": 3600.0 / wall,
        "cadence_fraction": wall / CADENCE_S,
        # Tiles arrive every CADENCE_S; with one tile at a time the queue
        # grows by (wall - cadence) per tile when the chain is slower.
        "backlog_growth_tiles_per_hour": max(0.0, 3600.0 / CADENCE_S - 3600.0 / wall),
        "cores_1x": cpu / CADENCE_S,
        "cores_2x": 2 * cpu / CADENCE_S,
    }
    outage = 6 * 3600.0
    summary["catch_up_after_6h_hours"] = (outage * wall / (CADENCE_S - wall) / 3600.0
                                          if wall < CADENCE_S else float("inf"))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=int, default=3, help="consecutive tiles; the first is a calibrator transit")
    parser.add_argument("--calibrator", default="3C147")
    parser.add_argument("--preset", choices=["full", "tiny"], default="full",
                        help="full: the telescope; tiny: 6 antennas, 2 subbands (a quick check of the bench)")
    parser.add_argument("--work", type=Path, default=None, help="scratch directory on the data disk")
    parser.add_argument("--fast-root", type=Path, default=Path("/dev/shm/dsa110-bench-chain"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.tiles < 2:
        parser.error("--tiles must be at least 2 (a calibrator tile and a science tile)")

    warnings.simplefilter("ignore")
    work = Path(args.work or tempfile.mkdtemp(prefix="dsa110-chain-", dir="/var/tmp"))
    data = work / "data"
    incoming = data / "incoming"
    keys_file = work / "windows.json"
    if keys_file.exists():  # the tiles of an earlier run (simulating costs ~1 min a tile)
        keys = json.loads(keys_file.read_text())
        for name in ("ms", "caltables", "images", "photometry", "qa", "state", "quarantine", "staging"):
            shutil.rmtree(data / name, ignore_errors=True)
    else:
        print(f"simulating {args.tiles} full-size tiles into {incoming} ...", flush=True)
        t = time.perf_counter()
        keys = simulate(incoming, args.tiles, args.calibrator, args.preset)
        keys_file.write_text(json.dumps(keys))
        print(f"  {time.perf_counter() - t:.0f} s", flush=True)
    shutil.rmtree(args.fast_root, ignore_errors=True)
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"running the chain on {len(keys)} tiles (1-min load {load}) ...", flush=True)
    tiles = run_chain(definitions_for(data, args.fast_root, 12 if args.preset == "full" else 1), keys)
    summary = summarise(tiles)
    own, children = _peak_rss_gb()

    print(f"\n{'step':18s} {'calibrator tile':>22s} {'science tile (mean)':>24s}")
    for name in STEPS:
        cal, sci = tiles[0]["steps"][name], summary["steps"][name]
        print(f"{name:18s} {cal['wall_s']:8.1f} s / {cal['cpu_s']:6.1f} CPU"
              f" {sci['wall_s']:10.1f} s / {sci['cpu_s']:6.1f} CPU")
    cal, sci = summary["calibrator_tile"], summary["science_tile"]
    print(f"{'per tile':18s} {cal['wall_s']:8.1f} s / {cal['cpu_s']:6.1f} CPU"
          f" {sci['wall_s']:10.1f} s / {sci['cpu_s']:6.1f} CPU")
    print(f"peak RSS: this process {own:.2f} GB, largest child {children:.2f} GB")
    print(f"throughput {summary['tiles_per_hour']:.1f} tiles/h against {3600 / CADENCE_S:.1f} arriving; "
          f"chain / cadence = {summary['cadence_fraction']:.2f}; backlog grows by "
          f"{summary['backlog_growth_tiles_per_hour']:.1f} tiles/h; catch-up after a 6-h outage "
          f"{summary['catch_up_after_6h_hours']:.1f} h")
    print(f"cores per telescope (CPU s per tile / cadence): 1x {summary['cores_1x']:.2f}, "
          f"2x {summary['cores_2x']:.2f}")
    ok = sci["wall_s"] <= TARGET_WALL_S and sci["cpu_s"] <= TARGET_CPU_S
    print(f"target (<= {TARGET_WALL_S:.0f} s wall, <= {TARGET_CPU_S:.0f} CPU-s per science tile):",
          "met" if ok else "NOT met")
    failed = [f"{t['window']} {n}" for t in tiles for n, s in t["steps"].items() if not s["success"]]
    if failed:
        print("FAILED steps: " + ", ".join(failed))
    if args.json:
        args.json.write_text(json.dumps({"tiles": tiles, "summary": summary, "load_1min": load,
                                         "peak_rss_gb": {"self": own, "children": children}}, indent=1))


if __name__ == "__main__":
    main()
