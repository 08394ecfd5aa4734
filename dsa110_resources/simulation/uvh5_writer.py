"""Write subband files in the correlator's UVH5 layout with h5py.

Why not ``UVData.write_uvh5``: real DSA-110 files store ``uvw_array`` as
float32 (pyuvdata writes float64), and building a full-size UVData per
subband costs seconds we do not have. The layout mirrors what pyuvdata 3.2
writes (``Header/`` + ``Data/visdata|flags|nsamples``) so pyuvdata reads the
files with ``file_type="uvh5"`` and relaxed checks, plus the DSA-110
``Header/extra_keywords`` (``phase_center_dec``, ``ha_phase_center``,
``phase_center_epoch``). The phase centre is a pyuvdata ``driftscan`` entry
fixed in alt-az on the meridian.

Each file is written under a hidden temporary name in the destination
directory and renamed into place, so a watcher never sees half a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

__all__ = ["TileHeader", "write_subband_file"]


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


def write_subband_file(
    path: str | Path,
    header: TileHeader,
    freq_array: np.ndarray,
    channel_width: float,
    visdata: np.ndarray,
    flags: np.ndarray | None = None,
    nsamples: np.ndarray | None = None,
) -> Path:
    """Write one subband file atomically. ``visdata`` is (Nblts, Nfreqs, Npols)
    complex64; ``channel_width`` negative for descending frequencies."""
    path = Path(path)
    nblts, nfreqs, npols = visdata.shape
    if nblts != header.n_blts or npols != len(header.polarization_array) or nfreqs != len(freq_array):
        raise ValueError(f"visdata shape {visdata.shape} does not match the header")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            h = f.create_group("Header")
            h["version"] = _bytes("1.2")
            h["telescope_name"] = _bytes(header.telescope_name)
            h["telescope_frame"] = _bytes("itrs")
            h["instrument"] = _bytes(header.instrument)
            h["latitude"] = header.latitude_deg
            h["longitude"] = header.longitude_deg
            h["altitude"] = header.altitude_m
            h["Nants_telescope"] = len(header.antenna_numbers)
            h["antenna_names"] = np.asarray([_bytes(n) for n in header.antenna_names])
            h["antenna_numbers"] = np.asarray(header.antenna_numbers, dtype=np.int64)
            h["antenna_positions"] = np.asarray(header.antenna_positions, dtype=np.float64)
            h["antenna_diameters"] = np.asarray(header.antenna_diameters, dtype=np.float64)
            h["mount_type"] = np.asarray([_bytes("alt-az")] * len(header.antenna_numbers))
            ants = np.union1d(header.ant_1_array, header.ant_2_array)
            h["Nants_data"] = len(ants)
            h["Nbls"] = header.n_bls
            h["Nblts"] = nblts
            h["Nfreqs"] = nfreqs
            h["Npols"] = npols
            h["Nspws"] = 1
            h["Ntimes"] = header.n_times
            h["Nphase"] = 1
            h["uvw_array"] = np.asarray(header.uvw_array, dtype=np.float32)
            h["vis_units"] = _bytes("uncalib")
            h["channel_width"] = np.full(nfreqs, channel_width, dtype=np.float64)
            h["freq_array"] = np.asarray(freq_array, dtype=np.float64)
            h["flex_spw_id_array"] = np.zeros(nfreqs, dtype=np.int64)
            h["spw_array"] = np.zeros(1, dtype=np.int64)
            h["time_array"] = header.time_array
            h["integration_time"] = header.integration_time
            h["lst_array"] = header.lst_array
            h["polarization_array"] = np.asarray(header.polarization_array, dtype=np.int64)
            h["ant_1_array"] = np.asarray(header.ant_1_array, dtype=np.int64)
            h["ant_2_array"] = np.asarray(header.ant_2_array, dtype=np.int64)
            h["phase_center_id_array"] = np.zeros(nblts, dtype=np.int64)
            h["phase_center_app_ra"] = header.phase_center_app_ra
            h["phase_center_app_dec"] = header.phase_center_app_dec
            h["phase_center_frame_pa"] = header.phase_center_frame_pa
            h["blts_are_rectangular"] = True
            h["time_axis_faster_than_bls"] = False
            h["history"] = _bytes(header.history)
            cat = h.create_group("phase_center_catalog").create_group("0")
            for key, value in header.phase_center_catalog.items():
                cat[key] = _bytes(value) if isinstance(value, str) else value
            for key in ("cat_epoch", "cat_times", "cat_pm_ra", "cat_pm_dec", "cat_vrad", "cat_dist"):
                if key not in cat:
                    cat[key] = h5py.Empty("f")
            cat["info_source"] = _bytes("user")
            ek = h.create_group("extra_keywords")
            for key, value in header.extra_keywords.items():
                ek[key] = _bytes(value) if isinstance(value, str) else value
            d = f.create_group("Data")
            d.create_dataset("visdata", data=visdata.astype(np.complex64, copy=False))
            d.create_dataset(
                "flags", data=np.zeros(visdata.shape, bool) if flags is None else flags
            )
            d.create_dataset(
                "nsamples",
                data=np.ones(visdata.shape, np.float32) if nsamples is None else nsamples.astype(np.float32),
            )
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
