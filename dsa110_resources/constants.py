"""DSA-110 facts, in one place (see shared/dsa110-facts.md).

Everything else imports these names; a second copy of a telescope number is a
bug waiting to happen. Values that public sources dispute (the array reference
point) are defaults that configuration may override, never hard-coded inline.
"""

from __future__ import annotations

import astropy.units as u
from astropy.coordinates import EarthLocation

# --- Site -------------------------------------------------------------------
#: Array reference: the "T centre" where the E-W and N-S arms meet (WGS84).
SITE_LATITUDE = 37.233387 * u.deg
SITE_LONGITUDE = -118.283405 * u.deg
SITE_HEIGHT = 1188.05 * u.m
TELESCOPE_NAME = "DSA-110"


def site_location(
    lat: u.Quantity = SITE_LATITUDE,
    lon: u.Quantity = SITE_LONGITUDE,
    height: u.Quantity = SITE_HEIGHT,
) -> EarthLocation:
    """The array reference point as an EarthLocation (overridable)."""
    return EarthLocation.from_geodetic(lon=lon, lat=lat, height=height)


# --- Array ------------------------------------------------------------------
N_STATIONS = 117  # DSA-001..DSA-117, all present in every file's antenna table
N_ACTIVE_ANTENNAS = 96  # antennas carrying data in recent observations
EW_ARM_LATITUDE = 37.2333752 * u.deg  # DSA-001..051
NS_ARM_LONGITUDE = -118.2834051 * u.deg  # DSA-052..102
EW_SPACING = 5.75 * u.m
NS_SPACING = 8.65 * u.m
DISH_DIAMETER = 4.65 * u.m  # 4.7 m in old code is wrong
MOUNT = "ALT-AZ"
SEFD = 6500.0 * u.Jy  # single antenna, per polarisation

# --- Correlator output ------------------------------------------------------
N_SUBBANDS = 16
CHANNELS_PER_SUBBAND = 48
N_CHANNELS = N_SUBBANDS * CHANNELS_PER_SUBBAND  # 768
CHANNEL_WIDTH = 244.140625 * u.kHz
BAND_LOW = 1311.25 * u.MHz  # lower edge of the lowest channel
BAND_HIGH = 1498.75 * u.MHz  # upper edge of the highest channel (sb00)
INTEGRATION_TIME = 12.884902 * u.s  # 96 x 0.134217728 s
INTEGRATIONS_PER_FILE = 24
TILE_DURATION = INTEGRATION_TIME * INTEGRATIONS_PER_FILE  # ~309 s
SIDEREAL_DAY = 86164.0905 * u.s
SIDEREAL_RATE = (360 * u.deg / SIDEREAL_DAY).to(u.rad / u.s)  # the sky's drift (and the uv tracks' turn) per second
POLARIZATIONS = ("XX", "YY")
POLARIZATION_NUMBERS = (-5, -6)  # AIPS/pyuvdata codes for XX, YY
SUBBAND_FILE_PATTERN = r"(?P<timestamp>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})_sb(?P<subband>\d{2})\.hdf5"
SUBBAND_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"

# --- Grouping ---------------------------------------------------------------
GROUP_TOLERANCE = 60 * u.s  # files of one tile differ by seconds of jitter
MIN_SUBBANDS_FOR_CONVERSION = 12  # 12-15 convert after a wait, gaps flagged

# --- Calibration / imaging practice -----------------------------------------
KNOWN_RFI_FREQUENCIES = (1350.0, 1395.0, 1405.0, 1422.0, 1475.0) * u.MHz
BANDPASS_VALIDITY = 12 * u.hour  # +/- around the solve
GAIN_VALIDITY = 1 * u.hour
#: Longest a bandpass may be carried forward past its validity when no
#: calibrator transit was usable (sky-model gains refresh the amplitudes and
#: phases meanwhile); alerted all the while. DSA110_BANDPASS_MAX_AGE_HOURS overrides.
BANDPASS_MAX_AGE = 72 * u.hour
PRIMARY_BEAM_LIMIT = 0.2


def subband_frequencies(subband: int):
    """Channel-centre frequencies of one subband file, in file order (descending).

    sb00 is the highest subband; within a file channels run high to low, as the
    correlator writes them.
    """
    if not 0 <= subband < N_SUBBANDS:
        raise ValueError(f"subband must be 0..{N_SUBBANDS - 1}, got {subband}")
    import numpy as np

    width = CHANNEL_WIDTH.to_value(u.Hz)
    top = BAND_HIGH.to_value(u.Hz) - subband * CHANNELS_PER_SUBBAND * width
    return (top - width / 2 - width * np.arange(CHANNELS_PER_SUBBAND)) * u.Hz


def band_frequencies():
    """All 768 channel centres, ascending, as the Measurement Set holds them."""
    import numpy as np

    width = CHANNEL_WIDTH.to_value(u.Hz)
    return (BAND_LOW.to_value(u.Hz) + width / 2 + width * np.arange(N_CHANNELS)) * u.Hz

# --- Time windows (Dagster partitions mirror these) -------------------------
TILE_WINDOW_MINUTES = 5  # tiles are ~309 s apart: a window holds at most one
TILE_WINDOW_FORMAT = "%Y-%m-%dT%H:%M"
