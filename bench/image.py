"""Bench: one full-size tile imaged with WSClean and with tclean in the same run.

    python bench/image.py [--workdir DIR] [--backends wsclean,tclean] [--subbands 1,4] [--keep]

Simulates a telescope-scale tile (SimulationConfig.full(): 96 antennas, 16
subbands, NVSS-density sky), converts it with the project's converter, then
images it with the standard parameters (grid chosen from the MS) through each
backend. Prints each backend's time, the tclean/WSClean ratio, and the QA
figures (noise vs the simulator's thermal figure, source recovery), and writes
them to <workdir>/bench_image.json. Target: the default backend <= 60 s.
``--subbands 1,4`` images with WSClean once per sub-band count (1: one band,
one spectral term; 4: the default, joined sub-bands with two terms) and
prints what the sub-band images cost against one band.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import astropy.units as u
from astropy.time import Time

TARGET_SECONDS = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory [default: a temp dir]")
    parser.add_argument("--backends", default="wsclean,tclean")
    parser.add_argument("--start", default="2025-10-13T13:25:07", help="tile start (UTC)")
    parser.add_argument("--keep", action="store_true", help="keep the tile, MS and images")
    parser.add_argument("--subbands", default=None,
                        help="comma-separated WSClean sub-band counts to compare (e.g. 1,4); implies wsclean only")
    args = parser.parse_args()

    from dsa110_resources.conversion import convert_to_path, find_tiles
    from dsa110_resources.imaging import ImagingParams, ReferenceSources, default_backend, make_image
    from dsa110_resources.simulation import SimulationConfig, write_tile

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-image-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {"workdir": str(workdir), "default_backend": default_backend()}
    try:
        t0 = time.perf_counter()
        truth = write_tile(workdir / "incoming", Time(args.start, scale="utc"), SimulationConfig.full())
        report["simulate_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ms = convert_to_path(find_tiles(workdir / "incoming")[0], workdir / f"{truth.tile_id}.ms").ms_path
        report["convert_s"] = time.perf_counter() - t0
        shutil.rmtree(workdir / "incoming", ignore_errors=True) if not args.keep else None
        references = ReferenceSources.from_truth(truth)
        expected = truth.meta["noise"]["expected_image_noise_jy"] * u.Jy
        params = ImagingParams()
        print(f"tile {truth.tile_id}: simulated in {report['simulate_s']:.1f} s, converted in {report['convert_s']:.1f} s")
        runs = [(b, params) for b in args.backends.split(",")]
        if args.subbands:
            runs = [(f"wsclean-sb{n}", params.with_overrides(subband_images=int(n)))
                    for n in args.subbands.split(",")]
        for label, run_params in runs:
            backend = label.split("-")[0]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            result = make_image(ms, workdir / label / truth.tile_id, run_params, backend=backend,
                                references=references, expected_noise=expected)
            rec = result.qa.recovery
            # Peak RSS of any child so far (WSClean, the CASA process): KiB on Linux.
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            child_peak_gb = after.ru_maxrss / 2**20
            # CPU seconds of the imager process: a load-independent companion to wall time
            # on a machine shared with other work.
            child_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            report[label] = {
                "total_s": result.total_seconds,
                "backend_s": result.backend_seconds,
                "size": result.grid.size,
                "cell_arcsec": result.grid.cell.to_value(u.arcsec),
                "noise_jy": result.qa.noise_jy,
                "noise_ratio": result.qa.noise_ratio,
                "beam_arcsec": [result.qa.bmaj_arcsec, result.qa.bmin_arcsec],
                "n_sources": rec.n_measured,
                "flux_ratio_median": rec.flux_ratio_median,
                "flux_ratio_max_deviation": rec.flux_ratio_max_deviation,
                "offset_max_beams": rec.offset_max_beams,
                "child_peak_rss_gb_so_far": child_peak_gb,
                "imager_cpu_s": child_cpu,
                "load_average_1min": os.getloadavg()[0],
            }
            print(f"{label:8s} {result.total_seconds:7.1f} s total ({result.backend_seconds:.1f} s in the imager),"
                  f" {result.grid.size}^2 px at {result.grid.cell.to_value(u.arcsec):.1f}\","
                  f" imager CPU {child_cpu:.0f} s, child peak RSS so far {child_peak_gb:.1f} GB,"
                  f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            for line in result.qa.summary_lines():
                print(f"         {line}")
        if args.subbands:
            first, *rest = [label for label, _ in runs]
            for label in rest:
                print(f"{label} / {first}: {report[label]['total_s'] / report[first]['total_s']:.2f}x wall, "
                      f"{report[label]['imager_cpu_s'] / report[first]['imager_cpu_s']:.2f}x imager CPU")
        if "wsclean" in report and "tclean" in report:
            ratio = report["tclean"]["total_s"] / report["wsclean"]["total_s"]
            report["tclean_over_wsclean"] = ratio
            print(f"tclean / wsclean time ratio: {ratio:.2f}")
        default = report.get(report["default_backend"])
        if default:
            verdict = "meets" if default["total_s"] <= TARGET_SECONDS else "MISSES"
            print(f"default backend {report['default_backend']}: {default['total_s']:.1f} s {verdict} the {TARGET_SECONDS:.0f} s target")
        text = json.dumps(report, indent=2, default=float)
        (workdir / "bench_image.json").write_text(text)
        print(text)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
