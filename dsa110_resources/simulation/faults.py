"""Faulty and hostile subband files, made from good simulated ones.

What a correlator, a copier or an attacker can put in the incoming directory:
visibilities that are NaN/Inf, a file cut short, a file whose visibilities
live in another file on the host (an HDF5 external dataset), a file named
for another time than its data. Used by the fault tests and the soak
(``dsa110_assets.soak``); each returns the path it wrote.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np


def set_visibilities(path: Path, cells: dict[tuple[int, int, int], complex]) -> Path:
    """Write values into ``Data/visdata`` at ``(row, channel, pol)`` and clear their flags."""
    with h5py.File(path, "r+") as h:
        vis, flags = h["Data/visdata"], h["Data/flags"]
        for (row, chan, pol), value in cells.items():
            index = (row, 0, chan, pol) if vis.ndim == 4 else (row, chan, pol)
            vis[index] = value
            flags[index] = False
    return path


def nonfinite_cells(n: int, seed: int = 0, n_rows: int = 100, n_channels: int = 48) -> dict:
    """``n`` distinct cells set to NaN or Inf (for ``set_visibilities``)."""
    rng = np.random.default_rng(seed)
    values = [complex(np.nan, 0), complex(np.inf, 1), complex(1, -np.inf), complex(np.nan, np.nan)]
    cells: dict = {}
    while len(cells) < n:
        cell = (int(rng.integers(n_rows)), int(rng.integers(n_channels)), int(rng.integers(2)))
        cells[cell] = values[len(cells) % len(values)]
    return cells


def truncate(path: Path, keep_bytes: int = 4096) -> Path:
    """Cut the file short, as a copy or write that stopped half-way leaves it."""
    with open(path, "r+b") as f:
        f.truncate(keep_bytes)
    return path


def external_dataset_copy(source: Path, dest: Path, secret: Path) -> Path:
    """``source``'s header and flags, with ``Data/visdata`` stored in ``secret`` (any file on the host)."""
    with h5py.File(source) as src, h5py.File(dest, "w") as dst:
        src.copy("Header", dst)
        for name in ("flags", "nsamples"):
            src.copy(f"Data/{name}", dst, name=f"Data/{name}")
        dst.create_dataset("Data/visdata", src["Data/visdata"].shape, dtype=np.complex64,
                           external=[(str(secret), 0, h5py.h5f.UNLIMITED)])
    return dest


def misnamed_copy(source: Path, dest_dir: Path, name_time: str) -> Path:
    """``source`` under a name claiming another time (``YYYY-MM-DDTHH:MM:SS``)."""
    subband = source.name.rsplit("_", 1)[1]
    dest = Path(dest_dir) / f"{name_time}_{subband}"
    shutil.copyfile(source, dest)
    return dest
