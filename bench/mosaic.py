"""Benchmark: an hourly mosaic of 12 full-size tiles (4800^2 at 3"), time and peak memory.

Synthetic tiles (float32 FITS, imaging conventions) are written to a temp
dir, then the product (streaming build_mosaic on the planned hourly grid) is
timed, with peak RSS measured in a child process so tile generation does not
count. The baseline in the same run is the naive approach: every tile
resampled onto the full grid with exact per-pixel WCS transforms (astropy),
all planes stacked in memory, then combined; it runs on ``--baseline-tiles``
tiles and is extrapolated linearly to 12 for the ratio (said in the output).
Target: <= 120 s and <= 4 GB.

    .venv/bin/python bench/mosaic.py [--tiles 12] [--size 4800] [--baseline-tiles 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.time import Time

from dsa110_resources.mosaic import MosaicInput, MosaicOptions, build_mosaic, hourly_grid, write_products
from dsa110_resources.mosaic.synthetic import drift_row
from dsa110_resources.photometry.forced import RestoringBeam

HOUR = Time("2025-10-13T13:00:00", scale="utc")
DEC = 54.57 * u.deg


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_tiles(directory: Path, n: int, size: int, cell: u.Quantity):
    from dsa110_resources.mosaic.grid import swept_ra

    ra0, _ = swept_ra(HOUR, HOUR + 1 * u.s, DEC)
    rng = np.random.default_rng(3)
    n_src = 400
    ra = ra0.value + rng.uniform(-2, 17, n_src)
    dec = DEC.value + rng.uniform(-1.8, 1.8, n_src)
    sources = SkyCoord(ra * u.deg, dec * u.deg)
    fluxes = rng.uniform(0.005, 0.5, n_src) * u.Jy
    return drift_row(directory, n, HOUR + 5 * u.s, ra0, DEC, (size, size), cell, sources, fluxes,
                     beam=RestoringBeam(59 * u.arcsec, 18 * u.arcsec, 0 * u.deg), noise=0.3e-3 * u.Jy,
                     with_pbcor=False)


def _inputs(tiles):
    return [MosaicInput.from_fits(f"{t.prefix}.image.fits", noise=t.noise) for t in tiles]


def run_product(tiles, cell, out_dir, queue):
    start_rss = peak_mb()
    t0 = time.perf_counter()
    inputs = _inputs(tiles)
    grid = hourly_grid(HOUR, DEC, cell)
    products = build_mosaic(inputs, grid, MosaicOptions())
    t_build = time.perf_counter() - t0
    write_products(products, out_dir)
    total = time.perf_counter() - t0
    queue.put({"seconds_build": t_build, "seconds_total": total, "peak_mb": peak_mb(), "start_mb": start_rss,
               "grid": list(grid.shape), "coverage": products.coverage,
               "per_tile_s": [round(c.seconds, 2) for c in products.contributions]})


def run_naive(tiles, cell, queue):
    """Full-grid per-tile planes, exact WCS per pixel, stacked: the obvious first implementation."""
    from scipy import ndimage

    from dsa110_resources.mosaic.common_beam import common_beam, convolve_to, noise_scale
    from dsa110_resources.mosaic.inputs import read_plane_data

    t0 = time.perf_counter()
    inputs = _inputs(tiles)
    grid = hourly_grid(HOUR, DEC, cell)
    target = common_beam([t.beam for t in inputs])
    ny, nx = grid.shape
    num_planes, den_planes = [], []
    for tile in inputs:
        image = convolve_to(read_plane_data(tile.image_path), tile.beam, target, tile.wcs)
        pb = read_plane_data(tile.pb_path)
        w = 1 / (tile.noise.to_value(u.Jy) * noise_scale(tile.beam, target)) ** 2
        a_plane = np.zeros(grid.shape, np.float32)
        i_plane = np.zeros(grid.shape, np.float32)
        for r0 in range(0, ny, 256):  # rows in blocks only so the WCS call fits in memory
            gy, gxx = np.mgrid[r0:min(ny, r0 + 256), 0:nx].astype(float)
            ra, dec = grid.wcs.wcs_pix2world(gxx, gy, 0)
            tx, ty = tile.wcs.wcs_world2pix(ra, dec, 0)
            inside = (tx >= 0) & (tx <= tile.shape[1] - 1) & (ty >= 0) & (ty <= tile.shape[0] - 1)
            coords = np.stack([ty, tx])
            a_plane[r0:r0 + 256] = np.where(inside, ndimage.map_coordinates(pb, coords, order=1), 0)
            i_plane[r0:r0 + 256] = np.where(inside, ndimage.map_coordinates(image, coords, order=3), 0)
        num_planes.append(a_plane * i_plane * np.float32(w))
        den_planes.append(a_plane * a_plane * np.float32(w))
    num = np.sum(num_planes, axis=0)
    den = np.sum(den_planes, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mosaic = num / den
    queue.put({"seconds": time.perf_counter() - t0, "peak_mb": peak_mb(), "finite": float(np.isfinite(mosaic).mean())})


def in_child(target, *args):
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=12)
    parser.add_argument("--size", type=int, default=4800)
    parser.add_argument("--cell", type=float, default=3.0, help="arcsec")
    parser.add_argument("--baseline-tiles", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    cell = args.cell * u.arcsec
    work = Path(tempfile.mkdtemp(prefix="bench-mosaic-", dir=args.workdir))
    try:
        t = time.perf_counter()
        tiles = make_tiles(work, args.tiles, args.size, cell)
        print(f"generated {args.tiles} tiles of {args.size}^2 at {args.cell}\" in {time.perf_counter() - t:.1f} s")
        product = in_child(run_product, tiles, cell, work / "out")
        print(f"product : build {product['seconds_build']:.1f} s, with writing {product['seconds_total']:.1f} s, "
              f"peak RSS {product['peak_mb']:.0f} MB (process start {product['start_mb']:.0f} MB), "
              f"grid {product['grid'][0]}x{product['grid'][1]}, coverage {product['coverage']:.3f}")
        print(f"          per tile (s): {product['per_tile_s']}")
        nb = min(args.baseline_tiles, args.tiles)
        naive = in_child(run_naive, tiles[:nb], cell)
        scale = args.tiles / nb
        print(f"naive   : {nb} tiles {naive['seconds']:.1f} s, peak RSS {naive['peak_mb']:.0f} MB; "
              f"extrapolated to {args.tiles} tiles: ~{naive['seconds'] * scale:.0f} s, "
              f"~{naive['peak_mb'] * scale:.0f} MB (planes grow linearly)")
        print(f"ratio   : time naive/product {naive['seconds'] * scale / product['seconds_build']:.1f}x, "
              f"memory naive/product {naive['peak_mb'] * scale / product['peak_mb']:.1f}x")
        ok_t = product["seconds_total"] <= 120
        ok_m = product["peak_mb"] <= 4096
        print(f"target  : <= 120 s {'PASS' if ok_t else 'FAIL'}, <= 4 GB {'PASS' if ok_m else 'FAIL'}")
        print(json.dumps({"product": product, "naive": naive, "naive_tiles": nb}, default=float))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
