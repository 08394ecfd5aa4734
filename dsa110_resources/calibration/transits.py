"""Which tiles hold a calibrator transit, ranked by beam-weighted flux.

DSA-110 drift-scans on the meridian, so a calibrator is observed when its
right ascension crosses the meridian point while the dishes point near its
declination. A tile holds a transit when the calibrator's meridian crossing
falls inside the tile's time range; how useful it is depends on how close
the pointing declination is, i.e. on the primary beam. The ranking figure is
the calibrator flux times the drift-averaged beam response over the tile
(the beam model of :mod:`dsa110_resources.imaging.primary_beam`, the one home
of the dish response), so a 22 Jy source 1 deg off the pointing can lose to an
8.8 Jy source at beam centre.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time

from dsa110_resources import constants as C
from dsa110_resources.catalogs import DEFAULT_CALIBRATORS, Calibrator
from dsa110_resources.imaging.primary_beam import DriftScanBeam

__all__ = ["TilePointing", "Transit", "best_transit", "find_transits", "rank_calibrator_tiles",
           "transit_schedule"]

#: Drift-averaged response below which a transit is not worth calibrating on.
DEFAULT_MIN_RESPONSE = 0.5
#: No calibrator further than this from the pointing declination reaches the
#: response limit (Airy FWHM ~2.7 deg at 1.31 GHz: half power at ~1.4 deg).
SEARCH_DEC = 3 * u.deg


@dataclass(frozen=True)
class TilePointing:
    """A tile's time range and where the dishes point (meridian, dec of date)."""

    tile_id: str
    start_time: Time
    end_time: Time
    pointing_mid: SkyCoord  # ICRS of the meridian point at mid-time (the MS FIELD)

    @property
    def mid_time(self) -> Time:
        return self.start_time + (self.end_time - self.start_time) / 2

    @classmethod
    def from_declination(cls, tile_id: str, start_time: Time, end_time: Time,
                         declination: u.Quantity, location: EarthLocation | None = None) -> TilePointing:
        """From the pointing declination of date (as the raw files carry it)."""
        from dsa110_resources.conversion.phasing import meridian_centre

        mid = start_time + (end_time - start_time) / 2
        return cls(tile_id, start_time, end_time, meridian_centre(mid, declination, location))

    @classmethod
    def from_ms(cls, ms: str | Path) -> TilePointing:
        """From a converted tile's MS (time span and FIELD phase centre)."""
        from dsa110_resources.tileinfo import TileInfo

        obs = TileInfo.read(ms)
        return cls(obs.tile_id, obs.start_time, obs.end_time, obs.phase_center)

    def beam(self, freq: u.Quantity = 1.4 * u.GHz, time_samples: int = 25) -> DriftScanBeam:
        return DriftScanBeam(pointing_mid=self.pointing_mid, mid_time=self.mid_time, start_time=self.start_time,
                             end_time=self.end_time, frequencies=np.atleast_1d(freq.to_value(u.Hz)) * u.Hz,
                             time_samples=time_samples, freq_samples=1)


@dataclass(frozen=True)
class Transit:
    """A calibrator crossing the meridian inside a tile."""

    tile_id: str
    calibrator: str
    transit_time: Time
    flux: u.Quantity  # catalog flux at the reference frequency
    beam_response: float  # drift-averaged over the tile
    offset: u.Quantity  # angular distance from the pointing at transit

    @property
    def weighted_flux(self) -> u.Quantity:
        return self.flux * self.beam_response


def _transit_time(coord: SkyCoord, tile: TilePointing) -> Time:
    """When the source crosses the meridian nearest the tile's mid-time."""
    dra = (coord.ra - tile.pointing_mid.ra).wrap_at(180 * u.deg)
    return tile.mid_time + (dra.to(u.rad) / C.SIDEREAL_RATE).to(u.s)


def _unique_with_flux(calibrators: Mapping[str, Calibrator]) -> list[Calibrator]:
    """One entry per source (lists hold aliases), variables without a flux left out."""
    seen: dict[str, Calibrator] = {}
    for cal in calibrators.values():
        if cal.flux is not None:
            seen.setdefault(cal.name, cal)
    return list(seen.values())


