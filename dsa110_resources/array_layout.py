"""Where the DSA-110 stations are: the real station file or a nominal layout.

Two sources of station positions:

* :func:`read_station_file` reads the operator-supplied station CSV (six preamble
  rows, then ``,Station Number,Latitude,Longitude,Elevation (meters)``, first
  column blank). The product never ships a copy of that file.
* :func:`nominal_layout` builds a layout from the published arm geometry
  (constants in :mod:`dsa110_resources.constants`) for demos and simulation.

Both return an :class:`ArrayLayout`: 117 stations with geodetic positions,
plus ECEF and ENU (relative to the array reference point) helpers. Antenna
numbering convention used across the product (simulator, converter): antenna
number = station number - 1 (0..116), antenna name = the station number as a
string ("1".."117"), so reference antenna "103" is station DSA-103.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import EarthLocation

from dsa110_resources import constants as C

__all__ = [
    "ArrayLayout",
    "default_active_stations",
    "ecef_to_enu",
    "enu_to_ecef",
    "nominal_layout",
    "read_station_file",
]

#: Station-number ranges of the three groups (inclusive).
EW_STATIONS = range(1, 52)
NS_STATIONS = range(52, 103)
OUTRIGGER_STATIONS = range(103, 118)
#: Active antennas per group in recent data (47 E-W, 35 N-S, 14 outriggers).
_ACTIVE_SPLIT_96 = (47, 35, 14)
_STATION_NAME = re.compile(r"DSA-\d{3}", re.IGNORECASE)


def _rotation_ecef_to_enu(lat_rad: float, lon_rad: float) -> np.ndarray:
    """Rows are the E, N, U unit vectors in ECEF at a geodetic (lat, lon)."""
    sl, cl = np.sin(lat_rad), np.cos(lat_rad)
    so, co = np.sin(lon_rad), np.cos(lon_rad)
    return np.array(
        [
            [-so, co, 0.0],
            [-sl * co, -sl * so, cl],
            [cl * co, cl * so, sl],
        ]
    )


def ecef_to_enu(ecef: u.Quantity, reference: EarthLocation) -> u.Quantity:
    """ECEF positions (..., 3) to local East-North-Up about ``reference``."""
    ref = np.array([reference.x.to_value(u.m), reference.y.to_value(u.m), reference.z.to_value(u.m)])
    rot = _rotation_ecef_to_enu(reference.lat.to_value(u.rad), reference.lon.to_value(u.rad))
    return ((ecef.to_value(u.m) - ref) @ rot.T) * u.m


def enu_to_ecef(enu: u.Quantity, reference: EarthLocation) -> u.Quantity:
    """Local East-North-Up (..., 3) about ``reference`` to ECEF positions."""
    ref = np.array([reference.x.to_value(u.m), reference.y.to_value(u.m), reference.z.to_value(u.m)])
    rot = _rotation_ecef_to_enu(reference.lat.to_value(u.rad), reference.lon.to_value(u.rad))
    return (enu.to_value(u.m) @ rot + ref) * u.m


@dataclass(frozen=True)
class ArrayLayout:
    """Station positions of the whole array (all 117 slots).

    ``station_numbers`` are 1-based (DSA-001 -> 1); ``antenna_numbers`` follow
    the product convention (station - 1). ``notes`` records anything filled in
    (e.g. a missing elevation) so it can be reported, never silently assumed.
    """

    station_numbers: np.ndarray
    latitude: u.Quantity
    longitude: u.Quantity
    height: u.Quantity
    reference: EarthLocation = field(default_factory=C.site_location)
    source: str = "nominal"
    notes: tuple[str, ...] = ()

    @property
    def n_stations(self) -> int:
        return len(self.station_numbers)

    @property
    def antenna_numbers(self) -> np.ndarray:
        return np.asarray(self.station_numbers, dtype=int) - 1

    @property
    def antenna_names(self) -> list[str]:
        return [str(int(s)) for s in self.station_numbers]

    @property
    def station_names(self) -> list[str]:
        return [f"DSA-{int(s):03d}" for s in self.station_numbers]

    @property
    def locations(self) -> EarthLocation:
        return EarthLocation.from_geodetic(lon=self.longitude, lat=self.latitude, height=self.height)

    def ecef(self) -> u.Quantity:
        """Absolute ECEF (ITRF/WGS84) positions, shape (n_stations, 3)."""
        loc = self.locations
        return np.stack([loc.x.to(u.m), loc.y.to(u.m), loc.z.to(u.m)], axis=-1)

    def relative_ecef(self) -> u.Quantity:
        """ECEF minus the reference point: what UVH5 ``antenna_positions`` holds."""
        ref = self.reference
        return self.ecef() - np.array([ref.x.to_value(u.m), ref.y.to_value(u.m), ref.z.to_value(u.m)]) * u.m

    def enu(self) -> u.Quantity:
        """East-North-Up offsets from the reference point, shape (n_stations, 3)."""
        return ecef_to_enu(self.ecef(), self.reference)

    def group(self, station: int) -> str:
        """'ew', 'ns' or 'outrigger' for a station number."""
        if station in EW_STATIONS:
            return "ew"
        if station in NS_STATIONS:
            return "ns"
        return "outrigger"


def read_station_file(path: str | Path, reference: EarthLocation | None = None) -> ArrayLayout:
    """Read the DSA-110 station CSV (the operator's copy, at a configured path).

    Rows without a station name of the form ``DSA-NNN`` (the preamble) are
    skipped. A station with no elevation (DSA-117 in the 2022 file) gets the
    elevation of the nearest station that has one: the site is flat to a few
    metres over the array, so this is within the file's own precision; the
    fill is recorded in ``notes``.
    """
    path = Path(path)
    numbers, lats, lons, heights = [], [], [], []
    with path.open(newline="") as fh:
        for row in csv.reader(fh):
            cells = [c.strip() for c in row]
            name = next((c for c in cells if _STATION_NAME.fullmatch(c)), None)
            if name is None:
                continue
            idx = cells.index(name)
            try:
                number = int(name.split("-")[1])
                lat = float(cells[idx + 1])
                lon = float(cells[idx + 2])
            except (IndexError, ValueError) as exc:
                raise ValueError(f"{path}: malformed station row {row!r}") from exc
            elev = cells[idx + 3] if len(cells) > idx + 3 else ""
            numbers.append(number)
            lats.append(lat)
            lons.append(lon)
            heights.append(float(elev) if elev else np.nan)
    if not numbers:
        raise ValueError(f"{path}: no DSA-NNN station rows found")
    numbers = np.array(numbers)
    lats, lons, heights = np.array(lats), np.array(lons), np.array(heights)
    notes = []
    missing = np.flatnonzero(np.isnan(heights))
    have = np.flatnonzero(~np.isnan(heights))
    if len(have) == 0:
        raise ValueError(f"{path}: no station has an elevation")
    coslat = np.cos(np.deg2rad(lats.mean()))
    for i in missing:
        d2 = ((lats[have] - lats[i]) ** 2 + ((lons[have] - lons[i]) * coslat) ** 2)
        j = have[np.argmin(d2)]
        heights[i] = heights[j]
        notes.append(
            f"DSA-{numbers[i]:03d} has no elevation in {path.name}; "
            f"used {heights[j]:.1f} m from nearest station DSA-{numbers[j]:03d}"
        )
    order = np.argsort(numbers)
    return ArrayLayout(
        station_numbers=numbers[order],
        latitude=lats[order] * u.deg,
        longitude=lons[order] * u.deg,
        height=heights[order] * u.m,
        reference=reference if reference is not None else C.site_location(),
        source=str(path),
        notes=tuple(notes),
    )


def nominal_layout(reference: EarthLocation | None = None) -> ArrayLayout:
    """A DSA-110 layout built from the published arm geometry (no station file).

    * E-W arm (DSA-001..051) on the arm latitude, on a 5.75 m slot grid spanning
      +-198 m, with a gap around the T where the N-S arm starts (as the real
      arm has): 22 stations west (-195.5..-74.75 m), 29 east (+34.5..+195.5 m).
    * N-S arm (DSA-052..102) on the arm longitude, 8.65 m apart from 8.65 m to
      ~441 m north of the T.
    * Outriggers (DSA-103..117) 0.5-1.6 km from the T, spread over azimuths
      within 100 deg of north (golden-ratio sequence, deterministic), so the
      longest baseline is ~2.7 km as in the real array.

    Heights are the reference height. Positions are good to metres, which is
    all a simulation needs; science on real data uses the station file.
    """
    ref = reference if reference is not None else C.site_location()
    ew_spacing = C.EW_SPACING.to_value(u.m)
    ns_spacing = C.NS_SPACING.to_value(u.m)
    slots = np.r_[np.arange(-34, -12), np.arange(6, 35)]  # 22 + 29 = 51 slots
    ew_east = slots * ew_spacing
    ns_north = ns_spacing * np.arange(1, 52)
    k = np.arange(15)
    radius = 500.0 + 1100.0 * k / 14.0
    angle = np.deg2rad(-100.0 + 200.0 * ((k * 0.6180339887) % 1.0))  # mostly north, as built
    out_east, out_north = radius * np.sin(angle), radius * np.cos(angle)

    # Offsets along the arms mapped through the ellipsoid, then the arm's
    # constant latitude (E-W) / longitude (N-S) from the facts imposed exactly.
    def geodetic(east, north):
        enu = np.stack([east, north, np.zeros_like(east)], axis=-1) * u.m
        loc = EarthLocation.from_geocentric(*enu_to_ecef(enu, ref).T)
        return loc.lat.to_value(u.deg), loc.lon.to_value(u.deg)

    _, ew_lon = geodetic(ew_east, np.zeros(51))
    ew_lat = np.full(51, C.EW_ARM_LATITUDE.to_value(u.deg))
    ns_lat, _ = geodetic(np.zeros(51), ns_north)
    ns_lon = np.full(51, C.NS_ARM_LONGITUDE.to_value(u.deg))
    out_lat, out_lon = geodetic(out_east, out_north)
    lat = np.r_[ew_lat, ns_lat, out_lat]
    lon = np.r_[ew_lon, ns_lon, out_lon]
    height = np.full(117, ref.height.to_value(u.m))
    return ArrayLayout(
        station_numbers=np.arange(1, 118),
        latitude=lat * u.deg,
        longitude=lon * u.deg,
        height=height * u.m,
        reference=ref,
        source="nominal",
        notes=("nominal layout from arm geometry; positions good to ~metres",),
    )


def default_active_stations(n_active: int = C.N_ACTIVE_ANTENNAS) -> np.ndarray:
    """Station numbers carrying data, spread over the three groups.

    For 96 this is the recent split (47 E-W, 35 N-S, 14 outriggers); other
    counts scale that split (at least one outrigger once n >= 3) and take
    evenly spaced stations within each group, so a tiny array still has
    short, long, E-W and N-S baselines.
    """
    if not 1 <= n_active <= C.N_STATIONS:
        raise ValueError(f"n_active must be 1..{C.N_STATIONS}, got {n_active}")
    groups = [np.array(EW_STATIONS), np.array(NS_STATIONS), np.array(OUTRIGGER_STATIONS)]
    weights = np.array(_ACTIVE_SPLIT_96, float) / sum(_ACTIVE_SPLIT_96)
    counts = np.floor(weights * n_active).astype(int)
    if n_active >= 3:
        counts = np.maximum(counts, 1)
    while counts.sum() < n_active:  # hand out the remainder, E-W first
        for g in range(3):
            if counts.sum() < n_active and counts[g] < len(groups[g]):
                counts[g] += 1
    while counts.sum() > n_active:
        counts[np.argmax(counts)] -= 1
    chosen = []
    for grp, n in zip(groups, counts):
        if n:
            idx = np.round(np.linspace(0, len(grp) - 1, n)).astype(int)
            chosen.append(grp[idx])
    return np.sort(np.concatenate(chosen))
