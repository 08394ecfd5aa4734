"""Tile -> Measurement Set: validate, stage, write, publish, record.

``build_ms`` is the science: validated subband files in, one MS at a given
path out (streamed in blocks of rows: HDF5 slabs, rotated to the mid-time
meridian by a numba kernel, written as the raw bytes of the MS's tiled data
files; casacore writes the table structure and the small columns).
``convert_tile`` wraps it for the pipeline: stage (tmpfs when it has room,
SSD otherwise; on the product's filesystem when publishing from tmpfs would
be a full copy, see ``choose_staging``), publish with an atomic rename into
``ms/{science,calibrators}/YYYY-MM-DD/<tile>.ms``, record the MS in the
products database, and quarantine the tile when a file is bad. A process
killed at any point leaves no MS at the final path; its staging litter
carries its PID and is swept by the next run. Power-cut durability is a
separate choice (``ConversionOptions.durability``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time

from .. import constants
from ..pause_points import pause_point
from ..stores import DiskFull, StorageTiers, is_disk_full, layout
from . import kernels, ms_writer, phasing
from .arrival import FileNotReady, not_yet_readable
from .grouping import SubbandPath, TileGroup
from .ms_writer import MSMetadata, jd_to_ms_time
from .quarantine import TileQuarantined, quarantine_tile
from .uvh5_reader import InvalidSubbandFile, SubbandSlabReader
from .validation import InconsistentTile, ValidatedTile, ValidationLimits, validate_tile

DEFAULT_FAST_ROOT = Path("/dev/shm/dsa110")
#: Rows per streamed block: whole 1024-row data tiles, ~50 MB of DATA.
BLOCK_ROWS = 4096


@dataclass(frozen=True)
class ConversionOptions:
    """How a tile becomes an MS (defaults are the pipeline's)."""

    model_data: str = "zero"  # "zero": MODEL_DATA=0, CORRECTED_DATA=DATA; "absent": DATA only
    weight_spectrum: bool = False  # also write nsamples per channel as WEIGHT_SPECTRUM
    limits: ValidationLimits = field(default_factory=ValidationLimits)
    location: EarthLocation | None = None  # array reference; default: the files' own
    #: Where to stage: "auto" (the tier policy, except that when the policy's
    #: tier is on another filesystem than the product and the stage tier is on
    #: the product's, stage there: publish is then a rename instead of a full
    #: copy, the copy being the largest single cost of a tmpfs-staged MS),
    #: "fast" (the tier policy as is: tmpfs when it has room), "stage" (the
    #: stage tier).
    staging: str = "auto"
    #: "process": a killed process never leaves a visible MS (atomic rename);
    #: the bytes reach the disk by normal kernel writeback, started as each
    #: block is written, within seconds of the publish. "power": also survive
    #: a power cut: fsync every file and directory before the rename.
    durability: str = "process"
    #: Write the MS data blocks with O_DIRECT where possible (no page cache:
    #: far less CPU on a loaded box, and the bytes are on the device when the
    #: write returns); otherwise buffered, with writeback started per block.
    direct_io: bool = True
    writeback: bool = True


@dataclass
class ConversionResult:
    """What was written, with the figures the products DB and QA want."""

    tile_id: str
    ms_path: Path
    n_rows: int
    n_channels: int
    subbands: list[int]
    missing_subbands: list[int]
    mid_time: Time
    phase_centre: SkyCoord
    declination: u.Quantity
    flagged_fraction: float
    nonfinite_visibilities: int = 0  # NaN/Inf in the files: written as 0, flagged
    size_bytes: int = 0  # apparent (MODEL_DATA is a sparse file until written)
    disk_bytes: int = 0  # allocated on disk
    input_bytes: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    staging_root: Path | None = None
    #: How the files' data arrays were read: path -> datasets read that way
    #: ("chunks", "contiguous", "hdf5"; see SubbandSlabReader).
    read_paths: dict[str, int] = field(default_factory=dict)


def estimate_ms_bytes(n_rows: int, options: ConversionOptions = ConversionOptions()) -> int:
    """Bytes the MS will take (used to pick tmpfs or SSD staging)."""
    cells = n_rows * constants.N_CHANNELS * len(constants.POLARIZATIONS)
    # DATA, and CORRECTED_DATA unless "absent"; MODEL_DATA is a sparse file
    # (no blocks until calibration writes a model into it).
    per_cell = 8 * (1 if options.model_data == "absent" else 2) + 1 / 8
    if options.weight_spectrum:
        per_cell += 4
    return int(cells * per_cell * 1.05 + n_rows * 64 + 16e6)


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _geometry(tile: ValidatedTile, options: ConversionOptions):
    """Phase centre, MS-convention UVW and antennas, per-row rotation inputs."""
    ref = tile.reference
    n_rows = ref.n_blts
    location = options.location or EarthLocation.from_geodetic(
        lon=ref.site_lon_deg * u.deg, lat=ref.site_lat_deg * u.deg, height=ref.site_alt_m * u.m)
    lookup = np.full(int(ref.antenna_numbers.max()) + 1, -1, dtype=np.int64)
    lookup[ref.antenna_numbers] = np.arange(ref.antenna_numbers.size)
    ant1 = lookup[ref.ant1].astype(np.int32)
    ant2 = lookup[ref.ant2].astype(np.int32)
    if (ant1 < 0).any() or (ant2 < 0).any():
        raise InconsistentTile(tile.tile_id, "baselines name antennas missing from antenna_numbers")
    unique_jd = np.unique(ref.time_jd)
    mid_time = Time(0.5 * (unique_jd[0] + unique_jd[-1]), format="jd", scale="utc")
    declination = np.rad2deg(ref.declination_rad) * u.deg
    centre = phasing.meridian_centre(mid_time, declination, location)
    uvw = phasing.baseline_uvw(centre, ref.time_jd, ant1, ant2, location, ref.antenna_positions_m)
    delta_w = np.ascontiguousarray(uvw[:, 2] - ref.uvw_m[:, 2])
    # MS convention: baseline = antenna 1 minus antenna 2 w.r.t. pyuvdata, so
    # UVW is negated and DATA conjugated. Rows stored with ant1 > ant2 are
    # swapped to the ant1 <= ant2 CASA expects: UVW back, DATA not conjugated.
    uvw_ms = -uvw
    swap = ant1 > ant2
    conj_row = ~swap
    if swap.any():
        ant1[swap], ant2[swap] = ant2[swap].copy(), ant1[swap].copy()
        uvw_ms[swap] *= -1
    assert n_rows == uvw_ms.shape[0]
    return location, mid_time, declination, centre, ant1, ant2, uvw_ms, delta_w, conj_row


def build_ms(tile: ValidatedTile, ms_path: Path,
             options: ConversionOptions = ConversionOptions(), *,
             template_root: Path | None = None) -> ConversionResult:
    """Write the MS of a validated tile at ``ms_path`` (which must not exist).

    Streams the tile in blocks of rows: the 16 files' slabs are read
    (main thread; ``os.preadv`` straight out of the page cache, of whole
    chunks in the correlator's layout, GIL released; see SubbandSlabReader), rotated/conjugated/reversed by the numba
    kernel into an MS row block (two worker threads, GIL released) and written as
    raw bytes to the MS's data files (writer thread, O_DIRECT where possible,
    GIL released), a few blocks in flight. Buffers are reused from block to
    block: on the 2-core VM fresh memory is expensive (faulting in a 2.2 GB
    whole-tile input took longer than the whole conversion).
    ``template_root``: where casacore's part of the MS (table structure,
    per tile shape) is cached and copied from (see ``DirectMSWriter``).
    Raises InvalidSubbandFile if a file's data cannot be read.
    """
    import threading
    from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ref = tile.reference
    n_rows, n_chan, n_pol = ref.n_blts, constants.N_CHANNELS, ref.n_pols
    per_sb = constants.CHANNELS_PER_SUBBAND
    freqs_desc = constants.band_frequencies().to_value(u.Hz)[::-1].copy()
    present = np.zeros(n_chan, dtype=np.bool_)  # descending (file) order
    for header in tile.headers:
        start = header.subband * per_sb
        freqs_desc[start:start + per_sb] = header.freqs_hz
        present[start:start + per_sb] = True
    (location, mid_time, declination, centre, ant1, ant2, uvw_ms, delta_w,
     conj_row) = _geometry(tile, options)
    timings["geometry"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    writer = ms_writer.DirectMSWriter(ms_path, n_rows, n_chan, n_pol,
                                      scratch_columns=options.model_data == "zero",
                                      weight_spectrum=options.weight_spectrum,
                                      writeback=options.writeback, direct=options.direct_io,
                                      template_root=template_root)
    timings["create"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    block = min(BLOCK_ROWS, n_rows)
    n_present = int(present.sum())
    weight = np.empty((n_rows, n_pol), dtype=np.float32)
    flag_row = np.empty(n_rows, dtype=np.bool_)
    flag_bytes = n_chan * n_pol // 8
    sb_bytes = per_sb * n_pol // 8
    missing = [sb for sb in range(constants.N_SUBBANDS) if sb not in tile.subbands]
    n_out = 4
    aligned = ms_writer.aligned_empty  # page-aligned blocks can be written with O_DIRECT
    outs = [dict(vis=aligned((block, n_chan, n_pol), np.complex64),
                 bits=aligned((block, flag_bytes), np.uint8),
                 weight=np.empty((block, n_pol), np.float64),
                 spectrum=aligned((block if options.weight_spectrum else 0, n_chan, n_pol), np.float32))
            for _ in range(n_out)]
    n_in = 3  # blocks of input (16 slabs each) in flight
    ins = [[(np.empty((block, per_sb, n_pol), np.complex64), np.empty((block, per_sb, n_pol), np.bool_),
             np.empty((block, per_sb, n_pol), np.float32)) for _ in tile.headers] for _ in range(n_in)]
    readers = [SubbandSlabReader(h) for h in tile.headers]
    read_paths = dict(Counter(kind for reader in readers for kind in reader.paths.values()))
    stage = {"read": 0.0, "kernel": 0.0, "write": 0.0}
    starts = list(range(0, n_rows, block))
    written = [Future() for _ in starts]
    flagged = [0] * len(starts)
    nonfinite = [0] * len(starts)
    lock = threading.Lock()

    def process_block(b: int, slabs) -> Future:
        """The 16 kernels of one block, its row reductions, then its write (queued)."""
        r0 = starts[b]
        rows = min(block, n_rows - r0)
        if b >= n_out:
            written[b - n_out].result()  # its output buffers are free again
        t = time.perf_counter()
        out = outs[b % n_out]
        out["weight"][:rows] = 0.0
        for sb in missing:  # zero and flagged, ascending position
            c0 = n_chan - (sb + 1) * per_sb
            out["vis"][:rows, c0:c0 + per_sb] = 0
            out["bits"][:rows, c0 * n_pol // 8:c0 * n_pol // 8 + sb_bytes] = 255
            if options.weight_spectrum:
                out["spectrum"][:rows, c0:c0 + per_sb] = 0
        for header, (vis_in, flags_in, ns_in) in zip(tile.headers, slabs):
            start = header.subband * per_sb
            nonfinite[b] += kernels.subband_into_block(vis_in[:rows], flags_in[:rows], ns_in[:rows],
                                       delta_w[r0:r0 + rows], conj_row[r0:r0 + rows],
                                       freqs_desc[start:start + per_sb], out["vis"][:rows],
                                       n_chan - start - per_sb, out["bits"][:rows],
                                       out["weight"][:rows], out["spectrum"][:rows])
        bits = out["bits"][:rows]
        kernels.finish_rows(bits, out["weight"][:rows], n_present, flag_row[r0:r0 + rows])
        weight[r0:r0 + rows] = out["weight"][:rows]
        flagged[b] = int(np.bitwise_count(bits).sum(dtype=np.int64))
        with lock:
            stage["kernel"] += time.perf_counter() - t
        return write_pool.submit(write_block, b, rows, r0, out)

    def write_block(b: int, rows: int, r0: int, out: dict) -> None:
        t = time.perf_counter()
        try:
            writer.write_rows(r0, out["vis"][:rows], out["bits"][:rows],
                              out["spectrum"][:rows] if options.weight_spectrum else None)
            written[b].set_result(None)
        except BaseException as exc:
            written[b].set_exception(exc)
            raise
        finally:
            with lock:
                stage["write"] += time.perf_counter() - t

    # Two kernel threads (numba, GIL released) on alternate blocks; blocks
    # write disjoint rows and output buffers, so they need no other ordering.
    kernel_pool, write_pool = ThreadPoolExecutor(2), ThreadPoolExecutor(1)
    in_use: list = [None] * n_in
    futures = []
    try:
        with kernel_pool, write_pool:
            try:
                for b, r0 in enumerate(starts):
                    rows = min(block, n_rows - r0)
                    slot = b % n_in
                    if in_use[slot] is not None:
                        in_use[slot].result()  # its kernels are done with these slabs
                    t = time.perf_counter()
                    for reader, arrays in zip(readers, ins[slot]):
                        reader.read(r0, r0 + rows, *arrays)
                    stage["read"] += time.perf_counter() - t
                    in_use[slot] = kernel_pool.submit(process_block, b, ins[slot])
                    futures.append(in_use[slot])
                for future in futures:
                    future.result().result()
            except BaseException:
                for future in futures:
                    future.cancel()
                for w in written:  # unblock kernels waiting for an output slot
                    try:
                        w.set_exception(RuntimeError("conversion aborted"))
                    except InvalidStateError:
                        pass
                raise
    finally:
        for reader in readers:
            reader.close()
        writer.close_files()
    timings["stream"] = time.perf_counter() - t2
    timings.update({f"stream_{k}": v for k, v in stage.items()})

    t3 = time.perf_counter()
    site = location.itrs.cartesian.xyz.to_value(u.m)
    times = jd_to_ms_time(ref.time_jd)
    meta = MSMetadata(
        antenna_names=list(ref.antenna_names),
        antenna_positions_itrf=ref.antenna_positions_m + site,
        chan_freqs_hz=freqs_desc[::-1].copy(),
        chan_width_hz=constants.CHANNEL_WIDTH.to_value(u.Hz),
        field_name=tile.tile_id,
        field_ra_rad=centre.ra.rad,
        field_dec_rad=centre.dec.rad,
        field_time_mjd_s=float(jd_to_ms_time(mid_time.jd)),
        time_range_mjd_s=(float(times.min() - ref.integration_time_s[0] / 2),
                          float(times.max() + ref.integration_time_s[0] / 2)),
        history=[f"dsa110 conversion of tile {tile.tile_id}: subbands {tile.subbands}, "
                 f"phased to the meridian at {mid_time.isot} (J2000 {centre.to_string('hmsdms')})"],
        array_position_itrf=site,
    )
    small = ms_writer.SmallColumns(time_mjd_s=times, interval_s=ref.integration_time_s,
                                   antenna1=ant1, antenna2=ant2, uvw_m=uvw_ms)
    writer.finish(small, weight, flag_row, meta, keywords={ms_writer.ZEROS_FLAGGED: True})
    timings["finish"] = time.perf_counter() - t3
    timings["total"] = time.perf_counter() - t0
    return ConversionResult(
        tile_id=tile.tile_id, ms_path=Path(ms_path), n_rows=n_rows, n_channels=n_chan,
        subbands=tile.subbands, missing_subbands=missing,
        mid_time=mid_time, phase_centre=centre, declination=declination,
        flagged_fraction=sum(flagged) / (n_rows * n_chan * n_pol),
        nonfinite_visibilities=sum(nonfinite),
        input_bytes=sum(h.path.stat().st_size for h in tile.headers), timings=timings,
        read_paths=read_paths,
    )


def _as_refs(files: TileGroup | Sequence[SubbandPath]) -> tuple[str | None, list[SubbandPath]]:
    if isinstance(files, TileGroup):
        return files.tile_id, list(files.files.values())
    return None, list(files)


def is_measurement_set(path: Path) -> bool:
    """A casacore table directory whose type is Measurement Set."""
    try:
        first = (Path(path) / "table.info").read_text(errors="replace").splitlines()[:1]
    except OSError:
        return False
    return first == ["Type = Measurement Set"] and (Path(path) / "table.dat").is_file()


def check_output(output: Path, *, overwrite: bool) -> None:
    """Refuse an output path that holds anything but an MS we may replace.

    Publishing swaps the new MS in and deletes what was there: pointed at
    the incoming directory, that was the raw files.
    """
    output = Path(output)
    if not (output.exists() or output.is_symlink()):
        return
    if output.is_symlink() or not is_measurement_set(output):
        raise FileExistsError(f"{output} exists and is not a Measurement Set: refusing to replace it "
                              "(give a new path, or a .ms path to create)")
    if not overwrite:
        raise FileExistsError(f"{output} is an existing Measurement Set: replace it with --overwrite")


def convert_to_path(files: TileGroup | Sequence[SubbandPath], output: Path, *,
                    tile_id: str | None = None, options: ConversionOptions = ConversionOptions(),
                    fast_root: Path | None = DEFAULT_FAST_ROOT, fast_margin: float = 0.25,
                    overwrite: bool = True) -> ConversionResult:
    """Validate and convert a tile to an MS at ``output``, atomically.

    Staged in tmpfs when it has room (SSD next to ``output`` otherwise) and
    renamed into place, replacing an older MS there if ``overwrite``; anything
    else at ``output`` raises FileExistsError (see ``check_output``).
    Validation errors (InvalidSubbandFile, InconsistentTile) propagate;
    nothing is written then.
    """
    group_id, refs = _as_refs(files)
    tile_id = tile_id or group_id or min(refs, key=lambda r: r.timestamp).timestamp.strftime(
        constants.SUBBAND_TIMESTAMP_FORMAT)
    output = Path(output).expanduser().absolute()
    check_output(output, overwrite=overwrite)
    output = output.resolve()
    tiers = StorageTiers(data_root=output.parent, fast_root=fast_root,
                         stage_root=output.parent, fast_margin=fast_margin)
    return _stage_write_publish(tiers, validate_tile(tile_id, refs, options.limits),
                                output.name, options)


def _device(path: Path) -> int:
    path = Path(path)
    while not path.exists():
        path = path.parent
    return path.stat().st_dev


def choose_staging(tiers: StorageTiers, final: Path, need_bytes: int,
                   options: ConversionOptions = ConversionOptions()) -> StorageTiers:
    """The tiers to stage this MS with (see ``ConversionOptions.staging``).

    Measured on the 2-core box (full tile, 2.7 GB of dense MS): staged in
    tmpfs, publishing to the disk is a copy of every byte plus its sync
    (16 s of a 27 s conversion); staged on the product's filesystem it is a
    rename (milliseconds) and the bytes go to the disk once, by writeback
    that overlaps the conversion. tmpfs still wins where the product
    filesystem is slow for many small writes, so it stays the policy
    whenever publishing from it is a rename too (e.g. tmpfs-backed tests).
    """
    if options.staging not in ("auto", "fast", "stage"):
        raise ValueError(f"staging must be 'auto', 'fast' or 'stage', got {options.staging!r}")
    on_stage = dataclasses.replace(tiers, fast_root=None)
    if options.staging == "fast":
        return tiers
    if options.staging == "stage":
        return on_stage
    final_dev = _device(final)
    if _device(tiers.staging_root_for(need_bytes)) == final_dev:
        return tiers
    if _device(tiers.stage_root) == final_dev:
        return on_stage
    return tiers


def _fsync_tree(path: Path) -> None:
    """fsync every file and directory under ``path`` (and ``path``)."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _allocated_bytes(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in Path(path).rglob("*") if p.is_file())


def _stage_write_publish(tiers: StorageTiers, tile: ValidatedTile, final: os.PathLike | str,
                         options: ConversionOptions) -> ConversionResult:
    if options.durability not in ("process", "power"):
        raise ValueError(f"durability must be 'process' or 'power', got {options.durability!r}")
    need = estimate_ms_bytes(tile.reference.n_blts, options)
    final_path = tiers.product_path(final)
    use = choose_staging(tiers, final_path, need, options)
    tiers.sweep()  # every tier, whichever ``use`` stages on: a killed writer's litter goes
    with use.staging(f"{tile.tile_id}.ms", need_bytes=need) as stage:
        # MS skeletons (casacore's part, per tile shape) are cached in tmpfs.
        templates = None if tiers.fast_root is None else tiers.fast_root / ".ms-templates"
        try:
            result = build_ms(tile, stage / f"{tile.tile_id}.ms", options, template_root=templates)
        except OSError as exc:
            if is_disk_full(exc) and not isinstance(exc, DiskFull):
                raise DiskFull(stage / f"{tile.tile_id}.ms", "staging", need) from exc
            raise
        t = time.perf_counter()
        result.size_bytes = _dir_bytes(result.ms_path)
        result.disk_bytes = _allocated_bytes(result.ms_path)
        result.staging_root = stage.parent
        if options.durability == "power":
            _fsync_tree(result.ms_path)
            result.timings["sync"] = time.perf_counter() - t
        pause_point("convert:staged")
        result.ms_path = use.publish(result.ms_path, final)
        if options.durability == "power":
            fd = os.open(result.ms_path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        result.timings["publish"] = time.perf_counter() - t - result.timings.get("sync", 0.0)
        result.timings["total"] += time.perf_counter() - t
    return result


def convert_tile(group: TileGroup, tiers: StorageTiers, *, kind: str = "science",
                 db=None, options: ConversionOptions = ConversionOptions(),
                 quarantine_mode: str = "move", settle: u.Quantity | None = None) -> ConversionResult:
    """The pipeline's step: one tile group to ``ms/<kind>/YYYY-MM-DD/<tile>.ms``.

    A bad file (unreadable, wrong shapes/frequencies, inconsistent with the
    others) quarantines the tile, marks it in ``db`` (a ProductsDB, optional)
    and raises TileQuarantined; the caller goes on with the next tile. With
    ``settle``, a file that may still be arriving (locked by its writer, or
    changed within ``settle``) raises FileNotReady instead, nothing moved.
    """
    final = layout.ms_path(group.tile_id, kind)
    try:
        tile = validate_tile(group.tile_id, list(group.files.values()), options.limits)
        result = _stage_write_publish(tiers, tile, final, options)
    except (InvalidSubbandFile, InconsistentTile) as exc:
        reason = str(exc)
        bad = getattr(exc, "path", None)
        why = None if settle is None else not_yet_readable(exc, settle, group.paths)
        if why is not None:
            raise FileNotReady(group.tile_id, why) from exc
        directory = quarantine_tile(tiers, group.tile_id, group.paths + [d.path for d in group.duplicates],
                                    reason, mode=quarantine_mode)
        if db is not None:
            from . import registry  # the DB layer (SQLAlchemy) only when recording

            registry.record_quarantine(db, group, reason, bad_path=bad)
        raise TileQuarantined(group.tile_id, reason, directory) from exc
    if db is not None:
        from . import registry

        registry.record_conversion(db, group, result, kind=kind, tiers=tiers)
    return result


def convert_ready_tiles(groups: Sequence[TileGroup], tiers: StorageTiers, *, db=None,
                        now: dt.datetime | None = None, wait: u.Quantity | None = None,
                        kind: str = "science", options: ConversionOptions = ConversionOptions(),
                        skip: set[str] = frozenset()) -> dict[str, ConversionResult | Exception]:
    """Convert every complete or semi-complete tile; one bad tile stops nothing."""
    from .grouping import DEFAULT_INCOMPLETE_WAIT, TileState

    outcomes: dict[str, ConversionResult | Exception] = {}
    for group in groups:
        if group.tile_id in skip:
            continue
        state = group.state(now, wait if wait is not None else DEFAULT_INCOMPLETE_WAIT)
        if state not in (TileState.COMPLETE, TileState.SEMI_COMPLETE):
            continue
        try:
            outcomes[group.tile_id] = convert_tile(group, tiers, kind=kind, db=db, options=options)
        except TileQuarantined as exc:
            outcomes[group.tile_id] = exc
    return outcomes
