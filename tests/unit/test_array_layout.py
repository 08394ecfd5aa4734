"""Array layout: station CSV reader, nominal arm geometry, ENU/ECEF helpers."""

import os
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from pyuvdata.utils import ENU_from_ECEF

from dsa110_resources import constants as C
from dsa110_resources.array_layout import (
    default_active_stations,
    ecef_to_enu,
    enu_to_ecef,
    nominal_layout,
    read_station_file,
)

#: The project's shared reference data (never copied into the repository).
REFERENCE = Path(os.environ.get("DSA110_REFERENCE_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
STATION_FILE = REFERENCE / "DSA110_Station_Coordinates.csv"


@pytest.mark.skipif(not STATION_FILE.exists(), reason="operator station file not present")
def test_read_station_file_fills_missing_elevation():
    layout = read_station_file(STATION_FILE)
    assert layout.n_stations == 117
    assert layout.station_numbers[0] == 1 and layout.station_numbers[-1] == 117
    assert np.all(np.isfinite(layout.height))
    assert any("DSA-117" in n for n in layout.notes)
    assert layout.height[-1] == layout.height[-2]  # DSA-116 is the nearest
    enu = layout.enu().to_value(u.m)
    assert np.allclose(enu[:51, 1], enu[0, 1], atol=0.01)  # E-W arm at constant latitude
    assert abs(enu[0, 0] + 198) < 2 and abs(enu[50, 0] - 198) < 2


def test_nominal_layout_geometry():
    layout = nominal_layout()
    enu = layout.enu().to_value(u.m)
    assert layout.n_stations == C.N_STATIONS
    ew = enu[:51, 0]
    steps = np.diff(ew) / C.EW_SPACING.to_value(u.m)
    assert np.allclose(steps, np.round(steps), atol=0.01)  # on the 5.75 m slot grid
    assert abs(ew.min() + 198) < 5 and abs(ew.max() - 198) < 5
    ns = enu[51:102, 1]
    assert np.allclose(np.diff(ns), C.NS_SPACING.to_value(u.m), atol=0.01)
    assert np.allclose(enu[51:102, 0], enu[51, 0], atol=0.01)
    d = np.linalg.norm(enu[:, None, :2] - enu[None, :, :2], axis=-1)
    assert 2400 < d.max() < 3000  # longest baseline ~2.7 km


def test_enu_ecef_roundtrip_matches_pyuvdata():
    layout = nominal_layout()
    ecef = layout.ecef()
    ref = layout.reference
    mine = ecef_to_enu(ecef, ref).to_value(u.m)
    theirs = ENU_from_ECEF(
        ecef.to_value(u.m), latitude=ref.lat.rad, longitude=ref.lon.rad, altitude=ref.height.to_value(u.m)
    )
    assert np.allclose(mine, theirs, atol=1e-6)
    back = enu_to_ecef(mine * u.m, ref).to_value(u.m)
    assert np.allclose(back, ecef.to_value(u.m), atol=1e-6)


def test_default_active_split():
    s = default_active_stations(96)
    assert len(s) == 96 == len(set(s))
    assert (sum(s <= 51), sum((s > 51) & (s <= 102)), sum(s > 102)) == (47, 35, 14)
    tiny = default_active_stations(6)
    assert len(tiny) == 6 and tiny.max() > 102 and tiny.min() <= 51
