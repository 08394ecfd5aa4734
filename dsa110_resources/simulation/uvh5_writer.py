"""Write subband files in the DSA-110 correlator's UVH5 layout with h5py.

Why not ``UVData.write_uvh5``: real DSA-110 files store ``uvw_array`` as
float32 (pyuvdata writes float64), carry legacy headers pyuvdata no longer
writes, and are laid out the way the correlator's writer leaves them:

* ``layout="correlator"`` (the default, what real files are): ``Data/visdata``,
  ``flags`` and ``nsamples`` are created EMPTY and EXTENDABLE, 4-D
  ``(0, 1, Nfreqs, Npols)`` with ``maxshape=(None, 1, Nfreqs, Npols)`` and
  h5py auto-chunking (``(128, 1, 12, 1)`` for visdata), and so are the per-row
  header arrays (``time_array``, ``integration_time``, ``uvw_array``,
  ``ant_1_array``, ``ant_2_array``); then one integration (all baselines) is
  appended at a time. The chunks are never contiguous.
* ``layout="contiguous"``: 3-D contiguous datasets, as pyuvdata writes.

Header styles (``HEADER_STYLES``), all seen in real files:

* ``"hadec"``: legacy ``phase_type="drift"``; ``extra_keywords`` carries
  ``phase_center_dec``, ``ha_phase_center`` and ``phase_center_epoch="HADEC"``
  plus the writer's ``fs_table`` and ``applied_delays_ns``.
* ``"extra-2000"``: the same with ``phase_center_epoch`` the integer 2000,
  ``freq_array`` 2-D ``(1, Nfreqs)`` and ``channel_width`` a POSITIVE scalar
  (that writer stored ``abs(width)`` beside descending frequencies).
* ``"header-2000"``: the oldest writer: ``phase_center_dec`` and
  ``phase_center_epoch=2000`` in ``Header`` itself, ``freq_array`` 2-D,
  ``channel_width`` a negative scalar.
* ``"pyuvdata3"``: no legacy keys; the phase centre a pyuvdata ``driftscan``
  catalog entry fixed in alt-az on the meridian (plus the ``extra_keywords``).

Whatever the style, the visibilities are phased to the meridian at the
pointing declination at each integration. Each file is written under a
hidden temporary name in the destination directory and renamed into place,
so a watcher never sees half a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

__all__ = ["FILE_LAYOUTS", "HEADER_STYLES", "TileHeader", "write_subband_file"]

FILE_LAYOUTS = ("correlator", "contiguous")
HEADER_STYLES = ("hadec", "extra-2000", "header-2000", "pyuvdata3")
#: Per-row header arrays the correlator appends to with each integration.
_PER_ROW = ("time_array", "integration_time", "uvw_array", "ant_1_array", "ant_2_array")


@dataclass
class TileHeader:
    """Metadata shared by the subband files of one tile (Nblts-long arrays time-major)."""

    telescope_name: str
    instrument: str
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    antenna_names: list[str]
    antenna_numbers: np.ndarray
    antenna_positions: np.ndarray  # (Nants_telescope, 3) ECEF minus telescope location, m
    antenna_diameters: np.ndarray
    ant_1_array: np.ndarray
    ant_2_array: np.ndarray
    time_array: np.ndarray  # JD, (Nblts,)
    lst_array: np.ndarray  # rad, (Nblts,)
    integration_time: np.ndarray  # s, (Nblts,)
    uvw_array: np.ndarray  # (Nblts, 3), stored float32
    phase_center_app_ra: np.ndarray
    phase_center_app_dec: np.ndarray
    phase_center_frame_pa: np.ndarray
    phase_center_catalog: dict  # cat_name, cat_type, cat_lon, cat_lat, cat_frame
    polarization_array: np.ndarray
    extra_keywords: dict
    history: str
    n_times: int
    n_bls: int

    @property
    def n_blts(self) -> int:
        return len(self.time_array)


def _bytes(s: str) -> np.bytes_:
    return np.bytes_(s)


def check_file_options(layout: str, header_style: str) -> None:
    if layout not in FILE_LAYOUTS:
        raise ValueError(f"file layout must be one of {FILE_LAYOUTS}, got {layout!r}")
    if header_style not in HEADER_STYLES:
        raise ValueError(f"header style must be one of {HEADER_STYLES}, got {header_style!r}")


def _write_header(h: h5py.Group, header: TileHeader, freq_array: np.ndarray, channel_width: float,
                  nfreqs: int, npols: int, style: str) -> None:
    """Everything in ``Header`` except the per-row arrays."""
    h["version"] = _bytes("1.2")
    h["telescope_name"] = _bytes(header.telescope_name)
    h["instrument"] = _bytes(header.instrument)
    h["latitude"] = header.latitude_deg
    h["longitude"] = header.longitude_deg
    h["altitude"] = header.altitude_m
    h["Nants_telescope"] = len(header.antenna_numbers)
    h["antenna_names"] = np.asarray([_bytes(n) for n in header.antenna_names])
    h["antenna_numbers"] = np.asarray(header.antenna_numbers, dtype=np.int64)
    h["antenna_positions"] = np.asarray(header.antenna_positions, dtype=np.float64)
    h["antenna_diameters"] = np.asarray(header.antenna_diameters, dtype=np.float64)
    h["Nants_data"] = len(np.union1d(header.ant_1_array, header.ant_2_array))
    h["Nbls"] = header.n_bls
    h["Nblts"] = header.n_blts
    h["Nfreqs"] = nfreqs
    h["Npols"] = npols
    h["Nspws"] = 1
    h["Ntimes"] = header.n_times
    h["vis_units"] = _bytes("uncalib")
    h["polarization_array"] = np.asarray(header.polarization_array, dtype=np.int64)
    h["history"] = _bytes(header.history)
    extra = dict(header.extra_keywords)
    if style in ("header-2000", "extra-2000"):  # older writers: 2-D freq_array, scalar width
        h["freq_array"] = np.asarray(freq_array, dtype=np.float64)[None, :]
        h["channel_width"] = abs(channel_width) if style == "extra-2000" else float(channel_width)
        h["spw_array"] = np.ones(1, dtype=np.int64)
    else:
        h["freq_array"] = np.asarray(freq_array, dtype=np.float64)
        h["channel_width"] = np.full(nfreqs, channel_width, dtype=np.float64)
        h["flex_spw_id_array"] = np.zeros(nfreqs, dtype=np.int64)
        h["spw_array"] = np.zeros(1, dtype=np.int64)
    if style == "pyuvdata3":
        h["telescope_frame"] = _bytes("itrs")
        h["mount_type"] = np.asarray([_bytes("alt-az")] * len(header.antenna_numbers))
        h["Nphase"] = 1
        h["lst_array"] = header.lst_array
        h["phase_center_id_array"] = np.zeros(header.n_blts, dtype=np.int64)
        h["phase_center_app_ra"] = header.phase_center_app_ra
        h["phase_center_app_dec"] = header.phase_center_app_dec
        h["phase_center_frame_pa"] = header.phase_center_frame_pa
        h["blts_are_rectangular"] = True
        h["time_axis_faster_than_bls"] = False
        cat = h.create_group("phase_center_catalog").create_group("0")
        for key, value in header.phase_center_catalog.items():
            cat[key] = _bytes(value) if isinstance(value, str) else value
        for key in ("cat_epoch", "cat_times", "cat_pm_ra", "cat_pm_dec", "cat_vrad", "cat_dist"):
            if key not in cat:
                cat[key] = h5py.Empty("f")
        cat["info_source"] = _bytes("user")
    else:  # the correlator's legacy drift header
        h["phase_type"] = _bytes("drift")
        h["object_name"] = _bytes("search")
        extra.setdefault("fs_table", "fringestopping_table.npz")
        extra.setdefault("applied_delays_ns", "0 " * (2 * len(header.antenna_numbers)))
        if style == "header-2000":
            h["phase_center_dec"] = extra.pop("phase_center_dec")
            h["phase_center_epoch"] = 2000
            extra.pop("phase_center_epoch", None)
        elif style == "extra-2000":
            extra["phase_center_epoch"] = 2000
    ek = h.create_group("extra_keywords")
    for key, value in extra.items():
        ek[key] = _bytes(value) if isinstance(value, str) else value


def _per_row_header(header: TileHeader) -> dict[str, np.ndarray]:
    return {
        "time_array": np.asarray(header.time_array, dtype=np.float64),
        "integration_time": np.asarray(header.integration_time, dtype=np.float64),
        "uvw_array": np.asarray(header.uvw_array, dtype=np.float32),  # float32, as real files
        "ant_1_array": np.asarray(header.ant_1_array, dtype=np.int64),
        "ant_2_array": np.asarray(header.ant_2_array, dtype=np.int64),
    }


def _append_like_correlator(f: h5py.File, header: TileHeader, rows: dict[str, np.ndarray],
                            data: dict[str, np.ndarray]) -> None:
    """Empty, extendable, auto-chunked datasets, then one integration appended at a time."""
    targets = []
    for name, values in rows.items():
        shape = values.shape[1:]
        targets.append((f["Header"].create_dataset(name, (0,) + shape, maxshape=(None,) + shape,
                                                   dtype=values.dtype, chunks=True), values))
    for name, values in data.items():
        shape = (1,) + values.shape[1:]  # the legacy spw axis
        targets.append((f["Data"].create_dataset(name, (0,) + shape, maxshape=(None,) + shape,
                                                 dtype=values.dtype, chunks=True), values))
    n_bls = header.n_bls
    for t in range(header.n_times):
        rows_t = slice(t * n_bls, (t + 1) * n_bls)
        for dset, values in targets:
            dset.resize((t + 1) * n_bls, axis=0)
            block = values[rows_t]
            dset[rows_t] = block[:, None] if dset.ndim == 4 else block


def write_subband_file(
    path: str | Path,
    header: TileHeader,
    freq_array: np.ndarray,
    channel_width: float,
    visdata: np.ndarray,
    flags: np.ndarray | None = None,
    nsamples: np.ndarray | None = None,
    *,
    layout: str = "correlator",
    header_style: str = "hadec",
) -> Path:
    """Write one subband file atomically. ``visdata`` is (Nblts, Nfreqs, Npols)
    complex64, time-major; ``channel_width`` negative for descending frequencies.
    ``layout`` and ``header_style``: see the module docstring."""
    check_file_options(layout, header_style)
    path = Path(path)
    nblts, nfreqs, npols = visdata.shape
    if nblts != header.n_blts or npols != len(header.polarization_array) or nfreqs != len(freq_array):
        raise ValueError(f"visdata shape {visdata.shape} does not match the header")
    if header.n_times * header.n_bls != nblts:
        raise ValueError(f"Nblts {nblts} != Ntimes {header.n_times} x Nbls {header.n_bls}")
    data = {
        "visdata": visdata.astype(np.complex64, copy=False),
        "flags": np.zeros(visdata.shape, bool) if flags is None else np.asarray(flags, bool),
        "nsamples": (np.ones(visdata.shape, np.float32) if nsamples is None
                     else nsamples.astype(np.float32, copy=False)),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            h = f.create_group("Header")
            _write_header(h, header, freq_array, channel_width, nfreqs, npols, header_style)
            rows = _per_row_header(header)
            d = f.create_group("Data")
            if layout == "correlator":
                _append_like_correlator(f, header, rows, data)
            else:
                for name, values in rows.items():
                    h[name] = values
                for name, values in data.items():
                    d.create_dataset(name, data=values)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
