"""Subband file names: ``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5``.

Grouping runs over ~100k names per sensor tick, so names are parsed by
slicing (no ``strptime``, no regex backtracking, never opening the file).
"""

from __future__ import annotations

import datetime as dt
import re

from .. import constants

_NAME = re.compile(constants.SUBBAND_FILE_PATTERN + r"\Z")


def parse_subband_name(name: str) -> tuple[dt.datetime, int] | None:
    """``(timestamp (aware UTC), subband)`` for a subband file name, else None.

    A name that looks right but holds an impossible date (month 13) is not a
    subband file either; the caller reports it rather than crashing.
    """
    match = _NAME.match(name)
    if match is None:
        return None
    subband = int(match["subband"])
    if subband >= constants.N_SUBBANDS:
        return None
    ts = match["timestamp"]
    try:
        when = dt.datetime(
            int(ts[0:4]), int(ts[5:7]), int(ts[8:10]),
            int(ts[11:13]), int(ts[14:16]), int(ts[17:19]),
            tzinfo=dt.UTC,
        )
    except ValueError:
        return None
    return when, subband


def format_timestamp(when: dt.datetime) -> str:
    """The file-name / tile-id form of a UTC time, ``YYYY-MM-DDTHH:MM:SS``."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.strftime(constants.SUBBAND_TIMESTAMP_FORMAT)


def parse_tile_id(tile_id: str) -> dt.datetime:
    """A tile id back to its aware UTC time (raises ValueError if malformed)."""
    parsed = parse_subband_name(f"{tile_id}_sb00.hdf5")
    if parsed is None:
        raise ValueError(f"not a tile id (YYYY-MM-DDTHH:MM:SS): {tile_id!r}")
    return parsed[0]


def subband_file_name(tile_id: str, subband: int) -> str:
    return f"{tile_id}_sb{subband:02d}.hdf5"


def window_key(when: dt.datetime) -> str:
    """The 5-minute window holding ``when`` (a tile's time), e.g. ``2025-10-13T13:25``.

    Tiles are keyed by this in the products DB and as Dagster partitions.
    """
    when = when.astimezone(dt.UTC)
    minute = when.minute - when.minute % constants.TILE_WINDOW_MINUTES
    return when.replace(minute=minute, second=0, microsecond=0).strftime(constants.TILE_WINDOW_FORMAT)
