"""A fast, minimal UVH5 reader for DSA-110 subband files.

pyuvdata reads each file into its own object and concatenates 16 of them,
copying the visibilities several times (and refusing the files' float32
``uvw_array``). Here the header is read once per file and the data arrays go
straight from HDF5 into their channel slice of one preallocated tile array.

Layout (UVH5, as the correlator and pyuvdata write it)::

    Header/  Nblts Nbls Ntimes Nfreqs Npols Nants_data Nants_telescope
             time_array (JD, integration centre)  ant_1_array ant_2_array
             uvw_array (Nblts, 3; float32 in real files)  freq_array  channel_width
             antenna_numbers antenna_names antenna_positions (ECEF minus site)
             latitude longitude altitude  polarization_array integration_time
             extra_keywords/{phase_center_dec, ha_phase_center, phase_center_epoch}
             (oldest writer: phase_center_dec, phase_center_epoch in Header itself)
    Data/    visdata flags nsamples  (Nblts, [1,] Nfreqs, Npols)

The correlator writes ``Data/*`` (and the per-row header arrays) as empty,
extendable, auto-chunked datasets appended one integration at a time: chunks
of ~(128, 1, 12, 1), never contiguous. ``SubbandSlabReader`` reads those
chunks' bytes straight from the file (see ``ChunkIndex``); HDF5's own
hyperslab reads of such tiny chunks into a squeezed selection cost ~10 s a
file. Datasets stored outside the file (external files, virtual datasets)
are refused: a hostile file could otherwise pull any readable file on the
host into a Measurement Set.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from . import kernels
from .grouping import SubbandPath

#: Header datasets every subband file must carry.
REQUIRED_HEADER = (
    "Nblts", "Nfreqs", "Npols", "Ntimes", "time_array", "ant_1_array", "ant_2_array",
    "uvw_array", "freq_array", "antenna_numbers", "antenna_names", "antenna_positions",
    "latitude", "longitude", "altitude", "polarization_array", "integration_time",
)
REQUIRED_DATA = ("visdata", "flags", "nsamples")


class InvalidSubbandFile(ValueError):
    """A subband file that cannot be used; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}")


@dataclass
class SubbandHeader:
    """What a subband file says about itself (all small arrays; no visibilities)."""

    path: Path
    subband: int
    n_blts: int
    n_times: int
    n_freqs: int
    n_pols: int
    freqs_hz: np.ndarray  # file order (descending)
    channel_width_hz: np.ndarray
    time_jd: np.ndarray  # (Nblts,) integration centres
    integration_time_s: np.ndarray  # (Nblts,)
    ant1: np.ndarray
    ant2: np.ndarray
    uvw_m: np.ndarray  # (Nblts, 3) float64, pyuvdata convention (ant2 - ant1)
    antenna_numbers: np.ndarray
    antenna_names: list[str]
    antenna_positions_m: np.ndarray  # (Nants_telescope, 3) ECEF relative to the site
    site_lat_deg: float
    site_lon_deg: float
    site_alt_m: float
    polarizations: np.ndarray
    declination_rad: float  # pointing declination (of date)
    telescope_name: str
    data_shape: tuple[int, ...]  # visdata shape as stored (3-D or legacy 4-D)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def _scalar(group: h5py.Group, name: str):
    value = group[name][()]
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.shape == ():
        return value.item()
    return value


def _declination(header: h5py.Group, lat_deg: float) -> float:
    """Pointing declination (radians). Real files carry it as
    ``extra_keywords/phase_center_dec`` or, from the oldest writer,
    ``Header/phase_center_dec``; its ``phase_center_epoch`` ("HADEC" or 2000)
    labels the same quantity (the declination the data are phased to on the
    meridian), so it does not change the value. pyuvdata-3 files may instead
    carry a driftscan catalog entry fixed in alt-az on the meridian."""
    extra = header.get("extra_keywords")
    for group in (extra, header):
        if group is not None and "phase_center_dec" in group:
            return float(group["phase_center_dec"][()])
    catalog = header.get("phase_center_catalog")
    if catalog is not None and len(catalog) == 1:
        entry = next(iter(catalog.values()))
        frame = _scalar(entry, "cat_frame") if "cat_frame" in entry else ""
        if frame == "altaz":
            az, el = float(entry["cat_lon"][()]), float(entry["cat_lat"][()])
            zenith_distance = np.pi / 2 - el
            north = np.cos(az) > 0  # azimuth 0: north of zenith
            return np.deg2rad(lat_deg) + (zenith_distance if north else -zenith_distance)
    raise KeyError("no pointing declination (extra_keywords/phase_center_dec or Header/phase_center_dec)")


