"""Flagging, calibrator transits, sky models, solves, the caltable registry and apply.

What the Dagster assets call (each usable from a notebook as well)::

    summary = flag_ms(ms, workdir=...)                         # zeros + AOFlagger (CASA fallback)
    transits = find_transits(TilePointing.from_ms(ms))         # calibrators transiting this tile
    model = calibrator_model(ms, "3C147")                      # MODEL_DATA + provenance
    result = solve_calibrator(ms, "3C147", tiers=..., db=...)  # (K) B G, published + registered
    gains = solve_gains_on_sky_model(ms, catalog, tiers=..., db=...)  # hourly G on a science tile
    selection = select_tables(db, time)                        # valid K/B/G or NoValidCalibration
    applied = calibrate_tile(ms, db, workdir=...)              # select + applycal + record
"""

from dsa110_resources.calibration.apply import ApplyResult, apply_calibration, calibrate_tile
from dsa110_resources.calibration.flagging import FlagOptions, FlagSummary, flag_fractions, flag_ms
from dsa110_resources.calibration.qa import read_solutions, solution_qa
from dsa110_resources.calibration.registry import (
    CalibrationSelection,
    NoValidCalibration,
    SelectedTable,
    ValidityPolicy,
    lookup_table,
    record_application,
    register_table,
    select_tables,
)
from dsa110_resources.calibration.skymodel import (
    ModelError,
    calibrator_model,
    catalog_model,
    predict_model,
    sources_in_beam,
)
from dsa110_resources.calibration.solve import (
    NoReferenceAntenna,
    SolveOptions,
    SolveResult,
    choose_refant,
    solve_calibrator,
    solve_gains_on_sky_model,
)
from dsa110_resources.calibration.transits import (
    TilePointing,
    Transit,
    best_transit,
    find_transits,
    rank_calibrator_tiles,
)

__all__ = [
    "ApplyResult", "CalibrationSelection", "FlagOptions", "FlagSummary", "ModelError", "NoReferenceAntenna",
    "NoValidCalibration", "SelectedTable", "SolveOptions", "SolveResult", "TilePointing", "Transit",
    "ValidityPolicy", "apply_calibration", "best_transit", "calibrate_tile", "calibrator_model",
    "catalog_model", "choose_refant", "find_transits", "flag_fractions", "flag_ms", "lookup_table",
    "predict_model", "rank_calibrator_tiles", "read_solutions", "record_application", "register_table",
    "select_tables", "solution_qa", "solve_calibrator", "solve_gains_on_sky_model", "sources_in_beam",
]
