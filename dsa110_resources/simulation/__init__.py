"""A synthetic DSA-110: real-format UVH5 tiles with known truth, and a live feed.

Public API::

    from dsa110_resources.simulation import SimulationConfig, write_tile, write_tiles
    truth = write_tile(out_dir, Time("2025-10-13T13:25:00"), SimulationConfig.tiny())
    truth.files      # {subband: path of YYYY-MM-DDTHH:MM:SS_sbNN.hdf5}
    truth.json_path  # <tile>_truth.json (+ <tile>_truth.npz), schema in truth.py

Modules: config (options, presets), sky (synthetic catalogs, calibrator
transits), lightcurves (ESE), instrument (corruptions), predict (visibilities),
uvh5_writer (file layout), truth, tile (orchestration), feed (live feed).
"""

from dsa110_resources.simulation.config import SimulationConfig
from dsa110_resources.simulation.lightcurves import ESELightCurve, SteadyLightCurve
from dsa110_resources.simulation.sky import (
    SkyModel,
    build_sky,
    calibrator_transit_start,
    synthetic_nvss_catalog,
)
from dsa110_resources.simulation.tile import subband_filename, tile_start_times, write_tile, write_tiles
from dsa110_resources.simulation.truth import TileTruth, read_truth

__all__ = [
    "ESELightCurve",
    "SimulationConfig",
    "SkyModel",
    "SteadyLightCurve",
    "TileTruth",
    "build_sky",
    "calibrator_transit_start",
    "read_truth",
    "subband_filename",
    "synthetic_nvss_catalog",
    "tile_start_times",
    "write_tile",
    "write_tiles",
]