def _refuse_foreign_storage(groups: dict[str, h5py.Group], names: dict[str, tuple[str, ...]],
                            path: Path) -> None:
    """Raise if a dataset the reader uses has its bytes outside this file
    (external storage or a virtual dataset)."""
    for group_name, group in groups.items():
        for name in names[group_name]:
            if name not in group or not isinstance(group[name], h5py.Dataset):
                continue
            plist = group[name].id.get_create_plist()
            if plist.get_layout() == h5py.h5d.VIRTUAL:
                raise InvalidSubbandFile(path, f"{group_name}/{name} is a virtual dataset (data from other files)")
            if plist.get_external_count():
                raise InvalidSubbandFile(path, f"{group_name}/{name} is stored in external files")


def read_header(ref: SubbandPath | Path) -> SubbandHeader:
    """Read a file's header; any problem raises InvalidSubbandFile naming the file."""
    if not isinstance(ref, SubbandPath):
        from .grouping import subband_paths

        ref = subband_paths([ref])[0]
    path = ref.path
    try:
        handle = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise InvalidSubbandFile(path, f"not a readable HDF5 file ({exc})") from exc
    with handle:
        try:
            header, data = handle["Header"], handle["Data"]
        except KeyError as exc:
            raise InvalidSubbandFile(path, "missing the Header or Data group") from exc
        _refuse_foreign_storage({"Header": header, "Data": data,
                                 "Header/extra_keywords": header.get("extra_keywords", {})}, {
            "Header": REQUIRED_HEADER + ("channel_width", "telescope_name", "phase_center_dec"),
            "Data": REQUIRED_DATA, "Header/extra_keywords": ("phase_center_dec",)}, path)
        missing = [n for n in REQUIRED_HEADER if n not in header]
        missing += [f"Data/{n}" for n in REQUIRED_DATA if n not in data]
        if missing:
            raise InvalidSubbandFile(path, f"missing datasets: {', '.join(missing)}")
        try:
            lat = float(_scalar(header, "latitude"))
            freqs = np.asarray(header["freq_array"][()], dtype=np.float64).reshape(-1)
            if "channel_width" in header:
                width = np.asarray(header["channel_width"][()], dtype=np.float64).reshape(-1)
            else:
                width = np.full(freqs.size, np.nan)
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in header["antenna_names"][()]]
            result = SubbandHeader(
                path=path,
                subband=ref.subband,
                n_blts=int(_scalar(header, "Nblts")),
                n_times=int(_scalar(header, "Ntimes")),
                n_freqs=int(_scalar(header, "Nfreqs")),
                n_pols=int(_scalar(header, "Npols")),
                freqs_hz=freqs,
                channel_width_hz=np.broadcast_to(width, freqs.shape).copy(),
                time_jd=np.asarray(header["time_array"][()], dtype=np.float64),
                integration_time_s=np.asarray(header["integration_time"][()], dtype=np.float64),
                ant1=np.asarray(header["ant_1_array"][()], dtype=np.int32),
                ant2=np.asarray(header["ant_2_array"][()], dtype=np.int32),
                uvw_m=np.asarray(header["uvw_array"][()], dtype=np.float64),
                antenna_numbers=np.asarray(header["antenna_numbers"][()], dtype=np.int32),
                antenna_names=names,
                antenna_positions_m=np.asarray(header["antenna_positions"][()], dtype=np.float64),
                site_lat_deg=lat,
                site_lon_deg=float(_scalar(header, "longitude")),
                site_alt_m=float(_scalar(header, "altitude")),
                polarizations=np.asarray(header["polarization_array"][()], dtype=np.int32),
                declination_rad=_declination(header, lat),
                telescope_name=str(_scalar(header, "telescope_name")) if "telescope_name" in header else "",
                data_shape=tuple(data["visdata"].shape),
            )
            for name in REQUIRED_DATA[1:]:
                if tuple(data[name].shape) != result.data_shape:
                    raise InvalidSubbandFile(
                        path, f"Data/{name} shape {data[name].shape} != visdata {result.data_shape}")
            if data["visdata"].dtype.kind != "c" and data["visdata"].dtype.names is None:
                raise InvalidSubbandFile(path, f"visdata has non-complex type {data['visdata'].dtype}")
        except InvalidSubbandFile:
            raise
        except (KeyError, OSError, ValueError, TypeError) as exc:
            raise InvalidSubbandFile(path, f"unreadable header ({type(exc).__name__}: {exc})") from exc
    return result


