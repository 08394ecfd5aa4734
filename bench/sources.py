"""Benchmark: blind source finding on a full-size simulated tile; PyBDSF against Aegean.

A full-size tile image is what WSClean makes with the default imaging
parameters on the full array: 2160^2 pixels of 7.6" (imaging.params; a
2.7 km longest baseline and 1.5 primary-beam FWHMs). The tile holds ~1400
point sources 4 beams apart at apparent S/N 5-500 (injection.inject_tile:
the drift-averaged primary beam, a 75" x 48" restoring beam, 0.2 mJy
beam-correlated noise). The product (``find_sources``: PyBDSF with the
residual's rms map) is timed and scored (completeness per S/N, false
detections, flux ratio); the baseline in the same run is Aegean 2.3.5 (its own
background and rms, one core) on the same image. Target: <= 30 s per tile.

    .venv/bin/python bench/sources.py [--size 2160] [--no-aegean] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dsa110_resources.sources.finder import FinderOptions, find_sources
from dsa110_resources.sources.injection import inject_tile, score

SNRS = [5, 6, 7, 7, 8, 10, 15, 20, 50, 100, 500]


def aegean(image: Path, pb: Path) -> tuple[pd.DataFrame, float]:
    from AegeanTools.source_finder import SourceFinder

    from dsa110_resources.photometry.forced import read_plane

    start, cpu = time.perf_counter(), time.process_time()
    # cube_index=0: without it Aegean 2.3.5 indexes a 4-D image with None (astropy 8 refuses).
    found = SourceFinder(log=logging.getLogger("aegean")).find_sources_in_image(
        str(image), innerclip=5, outerclip=3, cores=1, cube_index=0)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"aegean: {seconds:.1f} s wall, {cpu:.1f} s CPU")
    table = pd.DataFrame({"ra_deg": [s.ra for s in found], "dec_deg": [s.dec for s in found],
                          "peak_jy": [s.peak_flux for s in found], "snr": [s.peak_flux / s.local_rms for s in found]})
    plane = read_plane(pb)
    x, y = plane.wcs.world_to_pixel_values(table["ra_deg"].to_numpy(), table["dec_deg"].to_numpy())
    table["peak_jy"] /= plane.data[np.rint(y).astype(int), np.rint(x).astype(int)]
    return table, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2160)
    parser.add_argument("--spacing-beams", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-aegean", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="PyBDSF ncores")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as tmp:
        start = time.perf_counter()
        tile = inject_tile(Path(tmp), SNRS, size=args.size, spacing_beams=args.spacing_beams, seed=args.seed)
        print(f"simulated {args.size}^2 tile, {len(tile.truth)} sources, in {time.perf_counter() - start:.1f} s")
        residual = Path(f"{tile.tile.prefix}.residual.fits")
        start, cpu = time.perf_counter(), time.process_time()
        found = find_sources(tile.image, pb_path=tile.pb, residual_path=residual, options=FinderOptions(threads=args.threads))
        product, cpu = time.perf_counter() - start, time.process_time() - cpu
        result = {"pybdsf": {"seconds": round(product, 1), "cpu_seconds": round(cpu, 1),
                             "pybdsf_seconds": found.attrs["seconds"],
                             **score(found, tile.truth)}}
        if not args.no_aegean:
            table, seconds = aegean(tile.image, tile.pb)
            result["aegean"] = {"seconds": round(seconds, 1), **score(table, tile.truth)}
    for name, r in result.items():
        r.pop("false_snr", None)
        r["completeness"] = {k: round(v, 3) for k, v in r["completeness"].items()}
    print(json.dumps(result, indent=1))
    if "aegean" in result:
        print(f"ratio aegean / pybdsf time: {result['aegean']['seconds'] / result['pybdsf']['seconds']:.1f}")
    print(f"target <= 30 s per full-size tile: {'met' if product <= 30 else 'NOT met'} ({product:.1f} s)")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
