"""Write a Measurement Set directly: casacore for the structure, raw bytes for the data.

No CASA import, no per-subband parts to concat: python-casacore creates the
table with its final row count (tiled storage managers for the big columns)
and puts the per-row columns and subtables; the visibility-sized columns
(DATA, CORRECTED_DATA, FLAG, WEIGHT_SPECTRUM) are written by
``DirectMSWriter`` as the bytes of their tiled data files, block by block,
and MODEL_DATA is a sparse file of zeros. The subtables carry what CASA and WSClean
need: ANTENNA (all stations, ITRF positions, dish diameter, mount), FEED
(X/Y receptors), SPECTRAL_WINDOW (ascending channels, positive widths),
POLARIZATION (XX, YY), FIELD (one J2000 phase centre), OBSERVATION
(TELESCOPE_NAME), DATA_DESCRIPTION, PROCESSOR and HISTORY.

Conventions (see shared/DESIGN.md): TIME is MJD seconds (seconds since
MJD 0) at the integration centre; UVW and DATA are already in MS convention
when they reach this module (the converter negated / conjugated them).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import shutil
import stat
import sys
import time as _time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from casacore import tables as ct

from .. import constants
from ..stores.tiers import STAGING_PREFIX, clean_stale, remove_path, staging_token

log = logging.getLogger(__name__)

#: Rows per putcol call: ~100 MB of DATA at 768 channels x 2 pols.
ROW_CHUNK = 8192
#: Tile shape (pol, chan, row) of the data columns: whole spectra, 1024 rows
#: (12.6 MB buckets: casacore writes and zero-fills these ~2x faster than
#: small tiles, and continuum steps read whole spectra anyway).
DATA_TILE = [2, constants.N_CHANNELS, 1024]
#: casacore Stokes codes for XX and YY.
CORR_TYPES = (9, 12)
SECONDS_PER_DAY = 86400.0
MJD_JD_OFFSET = 2400000.5
UNIX_EPOCH_MJD_S = 40587 * SECONDS_PER_DAY  # 1970-01-01 in MS TIME


def jd_to_ms_time(jd: np.ndarray) -> np.ndarray:
    """JD (UVH5) to MS TIME: seconds since MJD 0."""
    return (np.asarray(jd, dtype=np.float64) - MJD_JD_OFFSET) * SECONDS_PER_DAY


@dataclass
class MSMetadata:
    """Everything besides the main-table arrays that the MS records."""

    antenna_names: list[str]
    antenna_positions_itrf: np.ndarray  # (Nant, 3) absolute ITRF metres
    chan_freqs_hz: np.ndarray  # ascending
    chan_width_hz: float  # positive
    field_name: str
    field_ra_rad: float  # J2000/ICRS
    field_dec_rad: float
    field_time_mjd_s: float
    time_range_mjd_s: tuple[float, float]
    telescope_name: str = constants.TELESCOPE_NAME
    dish_diameter_m: float = constants.DISH_DIAMETER.to_value("m")
    mount: str = constants.MOUNT
    observer: str = "DSA-110"
    project: str = "dsa110-contimg"
    history: list[str] = field(default_factory=list)
    array_position_itrf: np.ndarray | None = None  # (3,) array reference


@dataclass
class MainColumns:
    """Main-table arrays, rows time-major, already in MS convention."""

    time_mjd_s: np.ndarray  # (Nrows,)
    interval_s: np.ndarray  # (Nrows,)
    antenna1: np.ndarray  # (Nrows,) ANTENNA row indices
    antenna2: np.ndarray
    uvw_m: np.ndarray  # (Nrows, 3)
    data: np.ndarray  # (Nrows, Nchan, Npol) complex64
    flag: np.ndarray  # (Nrows, Nchan, Npol) bool
    weight: np.ndarray  # (Nrows, Npol) float32
    flag_row: np.ndarray  # (Nrows,) bool
    weight_spectrum: np.ndarray | None = None  # (Nrows, Nchan, Npol) float32, optional


def _array_column(name: str, value, shape: list[int], group: str, comment: str) -> dict:
    # FixedShape (4) lets TiledColumnStMan store one hypercube for the whole column.
    return ct.makearrcoldesc(name, value, ndim=len(shape), shape=shape, options=4,
                             datamanagertype="TiledColumnStMan", datamanagergroup=group,
                             comment=comment)


def _main_description(n_chan: int, n_pol: int, weight_spectrum: bool,
                      scratch_columns: bool = True) -> tuple[dict, dict]:
    shape = [n_chan, n_pol]
    columns = [_array_column("DATA", 0j, shape, "TiledData", "The data column")]
    if scratch_columns:
        columns += [
            _array_column("MODEL_DATA", 0j, shape, "TiledModel", "The model data column"),
            _array_column("CORRECTED_DATA", 0j, shape, "TiledCorrected", "The corrected data column"),
        ]
    columns += [
        _array_column("FLAG", False, shape, "TiledFlag", "The data flags"),
        _array_column("UVW", 0.0, [3], "TiledUVW", "Vector with uvw coordinates (in meters)"),
        ct.makearrcoldesc("WEIGHT", 0.0, ndim=1, shape=[n_pol], options=4, valuetype="float",
                          datamanagertype="TiledColumnStMan", datamanagergroup="TiledWeight"),
        ct.makearrcoldesc("SIGMA", 0.0, ndim=1, shape=[n_pol], options=4, valuetype="float",
                          datamanagertype="TiledColumnStMan", datamanagergroup="TiledSigma"),
    ]
    if weight_spectrum:
        columns.append(ct.makearrcoldesc(
            "WEIGHT_SPECTRUM", 0.0, ndim=2, shape=shape, options=4, valuetype="float",
            datamanagertype="TiledColumnStMan", datamanagergroup="TiledWeightSpectrum"))
    for col in columns:
        if col["name"] in ("DATA", "MODEL_DATA", "CORRECTED_DATA"):
            col["desc"]["valueType"] = "complex"
    desc = ct.maketabdesc(columns)
    desc["UVW"]["keywords"] = {
        "QuantumUnits": np.array(["m", "m", "m"]),
        "MEASINFO": {"type": "uvw", "Ref": "ITRF"},
    }
    tiles = {
        "TiledData": DATA_TILE, "TiledModel": DATA_TILE, "TiledCorrected": DATA_TILE,
        "TiledFlag": [n_pol, n_chan, 256], "TiledUVW": [3, 4096],
        "TiledWeight": [n_pol, 4096], "TiledSigma": [n_pol, 4096],
        "TiledWeightSpectrum": DATA_TILE,
    }
    dminfo = {}
    for i, col in enumerate(columns):
        group = col["desc"]["dataManagerGroup"]
        dminfo[f"*{i + 1}"] = {
            "TYPE": "TiledColumnStMan", "NAME": group, "COLUMNS": [col["name"]],
            "SPEC": {"DEFAULTTILESHAPE": np.array(tiles[group], dtype=np.int32),
                     "MAXIMUMCACHESIZE": 64 * 1024 * 1024},
        }
    # Constant-ish scalars compress to almost nothing in IncrementalStMan.
    incremental = ["ARRAY_ID", "EXPOSURE", "FEED1", "FEED2", "FIELD_ID", "INTERVAL",
                   "OBSERVATION_ID", "PROCESSOR_ID", "SCAN_NUMBER", "STATE_ID", "TIME",
                   "TIME_CENTROID", "DATA_DESC_ID"]
    dminfo[f"*{len(columns) + 1}"] = {"TYPE": "IncrementalStMan", "NAME": "ISMData",
                                      "COLUMNS": incremental, "SPEC": {"BUCKETSIZE": 32768}}
    return desc, dminfo


def _put_chunked(table, name: str, array: np.ndarray, chunk: int = ROW_CHUNK) -> None:
    n = array.shape[0]
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        table.putcol(name, array[start:stop], startrow=start, nrow=stop - start)


def _write_subtables(ms_path: Path, meta: MSMetadata, n_pol: int) -> None:
    n_ant = len(meta.antenna_names)
    with ct.table(f"{ms_path}/ANTENNA", readonly=False, ack=False) as t:
        t.addrows(n_ant)
        t.putcol("NAME", meta.antenna_names)
        t.putcol("STATION", meta.antenna_names)
        t.putcol("TYPE", ["GROUND-BASED"] * n_ant)
        t.putcol("MOUNT", [meta.mount.upper()] * n_ant)
        t.putcol("POSITION", np.asarray(meta.antenna_positions_itrf, dtype=np.float64))
        t.putcol("OFFSET", np.zeros((n_ant, 3)))
        t.putcol("DISH_DIAMETER", np.full(n_ant, meta.dish_diameter_m))
        t.putcol("FLAG_ROW", np.zeros(n_ant, dtype=bool))

    with ct.table(f"{ms_path}/FEED", readonly=False, ack=False) as t:
        t.addrows(n_ant)
        t.putcol("ANTENNA_ID", np.arange(n_ant, dtype=np.int32))
        t.putcol("FEED_ID", np.zeros(n_ant, dtype=np.int32))
        t.putcol("SPECTRAL_WINDOW_ID", np.full(n_ant, -1, dtype=np.int32))
        t.putcol("TIME", np.full(n_ant, meta.field_time_mjd_s))
        t.putcol("INTERVAL", np.zeros(n_ant))
        t.putcol("NUM_RECEPTORS", np.full(n_ant, 2, dtype=np.int32))
        t.putcol("BEAM_ID", np.full(n_ant, -1, dtype=np.int32))
        t.putcol("BEAM_OFFSET", np.zeros((n_ant, 2, 2)))
        t.putcol("POLARIZATION_TYPE", np.array([["X", "Y"]] * n_ant))
        t.putcol("POL_RESPONSE", np.tile(np.eye(2, dtype=np.complex64), (n_ant, 1, 1)))
        t.putcol("POSITION", np.zeros((n_ant, 3)))
        t.putcol("RECEPTOR_ANGLE", np.tile([0.0, np.pi / 2], (n_ant, 1)))

    freqs = np.asarray(meta.chan_freqs_hz, dtype=np.float64)
    n_chan = freqs.size
    width = np.full(n_chan, abs(meta.chan_width_hz))
    with ct.table(f"{ms_path}/SPECTRAL_WINDOW", readonly=False, ack=False) as t:
        t.addrows(1)
        t.putcell("NAME", 0, "DSA-110 band")
        t.putcell("NUM_CHAN", 0, n_chan)
        t.putcell("CHAN_FREQ", 0, freqs)
        t.putcell("CHAN_WIDTH", 0, width)
        t.putcell("EFFECTIVE_BW", 0, width)
        t.putcell("RESOLUTION", 0, width)
        t.putcell("REF_FREQUENCY", 0, float(freqs[0]))
        t.putcell("TOTAL_BANDWIDTH", 0, float(width.sum()))
        t.putcell("MEAS_FREQ_REF", 0, 5)  # TOPO
        t.putcell("NET_SIDEBAND", 0, 1)
        t.putcell("FREQ_GROUP", 0, 0)
        t.putcell("FREQ_GROUP_NAME", 0, "")
        t.putcell("IF_CONV_CHAIN", 0, 0)
        t.putcell("FLAG_ROW", 0, False)

    with ct.table(f"{ms_path}/POLARIZATION", readonly=False, ack=False) as t:
        t.addrows(1)
        t.putcell("NUM_CORR", 0, n_pol)
        t.putcell("CORR_TYPE", 0, np.array(CORR_TYPES[:n_pol], dtype=np.int32))
        t.putcell("CORR_PRODUCT", 0, np.array([[0, 0], [1, 1]][:n_pol], dtype=np.int32))
        t.putcell("FLAG_ROW", 0, False)

    with ct.table(f"{ms_path}/DATA_DESCRIPTION", readonly=False, ack=False) as t:
        t.addrows(1)
        t.putcell("SPECTRAL_WINDOW_ID", 0, 0)
        t.putcell("POLARIZATION_ID", 0, 0)
        t.putcell("FLAG_ROW", 0, False)

    direction = np.array([[[meta.field_ra_rad, meta.field_dec_rad]]])
    with ct.table(f"{ms_path}/FIELD", readonly=False, ack=False) as t:
        t.addrows(1)
        t.putcell("NAME", 0, meta.field_name)
        t.putcell("CODE", 0, "")
        t.putcell("TIME", 0, meta.field_time_mjd_s)
        t.putcell("NUM_POLY", 0, 0)
        for col in ("DELAY_DIR", "PHASE_DIR", "REFERENCE_DIR"):
            t.putcell(col, 0, direction[0])
            keywords = t.getcolkeywords(col)
            keywords.setdefault("MEASINFO", {})["Ref"] = "J2000"
            keywords["MEASINFO"]["type"] = "direction"
            t.putcolkeywords(col, keywords)
        t.putcell("SOURCE_ID", 0, -1)
        t.putcell("FLAG_ROW", 0, False)

    with ct.table(f"{ms_path}/OBSERVATION", readonly=False, ack=False) as t:
        t.addrows(1)
        t.putcell("TELESCOPE_NAME", 0, meta.telescope_name)
        t.putcell("TIME_RANGE", 0, np.array(meta.time_range_mjd_s, dtype=np.float64))
        t.putcell("OBSERVER", 0, meta.observer)
        t.putcell("PROJECT", 0, meta.project)
        t.putcell("SCHEDULE_TYPE", 0, "")
        t.putcell("RELEASE_DATE", 0, meta.time_range_mjd_s[1])
        t.putcell("FLAG_ROW", 0, False)

    with ct.table(f"{ms_path}/PROCESSOR", readonly=False, ack=False) as t:
        t.addrows(1)
        t.putcell("TYPE", 0, "CORRELATOR")
        t.putcell("SUB_TYPE", 0, "DSA-110")
        t.putcell("TYPE_ID", 0, -1)
        t.putcell("MODE_ID", 0, -1)
        t.putcell("FLAG_ROW", 0, False)

    if meta.history:
        now = _time.time() + UNIX_EPOCH_MJD_S
        with ct.table(f"{ms_path}/HISTORY", readonly=False, ack=False) as t:
            t.addrows(len(meta.history))
            for i, message in enumerate(meta.history):
                t.putcell("TIME", i, now)
                t.putcell("OBSERVATION_ID", i, 0)
                t.putcell("MESSAGE", i, message)
                t.putcell("PRIORITY", i, "NORMAL")
                t.putcell("ORIGIN", i, "dsa110_resources.conversion")
                t.putcell("APPLICATION", i, "dsa110 convert")
                t.putcell("APP_PARAMS", i, np.array([""]))
                t.putcell("CLI_COMMAND", i, np.array([""]))
                t.putcell("OBJECT_ID", i, 0)



#: O_DIRECT alignment of file offsets, lengths and buffer addresses.
DIRECT_ALIGN = 4096


def aligned_empty(shape, dtype, align: int = DIRECT_ALIGN) -> np.ndarray:
    """``np.empty`` whose data starts on an ``align``-byte boundary (for O_DIRECT)."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(nbytes + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + nbytes].view(dtype).reshape(shape)


