"""The calibration sensor: tiles follow the calibration registry.

Each tick it asks the products database two questions and launches the
calibrate -> image -> photometry part of ``tile_job`` for each answer:

* released: a tile that ended "awaiting calibration" (``tiles.reason``) is
  now covered by valid tables, e.g. a later calibrator transit's bandpass
  was registered. Run key ``calibrate:<tile>:<table ids>@<newest registration>``,
  so a tile is released once per set of tables (a re-solve counts as new).
* re-calibrated: a tile whose recorded calibration used a table that has
  since been retired or rejected (``dsa110 caltables retire``, QA gates).
  Run key ``recalibrate:<tile>:<retired ids>``. It gets the next valid
  tables, or ends "awaiting calibration" and waits for the first case.

A retired calibrator table also changes its hour's ``bandpass_solutions``
(the set of valid tables): the sensor reports a materialization of that
partition with the registry's new data version, so the UI marks the windows
it calibrated stale (Dagster reads partitioned upstream changes from
materializations only, not observations).

The waiting tiles are looked at again only when the registry or the set of
waiting tiles changed since the last tick (the cursor holds both), so a
day of waiting tiles costs nothing while nothing changes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    AssetMaterialization,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG
from sqlalchemy import func, select

from dsa110_assets.calibration import BANDPASS_SOLUTIONS, hour_key, solutions_version
from dsa110_assets.jobs import tile_job
from dsa110_assets.tile_windows import AWAITING_CALIBRATION, converted_tiles
from dsa110_resources.calibration.registry import NoValidCalibration, calibrated_with_unusable_tables, select_tables
from dsa110_resources.db import CalibrationTable, MeasurementSet, Tile
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_sensors.incoming import TILE_TAG, sensor_default_status

#: What a released or re-calibrated tile runs again: everything from calibration on.
RECALIBRATE_ASSETS = [AssetKey("calibrated_ms"), AssetKey("image"), AssetKey("photometry")]
TRIGGER_TAG = "dsa110/trigger"


@dataclass
class CalibrationPlan:
    """What one tick decided."""

    requests: list[RunRequest] = field(default_factory=list)
    events: list[AssetMaterialization] = field(default_factory=list)
    still_waiting: int = 0
    cursor: dict = field(default_factory=dict)


def _fingerprints(db) -> tuple[str, str]:
    with db.session() as s:
        registry = s.execute(select(func.count(CalibrationTable.id), func.max(CalibrationTable.created_at),
                                    func.count(CalibrationTable.id).filter(CalibrationTable.status != "valid"))
                             ).one()
        waiting = s.execute(select(func.count(Tile.tile_id), func.max(Tile.updated_at))
                            .where(Tile.reason.like(f"{AWAITING_CALIBRATION}:%"))).one()
    return str(tuple(map(str, registry))), str(tuple(map(str, waiting)))


def _request(tile: Tile, run_key: str, trigger: str) -> RunRequest:
    return RunRequest(run_key=run_key, partition_key=tile.partition_key, asset_selection=RECALIBRATE_ASSETS,
                      tags={TILE_TAG: tile.tile_id, TRIGGER_TAG: trigger})


def plan_calibration_runs(db, cursor: dict) -> CalibrationPlan:
    """Released and re-calibrated tiles, and the hours whose solutions changed, since ``cursor``."""
    plan = CalibrationPlan()
    registry_state, waiting_state = _fingerprints(db)
    plan.cursor = {"registry": registry_state, "waiting": waiting_state,
                   "announced": list(cursor.get("announced", []))}
    if cursor.get("registry") == registry_state and cursor.get("waiting") == waiting_state:
        return plan

    for tile, ms in converted_tiles(db, Tile.reason.like(f"{AWAITING_CALIBRATION}:%")):
        try:
            selection = select_tables(db, ms.mid_time)
        except NoValidCalibration:
            plan.still_waiting += 1
            continue
        ids = [t.id for t in selection.tables]
        with db.session() as s:  # a re-solve keeps a table's id and renews its registration
            registered = s.scalar(select(func.max(CalibrationTable.created_at)).where(CalibrationTable.id.in_(ids)))
        run_key = f"calibrate:{tile.tile_id}:{'-'.join(map(str, ids))}@{registered:%Y%m%dT%H%M%S.%f}"
        plan.requests.append(_request(tile, run_key, "calibration released"))

    unusable = calibrated_with_unusable_tables(db)
    with db.session() as s:
        ms_tiles = dict(s.execute(select(MeasurementSet.path, MeasurementSet.tile_id)
                                  .where(MeasurementSet.path.in_(list(unusable)))).all())
        tiles = {t.tile_id: t for t in s.scalars(select(Tile).where(Tile.tile_id.in_(list(ms_tiles.values()))))}
        # (id@registration: a table re-solved and retired again is announced again)
        retired = [(f"{i}@{at.isoformat()}", i, key) for i, at, key in s.execute(
            select(CalibrationTable.id, CalibrationTable.created_at, Tile.partition_key)
            .join(Tile, Tile.tile_id == CalibrationTable.source_tile_id)
            .where(CalibrationTable.status != "valid", CalibrationTable.calibrator.is_not(None))
        ).all()]
    for ms_path, table_ids in sorted(unusable.items()):
        tile = tiles.get(ms_tiles.get(ms_path))
        if tile is not None and tile.partition_key:
            ids = "-".join(map(str, sorted(table_ids)))
            plan.requests.append(_request(tile, f"recalibrate:{tile.tile_id}:{ids}", "calibration retired"))

    announced = set(plan.cursor["announced"])
    hours: dict[str, list[int]] = {}
    for token, table_id, key in retired:
        if token not in announced and key:
            hours.setdefault(hour_key(key), []).append(table_id)
    for hour, table_ids in sorted(hours.items()):
        version, rows = solutions_version(db, hour)
        plan.events.append(AssetMaterialization(
            asset_key=BANDPASS_SOLUTIONS, partition=hour, tags={DATA_VERSION_TAG: version},
            description=f"tables {sorted(table_ids)} retired (reported by calibration_sensor)",
            metadata={"retired": ", ".join(map(str, sorted(table_ids))),
                      "valid": ", ".join(f"{r.caltype}:{r.id}" for r in rows if r.status == "valid") or "none"}))
    plan.cursor["announced"] = sorted(token for token, _, _ in retired)  # only what is still retired
    return plan


@sensor(
    job=tile_job,
    minimum_interval_seconds=int(os.environ.get("DSA110_SENSOR_INTERVAL", 30)),
    default_status=sensor_default_status(),  # with incoming_tiles_sensor: DSA110_SENSOR_DEFAULT
    description="Re-runs calibration (and what follows) for tiles a newly registered table releases"
    " from 'awaiting calibration', and for tiles calibrated with a table since retired.",
)
def calibration_sensor(context: SensorEvaluationContext, products_db: ProductsDBResource):
    cursor = json.loads(context.cursor) if context.cursor else {}
    plan = plan_calibration_runs(products_db.db(), cursor)
    for request in plan.requests:
        context.log.info(f"tile {request.tags[TILE_TAG]}: {request.tags[TRIGGER_TAG]} ({request.run_key})")
    if not plan.requests and not plan.events:
        reason = (f"{plan.still_waiting} tile(s) still awaiting calibration" if plan.still_waiting
                  else "nothing to (re)calibrate")
        return SensorResult(skip_reason=SkipReason(reason), cursor=json.dumps(plan.cursor))
    return SensorResult(run_requests=plan.requests, asset_events=plan.events,
                        cursor=json.dumps(plan.cursor))
