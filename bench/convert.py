"""Benchmark: one full-size tile to a Measurement Set, against pyuvdata and the I/O floor.

The tile is measured in both file layouts: the correlator's (extendable,
auto-chunked 4-D datasets appended per integration: what real files are)
and contiguous 3-D datasets (what pyuvdata writes), the same bytes of data
rewritten. In one run, each in a fresh child process (so peak RSS is its
own), with the input read into the page cache and the disk's writeback
settled (``sync``) before each, untimed, after one untimed warm-up conversion
(see ``warm_caches``: the steady state of a pipeline that has converted a tile):

* validation     ``validate_tile`` alone (every file's header read and
                 checked: what the pipeline does before converting), per layout.
* converter      ``convert_tile`` as the pipeline runs it (validate, stage,
                 direct MS write, atomic publish to the data root); default
                 durability "process" (rename atomicity; the kernel writes
                 the bytes back, started block by block). The seconds until
                 its bytes are on disk (a ``sync`` right after) are reported.
* converter/pwr  the same with durability "power" (fsync before the rename).
* floor          read every input byte, write as many bytes as the MS takes on
                 disk (MODEL_DATA is sparse), without and with fsync: the
                 least the hardware needs for each durability;
* baseline       the common approach: pyuvdata reads the 16 files, phases to
                 the same centre and calls ``write_ms`` (DATA only);
* baseline+cols  the same with ``write_ms(model_data=0, corrected_data=DATA)``:
                 like for like with the converter's columns.

    python bench/convert.py                 # simulate a full tile, run all
    python bench/convert.py --input DIR     # use an existing tile's files
Targets (2 cores, full tile in the correlator layout): <= 3x the best I/O
floor, <= 13 s (5x faster than the original pipeline's direct-subband writer,
~65 s on this machine), >= 4x faster than the pyuvdata baseline, peak RSS
<= 2 GB; the contiguous layout no slower than it was (~3.5 s).
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


#: The original pipeline's direct-subband writer on a full correlator-layout
#: tile, measured on this machine (issue 18: 64-73 s); its code is not ours
#: to run here, so the figure is the reference for the 5x target.
ORIGINAL_WRITER_S = 65.0


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _run_floor(input_dir: str, out_dir: str, n_bytes: int, mode: str = "buffered") -> dict:
    """Read the input, write ``n_bytes``: "buffered" (page cache), "fsync"
    (page cache, then fsync) or "direct" (O_DIRECT from an aligned buffer, then fsync)."""
    import mmap

    t = time.perf_counter()
    read = 0
    buffer = mmap.mmap(-1, 64 * 1024 * 1024)  # page-aligned, as O_DIRECT wants
    for path in sorted(Path(input_dir).glob("*.hdf5")):
        with open(path, "rb", buffering=0) as f:
            while (n := f.readinto(buffer)):
                read += n
    target = Path(out_dir) / "floor.bin"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if mode == "direct" else 0)
    fd = os.open(target, flags, 0o644)
    try:
        left = n_bytes - n_bytes % 4096
        while left > 0:
            left -= os.write(fd, memoryview(buffer)[: min(left, len(buffer))])
        if mode in ("fsync", "direct"):
            os.fsync(fd)
    finally:
        os.close(fd)
    wall = time.perf_counter() - t
    target.unlink()
    return {"wall_s": wall, "read_bytes": read, "written_bytes": n_bytes, "mode": mode,
            "peak_rss_gb": _peak_rss_gb()}


def _run_validation(input_dir: str) -> dict:
    from dsa110_resources.conversion import find_tiles, validate_tile

    t = time.perf_counter()
    (group,) = find_tiles(Path(input_dir))
    validate_tile(group.tile_id, list(group.files.values()))
    return {"wall_s": time.perf_counter() - t}


def _run_converter(input_dir: str, data_root: str, fast_root: str, model_data: str,
                   durability: str = "process", staging: str = "auto") -> dict:
    from dsa110_resources.conversion import ConversionOptions, convert_tile, find_tiles
    from dsa110_resources.stores import StorageTiers

    t = time.perf_counter()
    (group,) = find_tiles(Path(input_dir))
    tiers = StorageTiers(data_root=data_root, fast_root=fast_root)
    options = ConversionOptions(model_data=model_data, durability=durability, staging=staging)
    result = convert_tile(group, tiers, options=options, quarantine_mode="record")
    wall = time.perf_counter() - t
    os.sync()
    on_disk = time.perf_counter() - t
    return {"wall_s": wall, "on_disk_s": on_disk, "peak_rss_gb": _peak_rss_gb(),
            "ms_path": str(result.ms_path), "ms_bytes": result.size_bytes,
            "ms_disk_bytes": result.disk_bytes, "staged_in": str(result.staging_root),
            "timings": result.timings, "read_paths": result.read_paths,
            "ra_deg": result.phase_centre.ra.deg,
            "dec_deg": result.phase_centre.dec.deg}


def _run_baseline(input_dir: str, out_dir: str, ra_deg: float, dec_deg: float,
                  scratch_columns: bool = False) -> dict:
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
    extra = {}
    if scratch_columns:  # like for like: MODEL_DATA zeros, CORRECTED_DATA = DATA
        extra = {"model_data": np.zeros_like(uv.data_array), "corrected_data": uv.data_array}
    uv.write_ms(str(out), run_check=False, **extra)
    wall = time.perf_counter() - t
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    with_cols = False
    from casacore import tables as ct

    with ct.table(str(out), ack=False) as ms:
        with_cols = {"MODEL_DATA", "CORRECTED_DATA"} <= set(ms.colnames())
    shutil.rmtree(out)
    return {"wall_s": wall, "peak_rss_gb": _peak_rss_gb(), "ms_bytes": size,
            "scratch_columns": with_cols}


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


def rewrite_contiguous(source: Path, target: Path) -> Path:
    """The same files with contiguous 3-D datasets (pyuvdata's layout): data
    arrays read whole and written back without chunks or the spw axis."""
    import h5py

    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.hdf5")):
        with h5py.File(path) as src, h5py.File(target / path.name, "w") as dst:
            src.copy("Header", dst)
            data = dst.create_group("Data")
            for name in ("visdata", "flags", "nsamples"):
                values = src["Data"][name][()]
                data.create_dataset(name, data=values[:, 0] if values.ndim == 4 else values)
    return target


def warm_caches(input_dir: Path, data_root: Path, fast_root: str, model_data: str) -> None:
    """One untimed conversion first, so the timed ones are the pipeline's steady
    state from its second tile on: numba kernels compiled (numba's disk cache),
    the MS skeleton of this tile shape cached in tmpfs, astropy's IERS table
    parsed and cached (dsa110_resources.earth_orientation)."""
    in_child(_run_converter, str(input_dir), str(data_root), fast_root, model_data)
    shutil.rmtree(data_root, ignore_errors=True)


def settle(input_dir: Path) -> str:
    """Untimed, before each measurement: input in the page cache, writeback done."""
    buffer = bytearray(64 * 1024 * 1024)
    for path in sorted(Path(input_dir).glob("*.hdf5")):
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buffer):
                pass
    os.sync()
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, help="directory holding one tile's 16 files")
    parser.add_argument("--work", type=Path, default=None, help="scratch directory on the data disk")
    parser.add_argument("--fast-root", default="/dev/shm/dsa110-bench")
    parser.add_argument("--model-data", default="zero", choices=["zero", "absent"])
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-power", action="store_true", help="skip the durability='power' run")
    parser.add_argument("--skip-contiguous", action="store_true", help="measure the correlator layout only")
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
    layouts = {"correlator": Path(input_dir)}
    if not args.skip_contiguous:
        layouts["contiguous"] = rewrite_contiguous(Path(input_dir), work / "contiguous")
    data_root = work / "data"
    shutil.rmtree(data_root, ignore_errors=True)
    load, results = {}, {"input_bytes": input_bytes}
    for name, directory in layouts.items():
        warm_caches(directory, data_root, args.fast_root, args.model_data)
        load[f"validation_{name}"] = settle(directory)
        results[f"validation_{name}"] = in_child(_run_validation, str(directory))
        load[name] = settle(directory)
        results[name] = in_child(_run_converter, str(directory), str(data_root), args.fast_root,
                                 args.model_data)
        shutil.rmtree(data_root, ignore_errors=True)
    conv = results["correlator"]
    if not args.skip_power:
        load["correlator_power"] = settle(input_dir)
        results["correlator_power"] = in_child(_run_converter, str(input_dir), str(data_root),
                                               args.fast_root, args.model_data, "power")
        shutil.rmtree(data_root, ignore_errors=True)
    for mode in ("buffered", "fsync", "direct"):
        load[f"floor_{mode}"] = settle(input_dir)
        results[f"floor_{mode}"] = in_child(_run_floor, str(input_dir), str(work),
                                            conv["ms_disk_bytes"], mode)
    if not args.skip_baseline:
        load["baseline"] = settle(input_dir)
        results["baseline"] = in_child(_run_baseline, str(input_dir), str(work), conv["ra_deg"],
                                       conv["dec_deg"])
        load["baseline_cols"] = settle(input_dir)
        results["baseline_cols"] = in_child(_run_baseline, str(input_dir), str(work), conv["ra_deg"],
                                            conv["dec_deg"], True)
    shutil.rmtree(data_root, ignore_errors=True)

    gb = 1e9
    print(f"input: {input_bytes / gb:.2f} GB in {len(list(Path(input_dir).glob('*.hdf5')))} files; "
          f"1-min load before each run: " + ", ".join(f"{k} {v}" for k, v in load.items()))
    floors = {mode: results[f"floor_{mode}"]["wall_s"] for mode in ("buffered", "fsync", "direct")}
    best = min(floors.values())
    print(f"floor (read {input_bytes / gb:.2f} GB, write {conv['ms_disk_bytes'] / gb:.2f} GB): "
          + ", ".join(f"{mode} {v:.1f} s" for mode, v in floors.items()))
    for name in layouts:
        run = results[name]
        print(f"{name:11s} validation {results[f'validation_{name}']['wall_s']:.2f} s; converter "
              f"{run['wall_s']:6.1f} s wall (bytes on disk after {run['on_disk_s']:.1f} s), peak RSS "
              f"{run['peak_rss_gb']:.2f} GB, read paths {run['read_paths']}, converter / best floor = "
              f"{run['wall_s'] / best:.2f}")
        print("            " + ", ".join(f"{k} {v:.2f} s" for k, v in run["timings"].items()))
    print(f"MS {conv['ms_bytes'] / gb:.2f} GB apparent / {conv['ms_disk_bytes'] / gb:.2f} GB on disk "
          f"(model_data={args.model_data}, staged in {conv['staged_in']})")
    if "contiguous" in results:
        print(f"correlator / contiguous layout = {conv['wall_s'] / results['contiguous']['wall_s']:.2f}")
    if "correlator_power" in results:
        pw = results["correlator_power"]
        print(f"correlator (durability=power): {pw['wall_s']:6.1f} s wall, peak RSS {pw['peak_rss_gb']:.2f} GB")
    print(f"original direct-subband writer, measured on this machine on the same layout (issue 18): "
          f"~{ORIGINAL_WRITER_S:.0f} s; speed-up {ORIGINAL_WRITER_S / conv['wall_s']:.1f}x")
    ok = (conv["wall_s"] <= 3 * best and conv["wall_s"] <= ORIGINAL_WRITER_S / 5
          and conv["peak_rss_gb"] <= 2)
    for key, label in (("baseline", "pyuvdata read + phase + write_ms, DATA only"),
                       ("baseline_cols", "same + MODEL_DATA=0, CORRECTED_DATA=DATA")):
        if key in results:
            base = results[key]
            print(f"{key + ':':14s} {base['wall_s']:6.1f} s wall, peak RSS {base['peak_rss_gb']:.2f} GB, "
                  f"MS {base['ms_bytes'] / gb:.2f} GB ({label}); speed-up "
                  f"{base['wall_s'] / conv['wall_s']:.1f}x")
            ok = ok and base["wall_s"] >= 4 * conv["wall_s"]
    print("targets (<=3x floor, <=13 s, >=4x vs each baseline, <=2 GB):", "met" if ok else "NOT met")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
