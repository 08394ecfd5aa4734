"""Calibration as assets: the calibrator solutions of each hour, and each tile calibrated.

``bandpass_solutions`` (hourly partitions) is the (K,) B and G set solved on
the calibrator transits observed in that hour; its partitions feed
``calibrated_ms`` of every window within the bandpass validity (+/-12 h), so
the UI shows which solutions a tile's calibration depends on, and a re-solve
or a retired table marks those windows stale (the partition's data version
is the registry's state of its tables). Materialising a partition re-solves
its transits. The tile run of a calibrator transit solves it in-line (one
CASA import, no second run before the tile can be imaged) and records that
as the hour's ``bandpass_solutions`` materialization.

``calibrated_ms`` flags the tile, gets hourly gains on a science tile without
valid ones (catalog sky model, the bandpass pre-applied), then applies the
valid tables nearest the tile. A tile with no valid bandpass ends its window
as "awaiting calibration", the reason on the tile's row and in the window's
observation; nothing downstream images it, and ``calibration_sensor`` runs
it again once a table covering it is registered.
"""

import hashlib
from pathlib import Path

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    DataVersion,
    Failure,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
    asset_check,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG
from sqlalchemy import select

from dsa110_resources.calibration import (
    ModelError,
    NoValidCalibration,
    calibrate_tile,
    flag_ms,
    lookup_table,
    record_application,
    solve_calibrator,
    solve_gains_on_sky_model,
)
from dsa110_resources.calibration.gates import judge
from dsa110_resources.calibration.registry import retirement_reason
from dsa110_resources.calibration.solve import SolveOptions
from dsa110_resources.catalogs.resource import SkyCatalogResource
from dsa110_resources.db import CalibrationApplication, CalibrationTable, MeasurementSet, Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources import constants as C
from dsa110_resources.stores import layout
from dsa110_resources.stores.resource import StorageResource

from .partitions import TILE_MINUTES, hourly_partitions, tile_partitions
from .tile_windows import (
    AWAITING_CALIBRATION,
    NO_DATA,
    TILE_RETRY_POLICY,
    WindowOutcomes,
    converted_tiles,
    tile_asset,
    measurement_set_for,
    run_windows,
)
from .tiles import measurement_set

CALIBRATION_GROUP = "calibration"
BANDPASS_SOLUTIONS = AssetKey("bandpass_solutions")
#: Windows (5 min) on each side of a tile whose hourly solutions may calibrate it:
#: the bandpass validity, so an hour's re-solve marks exactly those tiles stale.
_VALIDITY_WINDOWS = int(C.BANDPASS_VALIDITY.to_value("min")) // TILE_MINUTES


def hour_key(window_key: str) -> str:
    """The hourly partition holding a 5-minute window (``2025-10-13T13:25`` -> ``2025-10-13T13:00``)."""
    return window_key[:14] + "00"


def _transit_tiles(db, hour: str) -> list[tuple[Tile, MeasurementSet]]:
    """Converted calibrator-transit tiles of an hour, with their newest MS."""
    return converted_tiles(db, Tile.partition_key.like(hour[:14] + "%"), Tile.calibrator.is_not(None))


def solutions_version(db, hour: str) -> tuple[str, list[CalibrationTable]]:
    """The data version of an hour's calibrator solutions: their registry state
    (id, path, status, registration time), so a re-solve or a retirement changes it."""
    with db.session() as s:
        rows = list(s.scalars(
            select(CalibrationTable)
            .join(Tile, Tile.tile_id == CalibrationTable.source_tile_id)
            .where(Tile.partition_key.like(hour[:14] + "%"), CalibrationTable.calibrator.is_not(None))
            .order_by(CalibrationTable.id)
        ))
    digest = hashlib.sha256()
    for row in rows:
        digest.update(f"{row.id}|{row.path}|{row.status}|{row.created_at.isoformat()}\n".encode())
    return digest.hexdigest()[:16], rows


def _solutions_metadata(rows: list[CalibrationTable]) -> dict:
    return {
        "tables": MetadataValue.json([
            {"id": r.id, "caltype": r.caltype, "path": r.path, "status": r.status, "tile": r.source_tile_id,
             "calibrator": r.calibrator, "flagged_fraction": (r.qa or {}).get("flagged_fraction")}
            for r in rows
        ]),
        "valid": ", ".join(f"{r.caltype}:{r.id}" for r in rows if r.status == "valid") or "none",
    }


def solve_transit(db, tiers, tile: Tile, ms: MeasurementSet, calibrators, flags=None, log=None):
    """Solve (K,) B, G on a calibrator-transit tile (flagging it first unless ``flags``), registered;
    tables failing the QA gates are retired on registration (calibration.gates)."""
    workdir = tiers.product_path(layout.qa_path(tile.tile_id, "casa"))
    flags = flags if flags is not None else flag_ms(ms.path, workdir=workdir / "flag")
    result = solve_calibrator(ms.path, tile.calibrator, tiers=tiers, db=db, flag_summary=flags,
                              tile_id=tile.tile_id, calibrators=calibrators)
    if log is not None:
        log.info(f"{tile.tile_id}: solved {sorted(result.tables)} on {tile.calibrator}, refant {result.refant}")
        for caltype, problems in result.rejected.items():
            log.error(f"{tile.tile_id}: {caltype} table retired by the QA gates: {'; '.join(problems)}")
    return result