def _pread_exact(fd: int, view: memoryview, offset: int, what: str) -> None:
    done = 0
    while done < len(view):
        n = os.preadv(fd, [view[done:]], offset + done)
        if n <= 0:
            raise OSError(f"{what}: file ends inside the dataset")
        done += n


def _stored_as(dset: h5py.Dataset, dtype) -> bool:
    """The dataset's elements are stored as ``dtype`` in native byte order (its
    bytes can go straight into a buffer of that type)."""
    target = np.dtype(dtype)
    native = ("=", "|", "<" if sys.byteorder == "little" else ">")
    return dset.dtype == target and (target.itemsize == 1 or dset.dtype.byteorder in native)


@dataclass
class ChunkIndex:
    """Where every chunk of an uncompressed chunked dataset lies in the file.

    One ``chunk_iter`` pass over HDF5's chunk B-tree (~25 ms for a full-size
    visdata's ~7000 chunks). Rows are the first axis; a legacy spw axis of
    length 1 is dropped. Arrays are sorted by chunk row.
    """

    shape: tuple[int, int, int]  # chunk extent (rows, channels, pols)
    row0: np.ndarray
    chan0: np.ndarray
    pol0: np.ndarray
    offset: np.ndarray  # byte offset in the file
    nbytes: int  # bytes per chunk

    @classmethod
    def of(cls, dset: h5py.Dataset) -> ChunkIndex | None:
        """The index, or None when the stored chunks are not the raw elements
        (filters) or some chunk was never written."""
        if dset.chunks is None or dset.id.get_create_plist().get_nfilters():
            return None
        chunks = dset.chunks if dset.ndim == 3 else (dset.chunks[0],) + dset.chunks[2:]
        shape = dset.shape if dset.ndim == 3 else (dset.shape[0],) + dset.shape[2:]
        nbytes = int(np.prod(dset.chunks)) * dset.dtype.itemsize
        found = []
        dset.id.chunk_iter(lambda info: found.append(info.chunk_offset + (info.byte_offset, info.size)))
        expected = int(np.prod([-(-n // c) for n, c in zip(shape, chunks)]))
        if len(found) != expected:  # unwritten chunks hold the fill value: let HDF5 supply it
            return None
        table = np.array(found, dtype=np.int64).reshape(-1, dset.ndim + 2)
        if np.any(table[:, -1] != nbytes):
            return None
        if dset.ndim == 4:
            table = np.delete(table, 1, axis=1)
        table = table[np.argsort(table[:, 0], kind="stable")]
        return cls(tuple(int(c) for c in chunks), table[:, 0].copy(), table[:, 1].copy(),
                   table[:, 2].copy(), table[:, 3].copy(), nbytes)

    def covering(self, start: int, stop: int) -> slice:
        """The chunks holding rows ``start:stop``."""
        lo = np.searchsorted(self.row0, start - self.shape[0], side="right")
        hi = np.searchsorted(self.row0, stop, side="left")
        return slice(int(lo), int(hi))


class SubbandSlabReader:
    """One file's data arrays, read by slabs of rows (the file stays open).

    ``read(start, stop, vis, flags, nsamples)`` fills the first
    ``stop - start`` rows of three contiguous (rows, Nfreqs, Npols) buffers
    in file order. Each dataset takes the fastest path its storage allows
    (``paths`` names them, for benchmarks and logs):

    * ``"contiguous"``: stored contiguously, uncompressed, in the buffer's
      type (what pyuvdata writes): ``os.preadv`` straight from its offset.
    * ``"chunks"``: chunked and uncompressed, every chunk written (what the
      correlator writes): the block's chunks are read with a few
      ``os.preadv`` calls (chunks adjacent in the file are read together)
      and scattered into place by a numba kernel.
    * ``"hdf5"``: anything else (compressed, complex128, legacy compound
      (r, i) visibilities, partly written): HDF5 reads and converts.

    The first two release the GIL throughout, so reading overlaps the
    converter's kernels. Problems raise InvalidSubbandFile.
    """

    def __init__(self, header: SubbandHeader):
        self.header = header
        self._fd = -1
        self._staging = np.empty(0, dtype=np.uint8)
        try:
            self._handle = h5py.File(header.path, "r")
            data = self._handle["Data"]
            self._datasets = [data[name] for name in REQUIRED_DATA]
            self._plans = [self._plan(d, t) for d, t in zip(
                self._datasets, (np.complex64, np.bool_, np.float32))]
            if any(kind != "hdf5" for kind, _ in self._plans):
                self._fd = os.open(header.path, os.O_RDONLY)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidSubbandFile(header.path, f"unreadable data ({type(exc).__name__}: {exc})") from exc
        self._legacy = len(header.data_shape) == 4

    @property
    def paths(self) -> dict[str, str]:
        return {name: kind for name, (kind, _) in zip(REQUIRED_DATA, self._plans)}

    def _plan(self, dset: h5py.Dataset, dtype) -> tuple[str, object]:
        expected = self.header.n_blts * self.header.n_freqs * self.header.n_pols
        if int(np.prod(dset.shape)) != expected or not _stored_as(dset, dtype):
            return "hdf5", None
        if dset.chunks is not None:
            index = ChunkIndex.of(dset)
            return ("chunks", index) if index is not None else ("hdf5", None)
        offset = dset.id.get_offset()
        return ("hdf5", None) if offset is None else ("contiguous", int(offset))

    def _read_chunks(self, index: ChunkIndex, start: int, stop: int, target: np.ndarray, name: str) -> None:
        picked = index.covering(start, stop)
        offsets = index.offset[picked]
        n = offsets.size
        order = np.argsort(offsets, kind="stable")
        offsets = offsets[order]
        size = index.nbytes
        if self._staging.size < n * size:
            self._staging = np.empty(n * size, dtype=np.uint8)
        staging = memoryview(self._staging)
        # Runs of chunks adjacent in the file (the correlator appends them in
        # row order, so a block's chunks are a few runs) are one read each.
        breaks = np.flatnonzero(np.diff(offsets) != size) + 1
        for a, b in zip(np.r_[0, breaks], np.r_[breaks, n]):
            _pread_exact(self._fd, staging[a * size:b * size], int(offsets[a]), name)
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n, dtype=np.int64) * (size // target.itemsize)
        out = target.view(np.uint8) if target.dtype == np.bool_ else target
        kernels.scatter_chunks(self._staging[:n * size].view(out.dtype), position, index.row0[picked],
                               index.chan0[picked], index.pol0[picked], *index.shape, start, out)

    def read(self, start: int, stop: int, vis: np.ndarray, flags: np.ndarray,
             nsamples: np.ndarray) -> None:
        rows = stop - start
        try:
            for dset, (kind, where), out in zip(self._datasets, self._plans, (vis, flags, nsamples)):
                target = out[:rows]
                if kind == "contiguous" and target.flags.c_contiguous:
                    row_bytes = target[0].nbytes if rows else 0
                    _pread_exact(self._fd, memoryview(target).cast("B"), where + start * row_bytes, dset.name)
                elif kind == "chunks" and target.flags.c_contiguous:
                    self._read_chunks(where, start, stop, target, dset.name)
                elif dset.dtype.names is not None:  # legacy compound (r, i) visibilities
                    raw = dset[start:stop]
                    raw = raw[:, 0] if self._legacy else raw
                    target[...] = raw[raw.dtype.names[0]] + 1j * raw[raw.dtype.names[1]]
                else:
                    # A destination of the dataset's own rank: HDF5 reading a
                    # 4-D selection into a 3-D buffer is ~10x slower.
                    dest = target[:, None] if self._legacy else target
                    dset.read_direct(dest, source_sel=np.s_[start:stop])
                if out.dtype == np.bool_ and kind != "hdf5" and np.any(target.view(np.uint8) > 1):
                    target[...] = target.view(np.uint8) != 0  # stored values beyond 0/1
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidSubbandFile(self.header.path,
                                     f"unreadable data ({type(exc).__name__}: {exc})") from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._handle.close()