def _near_meridian(calibrators: Mapping[str, Calibrator], tile: TilePointing) -> list[Calibrator]:
    """A cheap cut before the exact test: RA within the tile's span (plus a margin) of the
    pointing and Dec within ``SEARCH_DEC`` of it, so thousands of list entries cost little."""
    cals = _unique_with_flux(calibrators)
    if not cals:
        return []
    ra = np.array([c.coord.ra.deg for c in cals])
    dec = np.array([c.coord.dec.deg for c in cals])
    span = ((tile.end_time - tile.start_time) * C.SIDEREAL_RATE).to_value(u.deg, u.dimensionless_angles())
    dra = (ra - tile.pointing_mid.ra.deg + 180.0) % 360.0 - 180.0
    keep = (np.abs(dra) <= span / 2 + 1.0) & (np.abs(dec - tile.pointing_mid.dec.deg) <= SEARCH_DEC.to_value(u.deg))
    return [c for c, k in zip(cals, keep) if k]


def find_transits(
    tile: TilePointing,
    calibrators: Mapping[str, Calibrator] | None = None,
    *,
    freq: u.Quantity = 1.4 * u.GHz,
    min_response: float = DEFAULT_MIN_RESPONSE,
) -> list[Transit]:
    """Calibrators transiting inside ``tile`` with enough beam, brightest first.

    Variable calibrators without a flux are skipped: they cannot be ranked
    (nor modelled) until someone supplies a measured flux.
    """
    calibrators = DEFAULT_CALIBRATORS if calibrators is None else calibrators
    beam = tile.beam(freq)
    found: list[Transit] = []
    for cal in _near_meridian(calibrators, tile):
        when = _transit_time(cal.coord, tile)
        if not (tile.start_time <= when <= tile.end_time):
            continue
        response = float(beam.response(cal.coord))
        if response < min_response:
            continue
        offset = abs(cal.coord.dec - tile.pointing_mid.dec).to(u.deg)
        found.append(Transit(tile.tile_id, cal.name, when, cal.flux_at(freq), response, offset))
    found.sort(key=lambda t: -t.weighted_flux.to_value(u.Jy))
    return found


def rank_calibrator_tiles(
    tiles: Iterable[TilePointing],
    calibrators: Mapping[str, Calibrator] | None = None,
    **kwargs,
) -> list[Transit]:
    """Every calibrator transit in ``tiles``, best (highest beam-weighted flux) first."""
    out = [t for tile in tiles for t in find_transits(tile, calibrators, **kwargs)]
    out.sort(key=lambda t: -t.weighted_flux.to_value(u.Jy))
    return out


def best_transit(tile: TilePointing, calibrators: Mapping[str, Calibrator] | None = None,
                 **kwargs) -> Transit | None:
    """The brightest (beam-weighted) transit in a tile, or None."""
    found = find_transits(tile, calibrators, **kwargs)
    return found[0] if found else None


def transit_schedule(
    declination: u.Quantity,
    start: Time,
    end: Time,
    calibrators: Mapping[str, Calibrator] | None = None,
    *,
    tile_duration: u.Quantity = C.TILE_DURATION,
    freq: u.Quantity = 1.4 * u.GHz,
    min_response: float = DEFAULT_MIN_RESPONSE,
    location: EarthLocation | None = None,
) -> list[Transit]:
    """Every usable calibrator transit at a pointing declination between ``start`` and ``end``.

    For planning and for checking a declination's coverage: each calibrator
    within reach of the declination crosses the meridian once a sidereal
    day; its response is that of a tile centred on its transit. The
    ``tile_id`` of each transit is the ISO time of that tile's start.
    """
    from dsa110_resources.conversion.phasing import meridian_centre

    calibrators = DEFAULT_CALIBRATORS if calibrators is None else calibrators
    sidereal_day = (360 * u.deg / C.SIDEREAL_RATE).to(u.s)
    origin = meridian_centre(start, declination, location)
    dec = origin.dec
    out: list[Transit] = []
    for cal in _unique_with_flux(calibrators):
        if abs((cal.coord.dec - dec).to_value(u.deg)) > SEARCH_DEC.to_value(u.deg):
            continue
        first = start + (((cal.coord.ra - origin.ra).wrap_at(360 * u.deg)).to(u.rad) / C.SIDEREAL_RATE).to(u.s)
        tile = TilePointing.from_declination("", first - tile_duration / 2, first + tile_duration / 2,
                                             declination, location)
        found = [t for t in find_transits(tile, {cal.name: cal}, freq=freq, min_response=min_response)]
        if not found:
            continue
        when = found[0].transit_time
        while when <= end:
            if when >= start:
                tile_id = (when - tile_duration / 2).utc.isot[:19]
                out.append(Transit(tile_id, cal.name, when, found[0].flux, found[0].beam_response,
                                   found[0].offset))
            when = when + sidereal_day
    out.sort(key=lambda t: t.transit_time)
    return out