def solutions_event(db, hour: str, *, description: str) -> AssetMaterialization:
    """The hour's ``bandpass_solutions`` materialization as the registry now holds it."""
    version, rows = solutions_version(db, hour)
    return AssetMaterialization(asset_key=BANDPASS_SOLUTIONS, partition=hour, description=description,
                                metadata=_solutions_metadata(rows), tags={DATA_VERSION_TAG: version})


@asset(
    partitions_def=hourly_partitions,
    group_name=CALIBRATION_GROUP,
    deps=[AssetDep(measurement_set, partition_mapping=TimeWindowPartitionMapping())],
    pool="casa",
    kinds={"casa"},
    retry_policy=TILE_RETRY_POLICY,
    output_required=False,
    description="The (K,) B and G tables solved on the calibrator transits of this hour, registered with"
    " their validity windows. Materialising a partition re-solves them.",
)
def bandpass_solutions(context: AssetExecutionContext, storage: StorageResource,
                       products_db: ProductsDBResource, sky_catalog: SkyCatalogResource):
    db, tiers = products_db.db(), storage.tiers()
    hour = context.partition_key
    transits = _transit_tiles(db, hour)
    if not transits:
        context.log.info(f"{hour}: no converted calibrator transit in this hour")
        yield AssetObservation(asset_key=context.asset_key, partition=hour,
                               metadata={"outcome": NO_DATA, "reason": "no calibrator transit in this hour"})
        return
    gone = [f"{tile.tile_id} ({ms.path})" for tile, ms in transits if not Path(ms.path).exists()]
    if gone:  # housekeeping deletes old MSs; the raw files rebuild them
        raise Failure(f"cannot re-solve {hour}: the MS of {', '.join(gone)} is gone; materialise measurement_set"
                      f" for {', '.join(t.partition_key for t, _ in transits)} first", allow_retries=False)
    for tile, ms in transits:
        solve_transit(db, tiers, tile, ms, sky_catalog.calibrators(), log=context.log)
    version, rows = solutions_version(db, hour)
    yield MaterializeResult(
        metadata={**_solutions_metadata(rows), "transits": ", ".join(f"{t.tile_id} {t.calibrator}"
                                                                      for t, _ in transits)},
        data_version=DataVersion(version),
    )


def _own_solution(db, tile_id: str) -> bool:
    """Solved before (valid or retired: a retired solve is re-done only on purpose, by
    materialising its hour's ``bandpass_solutions``)."""
    with db.session() as s:
        return s.scalar(
            select(CalibrationTable.id).where(
                CalibrationTable.source_tile_id == tile_id, CalibrationTable.caltype == "B",
            )
        ) is not None


def _needs_gains(db, mid_time) -> bool:
    try:
        lookup_table(db, "G", mid_time)
        return False
    except NoValidCalibration:
        return True


@tile_asset(
    deps=[
        measurement_set,
        AssetDep(bandpass_solutions, partition_mapping=TimeWindowPartitionMapping(
            start_offset=-_VALIDITY_WINDOWS, end_offset=_VALIDITY_WINDOWS,
            allow_nonexistent_upstream_partitions=True)),
    ],
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
            solved = sorted(solve_transit(db, tiers, tile, ms, sky_catalog.calibrators(), flags, log=context.log).tables)
            context.log_event(solutions_event(db, hour_key(window.key),
                                              description=f"solved in-line by the tile run of {tile.tile_id}"))
        # Science tiles, and a transit whose tables the gates retired: gains on the sky model
        # (the bandpass carried forward on a day without a usable transit, see registry).
        no_gains = None
        if sky_catalog.available() and _needs_gains(db, ms.mid_time):
            try:
                result = solve_gains_on_sky_model(ms.path, sky_catalog.load(), tiers=tiers, db=db,
                                                  flag_summary=flags, tile_id=tile.tile_id)
                solved = sorted(result.tables)
                context.log.info(f"{tile.tile_id}: hourly gains solved on the sky model")
            except (NoValidCalibration, ModelError) as exc:
                # (ModelError: no catalog source bright enough in this field; retrying cannot help,
                # the tile waits for a table that covers it, e.g. the next transit's gains)
                no_gains = exc
                context.log.warning(f"{tile.tile_id}: no sky-model gains: {exc}")
        try:
            applied = calibrate_tile(ms.path, db, workdir=workdir / "apply")
        except NoValidCalibration as exc:
            reason = f"{AWAITING_CALIBRATION}: {exc}" + (f"; no sky-model gains: {no_gains}" if no_gains else "")
            record_application(db, ms.path, [])  # what CORRECTED_DATA holds is no longer valid calibration
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
            problems.append(f"table {table.id} {table.status}: {retirement_reason(table.qa)}")
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
