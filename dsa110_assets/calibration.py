"""Per-tile calibration: flag, make sure valid solutions exist, apply.

A calibrator-transit tile without solutions of its own is solved (K/B/G,
published and registered with validity windows); a science tile without
valid gains for its hour gets hourly gains solved against the catalog sky
model (the bandpass pre-applied). Then the registry picks the valid tables
nearest the tile and they are applied. A tile with no valid bandpass
ends its window as "awaiting calibration", the reason (what is missing) on
the tile's row and in the window's observation; nothing downstream images it.
"""

from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MetadataValue,
    asset_check,
)
from sqlalchemy import select

from dsa110_resources.calibration import (
    NoValidCalibration,
    calibrate_tile,
    flag_ms,
    lookup_table,
    solve_calibrator,
    solve_gains_on_sky_model,
)
from dsa110_resources.calibration.gates import judge
from dsa110_resources.calibration.solve import SolveOptions
from dsa110_resources.catalogs.resource import SkyCatalogResource
from dsa110_resources.db import CalibrationApplication, CalibrationTable, MeasurementSet, Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.stores import layout
from dsa110_resources.stores.resource import StorageResource

from .partitions import tile_partitions
from .tile_windows import (
    AWAITING_CALIBRATION,
    NO_DATA,
    WindowOutcomes,
    tile_asset,
    measurement_set_for,
    run_windows,
)
from .tiles import measurement_set


def _own_solution(db, tile_id: str) -> bool:
    with db.session() as s:
        return s.scalar(
            select(CalibrationTable.id).where(
                CalibrationTable.source_tile_id == tile_id, CalibrationTable.caltype == "B"
            )
        ) is not None


def _needs_gains(db, mid_time) -> bool:
    try:
        lookup_table(db, "G", mid_time)
        return False
    except NoValidCalibration:
        return True


@tile_asset(
    deps=[measurement_set],
    pool="casa",
    kinds={"casa"},
    description="The tile's MS flagged (zeros, RFI) with the valid bandpass and gains applied.",
)
def calibrated_ms(
    context: AssetExecutionContext,
    storage: StorageResource,
    products_db: ProductsDBResource,
    sky_catalog: SkyCatalogResource,
):
    db, tiers = products_db.db(), storage.tiers()
    outcomes = WindowOutcomes()
    for window in run_windows(context):
        found = measurement_set_for(db, window)
        if found is None:
            outcomes.record(window, NO_DATA, "no measurement set in this window")
            continue
        tile, ms = found
        workdir = tiers.product_path(layout.qa_path(tile.tile_id, "casa"))
        flags = flag_ms(ms.path, workdir=workdir / "flag")
        solved = []
        if tile.calibrator and not _own_solution(db, tile.tile_id):
            result = solve_calibrator(ms.path, tile.calibrator, tiers=tiers, db=db, flag_summary=flags,
                                      tile_id=tile.tile_id, calibrators=sky_catalog.calibrators())
            solved = sorted(result.tables)
            context.log.info(f"{tile.tile_id}: solved {solved} on {tile.calibrator}, refant {result.refant}")
            for caltype, problems in result.rejected.items():
                context.log.error(f"{tile.tile_id}: {caltype} table retired by the QA gates: {'; '.join(problems)}")
        # Science tiles, and a transit whose tables the gates retired: gains on the sky model
        # (the bandpass carried forward on a day without a usable transit, see registry).
        if sky_catalog.available() and _needs_gains(db, ms.mid_time):
            try:
                result = solve_gains_on_sky_model(ms.path, sky_catalog.load(), tiers=tiers, db=db,
                                                  flag_summary=flags, tile_id=tile.tile_id)
                solved = sorted(result.tables)
                context.log.info(f"{tile.tile_id}: hourly gains solved on the sky model")
            except NoValidCalibration as exc:
                context.log.warning(f"{tile.tile_id}: no sky-model gains: {exc}")
        try:
            applied = calibrate_tile(ms.path, db, workdir=workdir / "apply")
        except NoValidCalibration as exc:
            reason = f"{AWAITING_CALIBRATION}: {exc}"
            _record_tile_reason(db, tile.tile_id, reason)
            outcomes.record(window, AWAITING_CALIBRATION, f"{tile.tile_id}: {exc}")
            context.log.warning(f"{tile.tile_id}: {reason}")
            continue
        _record_tile_reason(db, tile.tile_id, None)
        for warning in applied.warnings:
            context.log.warning(f"{tile.tile_id}: {warning}")
        outcomes.add_product(window, {
            "tile_id": tile.tile_id,
            "ms_path": ms.path,
            "calibrator": tile.calibrator or "none (science tile)",
            "solved_here": ", ".join(solved) or "none",
            "caltables": ", ".join(Path(t).name for t in applied.tables),
            "flagged_fraction": round(flags.total, 4),
            "rfi_method": flags.rfi_method,
        })
    yield from outcomes.events(context)


def _record_tile_reason(db, tile_id: str, reason: str | None) -> None:
    """Say on the tile why it waits; clear a stale wait once it is calibrated."""
    with db.session() as s:
        row = s.get(Tile, tile_id)
        if reason is not None or (row.reason or "").startswith(AWAITING_CALIBRATION):
            row.reason = reason


@asset_check(
    asset=calibrated_ms,
    blocking=True,
    partitions_def=tile_partitions,
    description="The applied tables pass the solution gates (flagged fraction, SNR, outliers, phase"
    " scatter; calibration.gates) and none was retired since.",
)
def calibration_quality(context: AssetCheckExecutionContext, products_db: ProductsDBResource):
    db = products_db.db()
    report: dict[str, dict] = {}
    with db.session() as s:
        rows = s.execute(
            select(Tile.tile_id, CalibrationTable)
            .join(MeasurementSet, MeasurementSet.tile_id == Tile.tile_id)
            .join(CalibrationApplication, CalibrationApplication.ms_path == MeasurementSet.path)
            .join(CalibrationTable, CalibrationTable.id == CalibrationApplication.caltable_id)
            .where(Tile.partition_key.in_(context.partition_keys))
        ).all()
    figures: dict[str, dict] = {}
    for tile_id, table in rows:
        problems = judge(table.qa, table.caltype)
        if table.status != "valid":
            problems.append(f"table {table.id} {table.status}: {(table.qa or {}).get('rejected_reason', '')}")
        report.setdefault(tile_id, {})[table.caltype] = problems
        figures.setdefault(tile_id, {})[table.caltype] = {
            k: (table.qa or {}).get(k) for k in ("flagged_fraction", "median_snr", "phase_scatter_deg")}
    bad = {t: {c: p for c, p in types.items() if p} for t, types in report.items()}
    bad = {t: types for t, types in bad.items() if types}
    return AssetCheckResult(
        passed=bool(report) and not bad,
        severity=AssetCheckSeverity.ERROR,
        description=(
            "no calibration applied" if not report
            else "; ".join(f"{t} {c}: {', '.join(p)}" for t, types in bad.items() for c, p in types.items())
            or "solutions healthy"
        ),
        metadata={"gates": MetadataValue.json(SolveOptions().to_dict()["gates"]),
                  "solution_figures": MetadataValue.json(figures)},
    )
