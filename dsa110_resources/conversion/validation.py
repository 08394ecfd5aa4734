"""Checks every subband file passes before its data are used.

Per file: readable HDF5 with the expected datasets and shapes, 48 channels
at the frequencies its subband number implies, two linear polarisations,
a rectangular baseline-time grid with finite times that start when the
file's name says, antenna indices inside the antenna table. Across the tile: the same times, baselines, antennas and
pointing declination in every file. A failure raises an error naming the
file (or files) and the problem; the converter quarantines the tile with
that message and carries on with the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import datetime as dt

import astropy.units as u
import numpy as np
from astropy.time import Time

from .. import constants
from .grouping import SubbandPath
from .naming import format_timestamp, parse_subband_name
from .uvh5_reader import InvalidSubbandFile, SubbandHeader, read_header


class InconsistentTile(ValueError):
    """Files of one tile disagree; the message names the files and what differs."""

    def __init__(self, tile_id: str, problem: str, paths: Sequence = ()):
        self.tile_id, self.problem, self.paths = tile_id, problem, list(paths)
        super().__init__(f"tile {tile_id}: {problem}")


@dataclass(frozen=True)
class ValidationLimits:
    """Tolerances of the checks (documented defaults, all overridable)."""

    frequency_tolerance: u.Quantity = 1.0 * u.kHz  # channel centres vs the band plan
    time_tolerance: u.Quantity = 0.1 * u.s  # the same integration across subbands
    declination_tolerance: u.Quantity = 1.0 * u.arcsec
    antenna_position_tolerance: u.Quantity = 1.0 * u.mm
    n_channels: int = constants.CHANNELS_PER_SUBBAND
    polarizations: tuple[int, ...] = constants.POLARIZATION_NUMBERS
    check_integrations: int | None = constants.INTEGRATIONS_PER_FILE  # None: any count
    #: The file name's time vs its first integration's start: beyond the
    #: grouping tolerance the name would file the data under another tile.
    name_time_tolerance: u.Quantity = constants.GROUP_TOLERANCE


@dataclass
class ValidatedTile:
    """Headers of a tile's accepted files, in subband order, known consistent."""

    tile_id: str
    headers: list[SubbandHeader]
    warnings: list[str] = field(default_factory=list)

    @property
    def reference(self) -> SubbandHeader:
        return self.headers[0]

    @property
    def subbands(self) -> list[int]:
        return [h.subband for h in self.headers]


def check_file(header: SubbandHeader, limits: ValidationLimits = ValidationLimits()) -> None:
    """Checks on one file by itself; raises InvalidSubbandFile."""
    bad = lambda problem: InvalidSubbandFile(header.path, problem)  # noqa: E731
    n = header.n_blts
    if header.n_freqs != limits.n_channels or header.freqs_hz.size != limits.n_channels:
        raise bad(f"{header.freqs_hz.size} channels (Nfreqs={header.n_freqs}), expected {limits.n_channels}")
    expected_shape = (n, header.n_freqs, header.n_pols)
    if header.data_shape not in (expected_shape, (n, 1, header.n_freqs, header.n_pols)):
        raise bad(f"visdata shape {header.data_shape}, expected {expected_shape}")
    if tuple(header.polarizations) != tuple(limits.polarizations):
        raise bad(f"polarizations {list(header.polarizations)}, expected {list(limits.polarizations)}")
    expected = constants.subband_frequencies(header.subband).to_value(u.Hz)
    offset = np.max(np.abs(header.freqs_hz - expected))
    if not np.isfinite(offset) or offset > limits.frequency_tolerance.to_value(u.Hz):
        raise bad(
            f"frequencies {header.freqs_hz[0] / 1e6:.4f}..{header.freqs_hz[-1] / 1e6:.4f} MHz do not "
            f"match subband {header.subband} ({expected[0] / 1e6:.4f}..{expected[-1] / 1e6:.4f} MHz)"
        )
    for name in ("time_jd", "ant1", "ant2", "integration_time_s"):
        if getattr(header, name).shape != (n,):
            raise bad(f"{name} has shape {getattr(header, name).shape}, expected ({n},)")
    if header.uvw_m.shape != (n, 3) or not np.all(np.isfinite(header.uvw_m)):
        raise bad("uvw_array is missing values or has the wrong shape")
    if not np.all(np.isfinite(header.time_jd)):
        raise bad("time_array holds non-finite values")
    check_name_time(header, limits)
    times = np.unique(header.time_jd)
    if times.size != header.n_times:
        raise bad(f"{times.size} distinct times but Ntimes={header.n_times}")
    if limits.check_integrations is not None and times.size != limits.check_integrations:
        raise bad(f"{times.size} integrations, expected {limits.check_integrations}")
    if n % times.size:
        raise bad(f"Nblts={n} is not a whole number of baselines x {times.size} times")
    n_bls = n // times.size
    order = header.time_jd.reshape(times.size, n_bls)
    if not np.all(order == order[:, :1]):
        raise bad("baseline-times are not ordered time-major (one block of baselines per time)")
    ants = set(header.antenna_numbers.tolist())
    if header.antenna_positions_m.shape != (header.antenna_numbers.size, 3):
        raise bad("antenna_positions do not match antenna_numbers")
    used = np.union1d(header.ant1, header.ant2)
    if not ants.issuperset(used.tolist()):
        raise bad(f"baselines use antennas {sorted(set(used.tolist()) - ants)} not in the antenna table")
    if not -np.pi / 2 <= header.declination_rad <= np.pi / 2:
        raise bad(f"pointing declination {header.declination_rad} rad is impossible")


