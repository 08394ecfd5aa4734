"""Soak: a whole simulated day of the tiny array through the live path, with faults.

Runs ``dsa110_assets.soak.run_soak`` (the real incoming-files sensor and
``tile_job`` in this process, a persistent Dagster instance, one run killed
with SIGKILL and retried; see that module for the fault kinds; tile 3 is a
3C286 transit, and every good tile is calibrated and imaged, the ones before
the transit released by ``calibration_sensor``) on 288 tiles (24 h at the
~309-s cadence) by default, then prints the summary: tiles per
fault, sensor ticks and failures, runs, where every delivered file ended up,
seconds per phase and every broken promise. The baseline in the same run is
the telescope: pipeline seconds per tile against the 309-s cadence.

    python bench/soak.py                      # a day: 288 tiles, ~60% faulty
    python bench/soak.py --tiles 48 --seed 3 --keep /tmp/soak
Exit status 1 if any promise was broken.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CADENCE_S = 309.2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=int, default=288)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-fraction", type=float, default=0.6)
    parser.add_argument("--field-sources", type=int, default=None,
                        help="synthetic sources per tile field (default: NVSS density, for sky-model gains"
                        " on tiles more than 1 h from the transit)")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary directory)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from dsa110_assets.soak import SoakSettings, run_soak

    with tempfile.TemporaryDirectory(prefix="dsa110-soak-") as scratch:
        root = args.keep or Path(scratch)
        settings = SoakSettings(root=root, n_tiles=args.tiles, seed=args.seed, fault_fraction=args.fault_fraction,
                                field_sources=args.field_sources)
        load = os.getloadavg()[0]
        report = run_soak(settings, log=lambda m: None)
    per_tile = report.seconds["pipeline"] / args.tiles
    usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)
    lines = report.summary() + [
        f"pipeline per tile: {per_tile:.1f} s wall ({per_tile / CADENCE_S:.3f} of the {CADENCE_S:.0f}-s cadence), "
        f"{cpu / args.tiles:.1f} s CPU for everything (simulation, pipeline, check; this process and its children)",
        f"load average at the start: {load:.1f} (a shared machine: read the ratio, not the seconds)",
    ]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({
            "tiles": args.tiles, "faults": report.faults, "runs": dict(report.runs), "files": dict(report.files),
            "ticks": report.ticks, "tick_errors": report.tick_errors, "seconds": report.seconds,
            "cpu_seconds": cpu, "problems": report.problems, "load_at_start": load}, indent=1))
    return 1 if report.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