#: Columns whose data files the writer fills itself (raw bytes, no casacore
#: bucket cache): the visibility-sized ones.
RAW_COLUMNS = ("DATA", "MODEL_DATA", "CORRECTED_DATA", "WEIGHT_SPECTRUM")


@dataclass
class SmallColumns:
    """Per-row main-table values (everything but the per-channel arrays)."""

    time_mjd_s: np.ndarray  # (Nrows,)
    interval_s: np.ndarray  # (Nrows,)
    antenna1: np.ndarray  # (Nrows,) ANTENNA row indices
    antenna2: np.ndarray
    uvw_m: np.ndarray  # (Nrows, 3), MS convention


@dataclass
class _RawFile:
    column: str
    path: Path
    row_bytes: int
    fd: int = -1  # buffered
    direct_fd: int = -1  # O_DIRECT, when the filesystem takes it

    def write(self, array: np.ndarray, offset: int, writeback: bool) -> None:
        """``array``'s bytes at ``offset``: the aligned part with O_DIRECT (page-
        cache-free: on this VM buffered writes cost ~50x the CPU), the rest buffered."""
        view = memoryview(np.ascontiguousarray(array)).cast("B")
        if self.direct_fd >= 0 and offset % DIRECT_ALIGN == 0 and \
                np.ascontiguousarray(array).ctypes.data % DIRECT_ALIGN == 0:
            head = len(view) - len(view) % DIRECT_ALIGN
            done = 0
            try:
                while done < head:
                    n = os.pwrite(self.direct_fd, view[done:head], offset + done)
                    done += n
                    if n <= 0 or n % DIRECT_ALIGN:
                        break
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                os.close(self.direct_fd)  # the filesystem refuses O_DIRECT writes
                self.direct_fd = -1
            view, offset = view[done:], offset + done
        if len(view):
            _pwrite_all(self.fd, view, offset)
            if writeback:
                _sync_file_range(self.fd, offset, len(view))

    def close(self) -> None:
        for name in ("fd", "direct_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)


def _sync_file_range(fd: int, offset: int, nbytes: int) -> None:
    """Start writeback of a byte range without waiting (Linux); no-op elsewhere."""
    func = _libc_sync_file_range()
    if func is not None:
        func(fd, ctypes.c_longlong(offset), ctypes.c_longlong(nbytes), 2)  # SYNC_FILE_RANGE_WRITE


_SFR: list = []


def _libc_sync_file_range():
    if not _SFR:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            func = libc.sync_file_range
            func.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
            _SFR.append(func)
        except (OSError, AttributeError):
            _SFR.append(None)
    return _SFR[0]


def _pwrite_all(fd: int, buffer, offset: int) -> None:
    view = memoryview(buffer).cast("B")
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


#: Bump when the skeleton's construction changes in a way the key cannot see.
TEMPLATE_VERSION = 1
TEMPLATE_PREFIX = ".ms-template-"


def _create_skeleton(path: Path, n_rows: int, n_chan: int, n_pol: int, desc: dict, dminfo: dict,
                     raw: list[str]) -> dict:
    """casacore creates the MS (empty subtables, ``n_rows`` main rows, every
    column); returns {column: (seqnr, row_bytes, file_bytes)} of the columns
    whose data files the writer fills itself (``raw`` and FLAG)."""
    base_desc = {k: v for k, v in desc.items() if k not in raw}
    base_dm = {}
    for dm in dminfo.values():
        if dm["COLUMNS"][0] not in raw:
            base_dm[f"*{len(base_dm) + 1}"] = dm
    added = {dm["COLUMNS"][0]: dm for dm in dminfo.values() if dm["COLUMNS"][0] in raw}
    ms = ct.default_ms(str(path), base_desc, base_dm)
    try:
        ms.addrows(n_rows)
        for name in raw:
            seqnr = 1 + max(int(d["SEQNR"]) for d in ms.getdminfo().values())
            os.symlink(os.devnull, path / f"table.f{seqnr}_TSM0")  # casacore's zero-fill goes nowhere
            dm = added[name]
            ms.addcols(ct.maketabdesc([ct.makecoldesc(name, desc[name])]),
                       {k: dm[k] for k in ("TYPE", "NAME", "SPEC")})
        dminfo_now = ms.getdminfo()
    finally:
        ms.close()
    cell_bytes = {"DATA": 8, "MODEL_DATA": 8, "CORRECTED_DATA": 8, "WEIGHT_SPECTRUM": 4}
    layout = {}
    for dm in dminfo_now.values():
        column = dm["COLUMNS"][0]
        if column not in raw and column != "FLAG":
            continue
        (cube,) = dm["SPEC"]["HYPERCUBES"].values()
        tile, cell = [int(x) for x in cube["TileShape"]], [int(x) for x in cube["CellShape"]]
        if dm["TYPE"] != "TiledColumnStMan" or tile[:-1] != cell or cell != [n_pol, n_chan]:
            raise RuntimeError(f"{column}: unexpected tiled layout {dm}")
        row_bytes = n_chan * n_pol // 8 if column == "FLAG" else n_chan * n_pol * cell_bytes[column]
        bucket = int(cube["BucketSize"])
        if bucket != row_bytes * tile[-1]:
            raise RuntimeError(f"{column}: bucket {bucket} != {tile[-1]} rows of {row_bytes} B")
        layout[column] = (int(dm["SEQNR"]), row_bytes, -(-n_rows // tile[-1]) * bucket)
    if set(layout) != set(raw) | {"FLAG"}:
        raise RuntimeError(f"raw data files found for {sorted(layout)}, wanted {raw} + FLAG")
    for seqnr, _, _ in layout.values():  # the template holds no data files
        (path / f"table.f{seqnr}_TSM0").unlink()
    return layout


def _untrusted(tree: Path) -> str | None:
    """Why ``tree`` is not safe to copy into a product, or None.

    The cache lives on shared tmpfs: anything in it may have been planted.
    Only regular files and directories owned by us, none writable by others,
    are copied; a symlink would put another file's bytes into the MS.
    """
    if why := _bad_entry(Path(tree)):  # first: walking a symlinked top would follow it
        return why
    for directory, dirs, files in os.walk(tree, followlinks=False, onerror=_raise):
        for name in [*dirs, *files]:
            if why := _bad_entry(Path(directory, name)):
                return why
    return None


def _raise(error: OSError) -> None:
    raise error


def _bad_entry(path: Path) -> str | None:
    info = os.lstat(path)
    uid = os.geteuid()
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symlink"
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        return f"{path} is not a regular file or directory"
    if info.st_uid != uid:
        return f"{path} is owned by uid {info.st_uid}, not {uid}"
    if info.st_mode & stat.S_IWOTH:
        return f"{path} is writable by anyone"
    return None


def _insecure_root(root: Path) -> str | None:
    """Why the cache directory itself cannot be trusted (others could swap entries), or None."""
    info = os.lstat(root)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        return "not a plain directory"
    if info.st_uid != os.geteuid():
        return f"owned by uid {info.st_uid}"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"writable by others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def _skeleton_template(root: Path, n_rows: int, n_chan: int, n_pol: int, desc: dict,
                       dminfo: dict, raw: list[str]) -> tuple[Path, dict] | None:
    """A skeleton MS for this shape, built once per staging root and reused.

    Keyed on everything that shapes it (row count, column and storage
    descriptions, casacore version). Built under an owner-named staging name
    (swept if the builder dies) and renamed into place, so a template is
    either complete or absent; concurrent builders race harmlessly. An entry
    that fails ``_untrusted`` is moved aside and rebuilt; a cache directory
    others can write is not used at all (None).
    """
    import hashlib
    import json

    from casacore import __version__ as casacore_version

    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if why := _insecure_root(root):
        log.warning("not using the MS template cache %s: %s", root, why)
        return None
    key = hashlib.sha1(repr((TEMPLATE_VERSION, n_rows, n_chan, n_pol, casacore_version, sorted(raw),
                             _canonical(desc), _canonical(dminfo))).encode()).hexdigest()[:16]
    final = root / f"{TEMPLATE_PREFIX}{key}"
    meta = final / "layout.json"
    if os.path.lexists(final) and (why := _untrusted(final)):
        log.warning("rebuilding the MS template %s: %s", final, why)
        aside = root / f"{STAGING_PREFIX}{staging_token()}-untrusted-template"
        with contextlib.suppress(FileNotFoundError):  # another writer moved it first
            os.rename(final, aside)
            remove_path(aside)
    if not meta.exists():
        clean_stale(root)
        build = root / f"{STAGING_PREFIX}{staging_token()}-ms-template"
        build.mkdir()
        try:
            layout = _create_skeleton(build / "skeleton.ms", n_rows, n_chan, n_pol, desc, dminfo, raw)
            (build / "layout.json").write_text(json.dumps(layout))
            try:
                os.rename(build, final)
            except OSError:
                if not meta.exists():
                    raise
        finally:
            shutil.rmtree(build, ignore_errors=True)
    layout = {k: tuple(v) for k, v in json.loads(meta.read_text()).items()}
    return final / "skeleton.ms", layout


def _canonical(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _canonical(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, np.ndarray):
        return (str(value.dtype), value.tolist())
    return value


class DirectMSWriter:
    """An MS whose visibility-sized columns are written as raw bytes.

    casacore creates the table (all subtables, the small main-table columns,
    the tiled storage managers' headers), but would zero-fill every tile of
    every new tiled column on close: ~4 GB of writes for a full tile before a
    byte of data (measured: 9.5 s of a 2-core box under load). So the
    visibility-sized columns are added while their data files point at
    ``/dev/null``; the writer then creates those files itself, at their final
    size (sparse), and fills them with ``write_rows``.

    What makes that safe: each such column is a ``TiledColumnStMan`` with one
    hypercube whose tile holds whole cells (all channels and pols) for
    ``tile_rows`` rows, so its data file is the C-order bytes of the
    (Nrows, Nchan, Npol) array, little-endian, rows in order, padded to whole
    tiles (checked against the storage manager's own description at creation
    and read back through casacore in ``finish``). FLAG (required by the MS
    schema, so created with the table; 1 bit per cell) is written the same
    way from bits packed least-significant first. MODEL_DATA, never written,
    stays a sparse file of zeros: no bytes to write, copy or sync.

    With ``template_root``, the casacore part (~0.7 s of CPU for a full tile,
    most of it zero-filling buckets into /dev/null) is done once per shape and
    kept there as a skeleton (no data files, ~1 MB); each MS then starts as a
    copy of it.

    Writes go out with O_DIRECT where the filesystem takes it and the block
    is page-aligned (``aligned_empty`` buffers; 1024-row tiles keep offsets
    aligned): on the 2-core VM, 2.9 GB took 1.6 s and 0.1 s of CPU that way
    against 13 s and 6.4 s of CPU through the page cache. Other writes go
    through the page cache, with writeback started at once (``writeback``).
    """

    def __init__(self, path: Path, n_rows: int, n_chan: int, n_pol: int, *,
                 scratch_columns: bool = True, weight_spectrum: bool = False,
                 writeback: bool = True, direct: bool = True,
                 template_root: Path | None = None):
        self.path = Path(path)
        self.n_rows, self.n_chan, self.n_pol = n_rows, n_chan, n_pol
        self.scratch_columns = scratch_columns
        self.writeback = writeback
        if sys.byteorder != "little":
            raise RuntimeError("the direct MS writer assumes a little-endian host")
        if (n_chan * n_pol) % 8:
            raise ValueError("FLAG rows must be whole bytes (Nchan * Npol divisible by 8)")
        desc, dminfo = _main_description(n_chan, n_pol, weight_spectrum, scratch_columns)
        raw = [c for c in RAW_COLUMNS if c in desc]
        cached = None
        if template_root is not None:
            cached = _skeleton_template(Path(template_root), n_rows, n_chan, n_pol, desc, dminfo, raw)
        if cached is not None:
            template, layout = cached
            shutil.copytree(template, self.path, symlinks=True)  # links copied as links, never followed
            if why := _untrusted(self.path):  # changed between the check and the copy
                log.warning("MS template copy %s was unsafe (%s): building the MS directly", self.path, why)
                shutil.rmtree(self.path)
                cached = None
        if cached is None:
            layout = _create_skeleton(self.path, n_rows, n_chan, n_pol, desc, dminfo, raw)
        self.files: dict[str, _RawFile] = {}
        for column, (seqnr, row_bytes, n_bytes) in layout.items():
            data_file = self.path / f"table.f{seqnr}_TSM0"
            with contextlib.suppress(FileNotFoundError):
                data_file.unlink()  # a /dev/null link, casacore's zeros, or nothing
            fd = os.open(data_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.ftruncate(fd, n_bytes)  # sparse: only written blocks take space
            direct_fd = -1
            if direct and hasattr(os, "O_DIRECT"):
                try:
                    direct_fd = os.open(data_file, os.O_WRONLY | os.O_DIRECT)
                except OSError:
                    direct_fd = -1
            self.files[column] = _RawFile(column, data_file, row_bytes, fd, direct_fd)

    def write_rows(self, start: int, data: np.ndarray, flag_bits: np.ndarray,
                   weight_spectrum: np.ndarray | None = None) -> None:
        """Rows ``start .. start + len(data)``: DATA (and CORRECTED_DATA, a copy), FLAG bits.

        ``data`` (n, Nchan, Npol) complex64 C-contiguous; ``flag_bits``
        (n, Nchan*Npol/8) uint8. Thread-safe for disjoint row ranges.
        """
        n = data.shape[0]
        if data.dtype != np.complex64 or not data.flags.c_contiguous or data.shape[1:] != (
                self.n_chan, self.n_pol):
            raise ValueError("data must be C-contiguous complex64 (n, Nchan, Npol)")
        if flag_bits.dtype != np.uint8 or flag_bits.shape != (n, self.files["FLAG"].row_bytes):
            raise ValueError("flag_bits must be uint8 (n, Nchan*Npol/8)")
        blocks = [("DATA", data), ("FLAG", np.ascontiguousarray(flag_bits))]
        if self.scratch_columns:
            blocks.append(("CORRECTED_DATA", data))
        if "WEIGHT_SPECTRUM" in self.files:
            if weight_spectrum is None:
                raise ValueError("this MS has WEIGHT_SPECTRUM: pass it")
            blocks.append(("WEIGHT_SPECTRUM", np.ascontiguousarray(weight_spectrum, np.float32)))
        for column, array in blocks:
            raw = self.files[column]
            raw.write(array, start * raw.row_bytes, self.writeback)

    def close_files(self) -> None:
        for raw in getattr(self, "files", {}).values():
            raw.close()

    def finish(self, small: SmallColumns, weight: np.ndarray, flag_row: np.ndarray,
               meta: MSMetadata, *, check: bool = True, keywords: dict | None = None) -> Path:
        """Close the data files, put the per-row columns, ``keywords`` (main
        table) and the subtables."""
        self.close_files()
        ms = ct.table(str(self.path), readonly=False, ack=False)
        try:
            _put_small_columns(ms, small, weight, flag_row)
            for name, value in (keywords or {}).items():
                ms.putkeyword(name, value)
            if check:
                # The raw files as casacore reads them: a shape and a cell from each end.
                last = self.n_rows - 1
                for column in self.files:
                    if ms.getcolshapestring(column, 0, 1)[0] != f"[{self.n_chan}, {self.n_pol}]":
                        raise RuntimeError(f"{column}: casacore sees another cell shape")
                    ms.getcell(column, last)
        finally:
            ms.close()
        _write_subtables(self.path, meta, self.n_pol)
        return self.path

    def __del__(self):
        self.close_files()


#: Main-table keyword the converter sets: every exact-zero and non-finite
#: visibility in DATA is already flagged (calibration.flagging skips its scan).
ZEROS_FLAGGED = "DSA110_ZEROS_FLAGGED"


def _put_small_columns(ms, small: SmallColumns, weight: np.ndarray, flag_row: np.ndarray) -> None:
    n_rows = small.time_mjd_s.shape[0]
    ms.putcol("TIME", small.time_mjd_s)
    ms.putcol("TIME_CENTROID", small.time_mjd_s)
    ms.putcol("INTERVAL", small.interval_s)
    ms.putcol("EXPOSURE", small.interval_s)
    ms.putcol("ANTENNA1", small.antenna1.astype(np.int32))
    ms.putcol("ANTENNA2", small.antenna2.astype(np.int32))
    zeros = np.zeros(n_rows, dtype=np.int32)
    for col in ("FEED1", "FEED2", "DATA_DESC_ID", "FIELD_ID", "ARRAY_ID", "OBSERVATION_ID",
                "PROCESSOR_ID"):
        ms.putcol(col, zeros)
    ms.putcol("SCAN_NUMBER", zeros + 1)
    ms.putcol("STATE_ID", zeros - 1)
    ms.putcol("FLAG_ROW", np.asarray(flag_row, dtype=bool))
    ms.putcol("UVW", np.ascontiguousarray(small.uvw_m, dtype=np.float64))
    weight = np.ascontiguousarray(weight, dtype=np.float32)
    sigma = np.zeros_like(weight)
    np.power(weight, -0.5, out=sigma, where=weight > 0)
    ms.putcol("WEIGHT", weight)
    ms.putcol("SIGMA", sigma)


def pack_flags(flags: np.ndarray) -> np.ndarray:
    """(n, Nchan, Npol) bool -> (n, Nchan*Npol/8) uint8, casacore's on-disk Bool bits."""
    n = flags.shape[0]
    return np.packbits(flags.reshape(n, -1), axis=1, bitorder="little")


def write_ms(path: Path, main: MainColumns, meta: MSMetadata, *,
             model_data: str = "zero") -> Path:
    """Create the MS at ``path`` (must not exist) from whole in-memory arrays.

    ``model_data``: "zero" (default) creates MODEL_DATA (zeros, a sparse
    file) and CORRECTED_DATA (a copy of DATA), so CASA and WSClean (which
    image CORRECTED_DATA when it exists) never meet empty cells; the
    calibration step must still put a real model in MODEL_DATA. "absent"
    writes DATA only and leaves both columns to the calibration step.
    """
    if model_data not in ("zero", "absent"):
        raise ValueError(f"model_data must be 'zero' or 'absent', got {model_data!r}")
    n_rows, n_chan, n_pol = main.data.shape
    writer = DirectMSWriter(path, n_rows, n_chan, n_pol, scratch_columns=model_data == "zero",
                            weight_spectrum=main.weight_spectrum is not None, writeback=False)
    try:
        for start in range(0, n_rows, ROW_CHUNK):
            stop = min(start + ROW_CHUNK, n_rows)
            spectrum = None if main.weight_spectrum is None else main.weight_spectrum[start:stop]
            writer.write_rows(start, np.ascontiguousarray(main.data[start:stop], np.complex64),
                              pack_flags(main.flag[start:stop]), spectrum)
    finally:
        writer.close_files()
    small = SmallColumns(main.time_mjd_s, main.interval_s, main.antenna1, main.antenna2, main.uvw_m)
    return writer.finish(small, main.weight, main.flag_row, meta)
