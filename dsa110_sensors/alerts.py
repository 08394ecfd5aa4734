"""Alert sensors: pipeline conditions on a tick, and every failed run.

``pipeline_alerts_sensor`` collects the health figures (``ops.health``),
announces conditions that start or clear (``ops.alerts``, de-duplicated in
``state/alerts.json``) and records the figures as a materialisation of the
``pipeline_health`` asset, so the UI shows them with their history without a
run. The measures tables are read at most hourly (they age in months).
``run_failure_alert_sensor`` sends one alert per failed run. Sinks and
thresholds come from the environment when sent (``DSA110_ALERT_*``), never
from Dagster config.
"""

from __future__ import annotations

import datetime as dt
import json
import os

from dagster import (
    AssetMaterialization,
    AssetSpec,
    DefaultSensorStatus,
    MetadataValue,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    run_failure_sensor,
    sensor,
)
from sqlalchemy.exc import SQLAlchemyError

from dsa110_resources.conversion.resource import IngestResource
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.ops.alerts import AlertBook, Thresholds, announce, evaluate
from dsa110_resources.ops.health import Health, collect, database_problem
from dsa110_resources.ops.sinks import sinks_from_env
from dsa110_resources.stores import layout
from dsa110_resources.stores.resource import StorageResource

MEASURES_EVERY = dt.timedelta(hours=1)
_DEFAULT_STATUS = (DefaultSensorStatus.STOPPED if os.environ.get("DSA110_ALERTS_DEFAULT") == "stopped"
                   else DefaultSensorStatus.RUNNING)

pipeline_health = AssetSpec(
    "pipeline_health", group_name="ops",
    description="Backlog, last tile/image/calibration, disk levels and active alerts, "
                "recorded by pipeline_alerts_sensor on each tick (no run needed).",
)


def alert_book(storage: StorageResource) -> AlertBook:
    return AlertBook(storage.tiers().product_path(layout.alert_state_file()))


def health_metadata(health: Health, active: dict) -> dict:
    """The figures worth a glance (and a plot over time) in the asset's page."""
    figures = health.as_dict()
    metadata = {
        "files_waiting": health.files_waiting,
        "tiles_waiting": health.tiles_waiting,
        "tiles_converted_not_imaged": health.tiles_converted_not_imaged,
        "quarantined_last_hour": health.quarantined_last_hour,
        "active_alerts": len(active),
        "alerts": MetadataValue.json(active),
        "last_tile": MetadataValue.json(figures["last_tile"]),
        "last_image": MetadataValue.json(figures["last_image"]),
        "last_calibration": MetadataValue.json(figures["last_calibration"]),
    }
    for disk in health.disks:
        metadata[f"free_fraction_{disk.tier}"] = round(disk.free_fraction, 4)
    return metadata


@sensor(
    name="pipeline_alerts_sensor",
    minimum_interval_seconds=int(os.environ.get("DSA110_ALERT_INTERVAL", 300)),
    default_status=_DEFAULT_STATUS,
    description="Freshness, disk space, calibration, quarantine rate and measures alerts.",
)
def pipeline_alerts_sensor(context: SensorEvaluationContext, storage: StorageResource,
                           products_db: ProductsDBResource, ingest: IngestResource) -> SensorResult:
    now = dt.datetime.now(dt.UTC)
    cursor = json.loads(context.cursor) if context.cursor else {}
    last_check = cursor.get("measures_checked")
    due = last_check is None or now - dt.datetime.fromisoformat(last_check) >= MEASURES_EVERY
    try:
        db, db_error = products_db.db(), None
    except SQLAlchemyError as exc:  # a database outage is itself an alert, not a failed tick
        db, db_error = None, database_problem(exc)
    health = collect(db, storage.tiers(), ingest.incoming, now=now, measures=due, db_error=db_error)
    if due:
        cursor = {"measures_checked": now.isoformat(), "measures_problem": health.measures_problem}
    else:
        health.measures_problem = cursor.get("measures_problem")
    book = alert_book(storage)
    for alert in evaluate(health, book, sinks_from_env(strict=False), Thresholds.from_env()):
        context.log.info(f"alert {alert.state}: {alert.summary}")
    event = AssetMaterialization("pipeline_health", metadata=health_metadata(health, book.active()))
    return SensorResult(asset_events=[event], cursor=json.dumps(cursor))


@run_failure_sensor(name="run_failure_alert_sensor", default_status=_DEFAULT_STATUS,
                    description="One alert per failed run, through the configured sinks.")
def run_failure_alert_sensor(context: RunFailureSensorContext) -> None:
    run = context.dagster_run
    error = context.failure_event.message or "no message"
    details = {"run_id": run.run_id, "job": run.job_name, "error": error}
    details.update({k: v for k, v in run.tags.items() if k.startswith(("dsa110/", "dagster/partition"))})
    announce(f"run:{run.run_id}", f"run {run.run_id[:8]} of {run.job_name} failed", details)
