"""Benchmark: one full-size tile to a Measurement Set, against pyuvdata and the I/O floor.

In one run, each in a fresh child process (so peak RSS is its own):

* floor      read every input byte, write as many bytes as the MS holds to the
             output disk and fsync: the time the hardware needs at least;
* converter  ``convert_tile`` as the pipeline runs it (validate, tmpfs staging,
             direct MS write, atomic publish to the data root);
* baseline   the common approach: pyuvdata reads the 16 files, phases to the
             same centre and calls ``write_ms``.

    python bench/convert.py                 # simulate a full tile, run all three
    python bench/convert.py --input DIR     # use an existing tile's files
Targets (2 cores): converter <= 30 s wall, >= 4x faster than the baseline,
peak RSS <= 6 GB.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import tempfile
import time
import warnings
from pathlib import Path


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _run_floor(input_dir: str, out_dir: str, n_bytes: int) -> dict:
    t = time.perf_counter()
    read = 0
    buffer = bytearray(64 * 1024 * 1024)
    for path in sorted(Path(input_dir).glob("*.hdf5")):
        with open(path, "rb", buffering=0) as f:
            while (n := f.readinto(buffer)):
                read += n
    target = Path(out_dir) / "floor.bin"
    with open(target, "wb", buffering=0) as f:
        left = n_bytes
        while left > 0:
            left -= f.write(memoryview(buffer)[: min(left, len(buffer))])
        os.fsync(f.fileno())
    wall = time.perf_counter() - t
    target.unlink()
    return {"wall_s": wall, "read_bytes": read, "written_bytes": n_bytes, "peak_rss_gb": _peak_rss_gb()}


def _run_converter(input_dir: str, data_root: str, fast_root: str, model_data: str) -> dict:
    from dsa110_resources.conversion import ConversionOptions, convert_tile, find_tiles
    from dsa110_resources.stores import StorageTiers

    t = time.perf_counter()
    (group,) = find_tiles(Path(input_dir))
    tiers = StorageTiers(data_root=data_root, fast_root=fast_root)
    result = convert_tile(group, tiers, options=ConversionOptions(model_data=model_data),
                          quarantine_mode="record")
    wall = time.perf_counter() - t
    return {"wall_s": wall, "peak_rss_gb": _peak_rss_gb(), "ms_path": str(result.ms_path),
            "ms_bytes": result.size_bytes, "staged_in": str(result.staging_root),
            "timings": result.timings, "ra_deg": result.phase_centre.ra.deg,
            "dec_deg": result.phase_centre.dec.deg}


def _run_baseline(input_dir: str, out_dir: str, ra_deg: float, dec_deg: float) -> dict:
    import numpy as np
    from pyuvdata import UVData

    warnings.simplefilter("ignore")
    t = time.perf_counter()
    parts = []
    for path in sorted(Path(input_dir).glob("*.hdf5")):
        uv = UVData()
        uv.read(path, file_type="uvh5", run_check=False)
        uv.uvw_array = uv.uvw_array.astype(np.float64)  # pyuvdata refuses to combine float32 uvw
        parts.append(uv)
    uv = parts[0]
    uv.fast_concat(parts[1:], axis="freq", inplace=True, run_check=False)
    del parts
    uv.phase(ra=np.deg2rad(ra_deg), dec=np.deg2rad(dec_deg), epoch="J2000", cat_name="mid")
    out = Path(out_dir) / "baseline.ms"
    uv.write_ms(str(out), run_check=False)
    wall = time.perf_counter() - t
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    shutil.rmtree(out)
    return {"wall_s": wall, "peak_rss_gb": _peak_rss_gb(), "ms_bytes": size}


def _child(conn, func, args):
    try:
        conn.send(("ok", func(*args)))
    except BaseException as exc:  # report, don't hang the parent
        conn.send(("error", repr(exc)))


def in_child(func, *args) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(child, func, args))
    process.start()
    status, payload = parent.recv()
    process.join()
    if status != "ok":
        raise RuntimeError(f"{func.__name__} failed: {payload}")
    return payload


def warm_numba_cache() -> None:
    """Compile the kernel once (numba caches it on disk, as in production)."""
    import numpy as np

    from dsa110_resources.conversion.kernels import process_tile_arrays

    n = 4
    process_tile_arrays(np.zeros((n, 96, 2), np.complex64), np.zeros((n, 96, 2), bool),
                        np.ones((n, 96, 2), np.float32), np.zeros(n), np.linspace(2e9, 1e9, 96),
                        np.ones(96, bool))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, help="directory holding one tile's 16 files")
    parser.add_argument("--work", type=Path, default=None, help="scratch directory on the data disk")
    parser.add_argument("--fast-root", default="/dev/shm/dsa110-bench")
    parser.add_argument("--model-data", default="zero", choices=["zero", "absent"])
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="dsa110-bench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    input_dir = args.input
    if input_dir is None:
        from astropy.time import Time

        from dsa110_resources.simulation import SimulationConfig, write_tile

        input_dir = work / "incoming"
        print(f"simulating a full tile into {input_dir} ...", flush=True)
        t = time.perf_counter()
        write_tile(input_dir, Time("2025-10-13T13:25:00", scale="utc"), SimulationConfig.full())
        print(f"  {time.perf_counter() - t:.1f} s", flush=True)
    input_bytes = sum(p.stat().st_size for p in Path(input_dir).glob("*.hdf5"))
    warm_numba_cache()

    data_root = work / "data"
    shutil.rmtree(data_root, ignore_errors=True)
    conv = in_child(_run_converter, str(input_dir), str(data_root), args.fast_root, args.model_data)
    floor = in_child(_run_floor, str(input_dir), str(work), conv["ms_bytes"])
    results = {"input_bytes": input_bytes, "converter": conv, "floor": floor}
    if not args.skip_baseline:
        results["baseline"] = in_child(_run_baseline, str(input_dir), str(work), conv["ra_deg"],
                                       conv["dec_deg"])
    shutil.rmtree(data_root, ignore_errors=True)

    gb = 1e9
    print(f"input: {input_bytes / gb:.2f} GB in {len(list(Path(input_dir).glob('*.hdf5')))} files")
    print(f"converter: {conv['wall_s']:6.1f} s wall, peak RSS {conv['peak_rss_gb']:.2f} GB, "
          f"MS {conv['ms_bytes'] / gb:.2f} GB (model_data={args.model_data}, staged in {conv['staged_in']})")
    print("           " + ", ".join(f"{k} {v:.1f} s" for k, v in conv["timings"].items()))
    print(f"floor:     {floor['wall_s']:6.1f} s (read {input_bytes / gb:.2f} GB + write/fsync "
          f"{conv['ms_bytes'] / gb:.2f} GB); converter / floor = {conv['wall_s'] / floor['wall_s']:.2f}")
    if "baseline" in results:
        base = results["baseline"]
        print(f"baseline:  {base['wall_s']:6.1f} s wall, peak RSS {base['peak_rss_gb']:.2f} GB, "
              f"MS {base['ms_bytes'] / gb:.2f} GB (pyuvdata read + phase + write_ms)")
        print(f"speed-up:  {base['wall_s'] / conv['wall_s']:.1f}x")
    ok = conv["wall_s"] <= 30 and conv["peak_rss_gb"] <= 6 and (
        "baseline" not in results or results["baseline"]["wall_s"] >= 4 * conv["wall_s"])
    print("targets (<=30 s, >=4x, <=6 GB):", "met" if ok else "NOT met")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
