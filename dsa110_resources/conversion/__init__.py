"""UVH5 subband files -> Measurement Sets.

Grouping and validation (:mod:`.grouping`, :mod:`.validation`) decide which
files make a tile and whether they can be trusted; :mod:`.convert` turns a
tile into one MS (one spectral window of 768 ascending channels, one FIELD at
the mid-time meridian) written directly with python-casacore; :mod:`.registry`
records what happened in the products database; :mod:`.quarantine` sets bad
tiles aside. Usable from a notebook: nothing here imports Dagster or CASA.

    from dsa110_resources.conversion import find_tiles, convert_to_path
    tile = find_tiles("incoming/")[0]
    result = convert_to_path(tile, "/tmp/tile.ms")
"""

from .arrival import FileNotReady, not_yet_readable
from .convert import (
    ConversionOptions,
    ConversionResult,
    build_ms,
    check_output,
    convert_ready_tiles,
    convert_tile,
    convert_to_path,
    estimate_ms_bytes,
)
from .grouping import (
    DEFAULT_INCOMPLETE_WAIT,
    SubbandPath,
    TileGroup,
    TileState,
    find_subband_files,
    find_tiles,
    group_tiles,
    select_tile,
    subband_paths,
)
from .naming import format_timestamp, parse_subband_name, parse_tile_id, subband_file_name
from .phasing import baseline_uvw, meridian_centre
from .quarantine import TileQuarantined, quarantine_tile, quarantined_tiles
from .uvh5_reader import InvalidSubbandFile, SubbandHeader, read_header
from .validation import InconsistentTile, ValidatedTile, ValidationLimits, validate_tile

__all__ = [
    "DEFAULT_INCOMPLETE_WAIT",
    "ConversionOptions",
    "ConversionResult",
    "FileNotReady",
    "InconsistentTile",
    "InvalidSubbandFile",
    "SubbandHeader",
    "SubbandPath",
    "TileGroup",
    "TileQuarantined",
    "TileState",
    "ValidatedTile",
    "ValidationLimits",
    "baseline_uvw",
    "build_ms",
    "check_output",
    "convert_ready_tiles",
    "convert_tile",
    "convert_to_path",
    "estimate_ms_bytes",
    "find_subband_files",
    "find_tiles",
    "format_timestamp",
    "group_tiles",
    "meridian_centre",
    "not_yet_readable",
    "parse_subband_name",
    "parse_tile_id",
    "quarantine_tile",
    "quarantined_tiles",
    "read_header",
    "select_tile",
    "subband_file_name",
    "subband_paths",
    "validate_tile",
]