def check_name_time(header: SubbandHeader, limits: ValidationLimits = ValidationLimits()) -> None:
    """The name's timestamp must say when the data start (within the tolerance)."""
    parsed = parse_subband_name(header.path.name)
    if parsed is None:
        return  # opened by path, not by a subband name: nothing to compare
    half = float(header.integration_time_s[0]) / 2 if header.integration_time_s.size else 0.0
    start = Time(float(header.time_jd.min()) - half / 86400.0, format="jd", scale="utc")
    offset = (parsed[0] - start.to_datetime(timezone=dt.UTC)).total_seconds()
    if abs(offset) > limits.name_time_tolerance.to_value(u.s):
        raise InvalidSubbandFile(
            header.path,
            f"name time {format_timestamp(parsed[0])} but its data start at "
            f"{start.isot[:19]} ({offset:+.0f} s, beyond the "
            f"{limits.name_time_tolerance.to_value(u.s):g} s tolerance): not filed under its name")


def check_consistent(tile_id: str, headers: Sequence[SubbandHeader],
                     limits: ValidationLimits = ValidationLimits()) -> None:
    """Checks across a tile's files; raises InconsistentTile naming the odd file out."""
    ref = headers[0]
    for h in headers[1:]:
        pair = (ref.path, h.path)
        where = f"{h.path.name} vs {ref.path.name}"
        if h.n_blts != ref.n_blts:
            raise InconsistentTile(tile_id, f"{where}: Nblts {h.n_blts} != {ref.n_blts}", pair)
        if not (np.array_equal(h.ant1, ref.ant1) and np.array_equal(h.ant2, ref.ant2)):
            raise InconsistentTile(tile_id, f"{where}: different baselines", pair)
        dt_s = np.max(np.abs(h.time_jd - ref.time_jd)) * 86400.0
        if dt_s > limits.time_tolerance.to_value(u.s):
            raise InconsistentTile(tile_id, f"{where}: times differ by up to {dt_s:.3f} s", pair)
        ddec = abs(h.declination_rad - ref.declination_rad)
        if ddec > limits.declination_tolerance.to_value(u.rad):
            raise InconsistentTile(
                tile_id,
                f"{where}: pointing declination {np.rad2deg(h.declination_rad):.5f} deg != "
                f"{np.rad2deg(ref.declination_rad):.5f} deg", pair)
        if not np.array_equal(h.antenna_numbers, ref.antenna_numbers):
            raise InconsistentTile(tile_id, f"{where}: different antenna tables", pair)
        dpos = np.max(np.abs(h.antenna_positions_m - ref.antenna_positions_m))
        if dpos > limits.antenna_position_tolerance.to_value(u.m):
            raise InconsistentTile(tile_id, f"{where}: antenna positions differ by {dpos:.4f} m", pair)
        if (h.site_lat_deg, h.site_lon_deg) != (ref.site_lat_deg, ref.site_lon_deg):
            raise InconsistentTile(tile_id, f"{where}: different telescope location", pair)


def validate_tile(tile_id: str, files: Sequence[SubbandPath],
                  limits: ValidationLimits = ValidationLimits()) -> ValidatedTile:
    """Read and check every file, then check them against each other.

    Raises InvalidSubbandFile (one file is bad) or InconsistentTile.
    """
    if not files:
        raise InconsistentTile(tile_id, "no subband files")
    headers = []
    for ref in sorted(files, key=lambda r: r.subband):
        header = read_header(ref)
        check_file(header, limits)
        headers.append(header)
    check_consistent(tile_id, headers, limits)
    return ValidatedTile(tile_id, headers)
