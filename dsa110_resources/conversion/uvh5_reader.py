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
    Data/    visdata flags nsamples  (Nblts, [1,] Nfreqs, Npols)
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .. import constants
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
    """Pointing declination: ``extra_keywords/phase_center_dec``, else from a
    pyuvdata-3 driftscan catalog entry fixed in alt-az on the meridian."""
    extra = header.get("extra_keywords")
    if extra is not None and "phase_center_dec" in extra:
        return float(extra["phase_center_dec"][()])
    catalog = header.get("phase_center_catalog")
    if catalog is not None and len(catalog) == 1:
        entry = next(iter(catalog.values()))
        frame = _scalar(entry, "cat_frame") if "cat_frame" in entry else ""
        if frame == "altaz":
            az, el = float(entry["cat_lon"][()]), float(entry["cat_lat"][()])
            zenith_distance = np.pi / 2 - el
            north = np.cos(az) > 0  # azimuth 0: north of zenith
            return np.deg2rad(lat_deg) + (zenith_distance if north else -zenith_distance)
    raise KeyError("no pointing declination (extra_keywords/phase_center_dec)")


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


def read_subband_into(
    header: SubbandHeader,
    vis: np.ndarray,
    flags: np.ndarray,
    nsamples: np.ndarray,
    channel_offset: int,
) -> None:
    """Read one file's data arrays into ``[:, channel_offset:+Nfreqs, :]`` of the tile arrays.

    Channels stay in file order (descending); the tile arrays are the 16
    files side by side in subband order, i.e. the whole band descending, and
    the converter reverses them once. HDF5 converts types (e.g. complex128
    visdata into the complex64 tile) during the read itself.
    """
    n = header.n_freqs
    dest = np.s_[:, channel_offset:channel_offset + n, :]
    legacy = len(header.data_shape) == 4  # (Nblts, Nspws=1, Nfreqs, Npols)
    source = np.s_[:, 0, :, :] if legacy else np.s_[...]
    # HDF5 reading straight into a strided slice is ~10x slower than a
    # contiguous read plus one memory copy, so each dataset goes through a
    # contiguous buffer of the destination's type.
    try:
        with h5py.File(header.path, "r") as handle:
            data = handle["Data"]
            for name, out in (("visdata", vis), ("flags", flags), ("nsamples", nsamples)):
                dset = data[name]
                if dset.dtype.names is not None:  # legacy compound (r, i) visibilities
                    raw = dset[source]
                    out[dest] = raw[raw.dtype.names[0]] + 1j * raw[raw.dtype.names[1]]
                    continue
                buffer = np.empty((header.n_blts, n, out.shape[2]), dtype=out.dtype)
                if legacy:
                    dset.read_direct(buffer, source_sel=source)
                else:
                    dset.read_direct(buffer)
                out[dest] = buffer
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidSubbandFile(header.path, f"unreadable data ({type(exc).__name__}: {exc})") from exc


def expected_channel_offset(subband: int) -> int:
    """Where subband ``subband`` starts in the descending tile channel axis."""
    return subband * constants.CHANNELS_PER_SUBBAND


class SubbandSlabReader:
    """One file's data arrays, read by slabs of rows or whole (the file stays open).

    ``read(start, stop, vis, flags, nsamples)`` fills the first
    ``stop - start`` rows of three contiguous (rows, Nfreqs, Npols) buffers
    in file order. A dataset stored contiguously, uncompressed and already in
    the buffer's type (what the correlator and the simulator write) is read
    with ``os.preadv`` straight from its byte offset: no HDF5 layers, one copy
    out of the page cache, and the GIL released, so reading overlaps the
    converter's Python work. Anything else (chunked, compressed, complex128,
    legacy compound (r, i) visibilities) goes through HDF5, which converts.
    Problems raise InvalidSubbandFile.
    """

    def __init__(self, header: SubbandHeader):
        self.header = header
        self._fd = -1
        try:
            self._handle = h5py.File(header.path, "r")
            data = self._handle["Data"]
            self._datasets = [data[name] for name in REQUIRED_DATA]
            self._raw = [self._raw_offset(d, t) for d, t in zip(
                self._datasets, (np.complex64, np.bool_, np.float32))]
            if any(offset is not None for offset in self._raw):
                self._fd = os.open(header.path, os.O_RDONLY)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidSubbandFile(header.path, f"unreadable data ({type(exc).__name__}: {exc})") from exc
        self._legacy = len(header.data_shape) == 4

    def _raw_offset(self, dset: h5py.Dataset, dtype) -> int | None:
        """Byte offset of a dataset whose stored bytes are the buffer's bytes, else None."""
        target = np.dtype(dtype)
        if dset.chunks is not None or dset.compression is not None or dset.dtype != target:
            return None
        if target.itemsize > 1 and dset.dtype.byteorder not in ("=", "<" if sys.byteorder == "little" else ">"):
            return None
        expected = self.header.n_blts * self.header.n_freqs * self.header.n_pols
        if int(np.prod(dset.shape)) != expected:
            return None
        offset = dset.id.get_offset()
        return None if offset is None else int(offset)

    def read(self, start: int, stop: int, vis: np.ndarray, flags: np.ndarray,
             nsamples: np.ndarray) -> None:
        rows = stop - start
        source = np.s_[start:stop, 0] if self._legacy else np.s_[start:stop]
        try:
            for dset, offset, out in zip(self._datasets, self._raw, (vis, flags, nsamples)):
                target = out[:rows]
                if offset is not None and target.flags.c_contiguous:
                    row_bytes = target[0].nbytes if rows else 0
                    view = memoryview(target).cast("B")
                    done = 0
                    while done < len(view):
                        n = os.preadv(self._fd, [view[done:]], offset + start * row_bytes + done)
                        if n <= 0:
                            raise OSError(f"{dset.name}: file ends inside the dataset")
                        done += n
                    if out.dtype == np.bool_ and np.any(target.view(np.uint8) > 1):
                        target[...] = target.view(np.uint8) != 0  # stored values beyond 0/1
                elif dset.dtype.names is not None:  # legacy compound (r, i) visibilities
                    raw = dset[source]
                    target[...] = raw[raw.dtype.names[0]] + 1j * raw[raw.dtype.names[1]]
                else:
                    dset.read_direct(target, source_sel=source)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidSubbandFile(self.header.path,
                                     f"unreadable data ({type(exc).__name__}: {exc})") from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._handle.close()
