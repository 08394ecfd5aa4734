"""Subband files read by pyuvdata, the independent reference of the tests.

pyuvdata reads the correlator's legacy ``drift`` header as unprojected
(phased to zenith). The data are phased to the meridian at the pointing
declination at every integration: in pyuvdata 3 terms a ``driftscan`` centre
fixed in alt-az on the meridian (the facts file). ``read_with_pyuvdata``
declares that centre, from nothing but the file's own latitude and
``phase_center_dec``, before anything is rephased.
"""

from __future__ import annotations

import warnings

import h5py
import numpy as np
from pyuvdata import UVData


def pointing_dec_rad(path) -> float:
    """``phase_center_dec`` from ``extra_keywords`` or, in the oldest files, ``Header``."""
    with h5py.File(path) as h:
        for group in (h["Header/extra_keywords"], h["Header"]):
            if "phase_center_dec" in group:
                return float(group["phase_center_dec"][()])
    raise KeyError(f"{path}: no phase_center_dec")


def read_with_pyuvdata(path) -> UVData:
    uv = UVData()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uv.read(str(path), file_type="uvh5", run_check=False)
    uv.uvw_array = uv.uvw_array.astype(np.float64)  # real files store float32
    ((cat_id, entry),) = uv.phase_center_catalog.items()
    if entry["cat_type"] == "unprojected":
        lat = uv.telescope.location.lat.rad
        dec = pointing_dec_rad(path)
        uv._remove_phase_center(cat_id)
        uv._add_phase_center("meridian", cat_type="driftscan", cat_lon=0.0 if dec > lat else np.pi,
                             cat_lat=np.pi / 2 - abs(dec - lat), cat_frame="altaz", cat_id=cat_id)
        uv._set_app_coords_helper()
    return uv
