"""From per-integration meridian phasing to one sidereal phase centre.

The correlator phases every integration to the meridian (hour angle 0 at the
pointing declination), so the phase centre drifts across the sky during a
tile. The Measurement Set gets one FIELD: the meridian point at the tile's
mid-time, held as an ICRS (J2000) position. Each integration is rotated from
its own centre to that one:

    V_new = V_old * exp(-2 pi i (w_new - w_old) f / c)

with ``w_old`` the file's ``uvw_array`` (what the correlator phased to) and
``u, v, w_new`` recomputed from the antenna positions for the new centre. Both
follow pyuvdata's convention (baseline = antenna 2 minus antenna 1; the MS
writer negates UVW and conjugates DATA, as pyuvdata's write_ms does).

The apparent place of the centre at each integration is the topocentric
apparent position (erfa ``atco13``: precession-nutation, annual and diurnal
aberration, no refraction), and (u, v) are rotated so that v points to ICRS
north: the convention pyuvdata and CASA imagers expect of a J2000 FIELD.
"""

from __future__ import annotations

import astropy.units as u
import erfa
import numpy as np
from astropy.coordinates import ICRS, TETE, EarthLocation, SkyCoord
from astropy.time import Time
from astropy.utils import iers

from .. import constants
from ..earth_orientation import use_cached_table

SPEED_OF_LIGHT = 299792458.0  # m/s


def meridian_centre(time: Time, declination: u.Quantity,
                    location: EarthLocation | None = None) -> SkyCoord:
    """ICRS position of the meridian point (apparent HA 0, Dec of date) at ``time``.

    The one definition of where DSA-110 points: the MS FIELD, the simulator's
    phase centres and the calibrator-transit search all use it. ``location``
    defaults to the array reference; ``time`` may be an array.

    Writing (LST, Dec) straight into a J2000 FIELD would be off by the
    precession since J2000 (7-17 arcmin today); this goes through the true
    equator and equinox of date (TETE) to ICRS.
    """
    use_cached_table()
    location = constants.site_location() if location is None else location
    last = time.sidereal_time("apparent", longitude=location.lon)
    apparent = SkyCoord(ra=last, dec=declination,
                        frame=TETE(obstime=time, location=location))
    icrs = apparent.transform_to(ICRS())
    return SkyCoord(ra=icrs.ra, dec=icrs.dec, frame="icrs")


def _earth_orientation(times: Time) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UT1-UTC (s) and polar motion (rad) from astropy's IERS tables."""
    use_cached_table()
    table = iers.earth_orientation_table.get()
    xp, yp = table.pm_xy(times)
    return (np.atleast_1d(times.delta_ut1_utc),
            np.atleast_1d(xp.to_value(u.rad)), np.atleast_1d(yp.to_value(u.rad)))


def apparent_place(centre: SkyCoord, times: Time, location: EarthLocation
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Topocentric apparent (equinox-based) RA, Dec in radians of an ICRS position."""
    times = Time(np.atleast_1d(times.jd), format="jd", scale="utc")
    dut1, xp, yp = _earth_orientation(times)
    ra = np.broadcast_to(centre.icrs.ra.rad, times.shape)
    dec = np.broadcast_to(centre.icrs.dec.rad, times.shape)
    _, _, _, app_dec, app_ra_cio, eo = erfa.atco13(
        ra, dec, 0.0, 0.0, 0.0, 0.0, times.jd1, times.jd2, dut1,
        location.lon.rad, location.lat.rad, location.height.to_value(u.m),
        xp, yp, 0.0, 0.0, 0.0, 0.0,
    )
    return np.mod(app_ra_cio - eo, 2 * np.pi), app_dec


def _icrs_north_angle(centre: SkyCoord, times: Time, location: EarthLocation,
                      app_ra: np.ndarray, app_dec: np.ndarray) -> np.ndarray:
    """Position angle (east of apparent north) of the ICRS north direction."""
    step = 0.5 * u.deg
    north = SkyCoord(centre.icrs.ra, centre.icrs.dec + step, frame="icrs")
    south = SkyCoord(centre.icrs.ra, centre.icrs.dec - step, frame="icrs")
    n_ra, n_dec = apparent_place(north, times, location)
    s_ra, s_dec = apparent_place(south, times, location)
    # Position angle of north seen from south, in the apparent frame.
    pa = np.arctan2(np.sin(n_ra - s_ra) * np.cos(n_dec),
                    np.cos(s_dec) * np.sin(n_dec) - np.sin(s_dec) * np.cos(n_dec) * np.cos(n_ra - s_ra))
    return pa


def antenna_uvw(
    centre: SkyCoord,
    times: Time,
    location: EarthLocation,
    antenna_positions: np.ndarray,
) -> np.ndarray:
    """Per-antenna (u, v, w) in metres, shape (Ntimes, Nants, 3), toward ``centre``.

    ``antenna_positions`` are ECEF offsets from ``location`` (as in UVH5).
    The baseline uvw of (a1, a2) is ``uvw[t, a2] - uvw[t, a1]``.
    """
    use_cached_table()
    times = Time(np.atleast_1d(times.jd), format="jd", scale="utc")
    app_ra, app_dec = apparent_place(centre, times, location)
    last = times.sidereal_time("apparent", longitude=location.lon).rad
    pa = _icrs_north_angle(centre, times, location, app_ra, app_dec)
    gha = last - location.lon.rad - app_ra  # hour angle seen from Greenwich
    cd, sd, ch, sh = np.cos(app_dec), np.sin(app_dec), np.cos(gha), np.sin(gha)
    zero = np.zeros_like(gha)
    # Unit vectors of the source, local east and north on the sky, Earth-fixed.
    s_hat = np.stack([cd * ch, -cd * sh, sd], axis=-1)
    e_hat = np.stack([sh, ch, zero], axis=-1)
    n_hat = np.stack([-sd * ch, sd * sh, cd], axis=-1)
    # Turn (east, north) so that v points to ICRS north.
    cp, sp = np.cos(pa)[:, None], np.sin(pa)[:, None]
    u_hat = cp * e_hat - sp * n_hat
    v_hat = sp * e_hat + cp * n_hat
    basis = np.stack([u_hat, v_hat, s_hat], axis=1)  # (Ntimes, 3 [uvw], 3 [xyz])
    return np.einsum("tkx,ax->tak", basis, np.asarray(antenna_positions, dtype=np.float64))


def baseline_uvw(
    centre: SkyCoord,
    time_jd: np.ndarray,
    ant1_index: np.ndarray,
    ant2_index: np.ndarray,
    location: EarthLocation,
    antenna_positions: np.ndarray,
) -> np.ndarray:
    """(Nblts, 3) uvw (antenna 2 minus antenna 1) for rows given by time and antenna indices.

    ``ant*_index`` index ``antenna_positions`` rows (not antenna numbers).
    Work is per unique time: a tile has 24.
    """
    unique, inverse = np.unique(time_jd, return_inverse=True)
    per_antenna = antenna_uvw(centre, Time(unique, format="jd", scale="utc"), location,
                              antenna_positions)
    return per_antenna[inverse, ant2_index] - per_antenna[inverse, ant1_index]
