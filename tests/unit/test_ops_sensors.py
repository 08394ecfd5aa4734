"""The alert sensors, evaluated by Dagster against a real products DB and a real webhook receiver."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from dagster import AssetKey, DagsterInstance, build_run_status_sensor_context, build_sensor_context, job, op

from dsa110_resources.calibration.registry import register_table
from dsa110_resources.conversion.resource import IngestResource
from dsa110_resources.db import ProductsDB
from dsa110_resources.db.resource import ProductsDBResource
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.stores.resource import StorageResource
from dsa110_sensors.alerts import pipeline_alerts_sensor, run_failure_alert_sensor

from ops_servers import webhook_server


@pytest.fixture
def webhook(monkeypatch):
    with webhook_server() as (url, posts):
        monkeypatch.setenv("DSA110_ALERT_SINKS", "webhook")
        monkeypatch.setenv("DSA110_ALERT_WEBHOOK_URL", url)
        monkeypatch.setenv("DSA110_ALERT_MIN_FREE_FRACTION", "0")
        monkeypatch.setenv("DSA110_MEASURES_DIR", "/nonexistent/measures")
        yield posts


def test_alert_sensor_announces_once_and_records_pipeline_health(tmp_path, webhook):
    data = tmp_path / "data"
    url = sqlite_url(data / "state" / "products.sqlite")
    resources = {"storage": StorageResource(data_root=str(data), fast_root=None),
                 "products_db": ProductsDBResource(url=url),
                 "ingest": IngestResource(incoming_dir=str(data / "incoming"))}
    with DagsterInstance.ephemeral() as instance:
        with build_sensor_context(instance=instance, resources=resources) as context:
            first = pipeline_alerts_sensor(context)
        [event] = first.asset_events
        assert event.asset_key.path == ["pipeline_health"]
        assert event.metadata["active_alerts"].value == 2  # calibration and measures
        assert "calibration" in event.metadata["alerts"].value
        cursor = json.loads(first.cursor)
        assert "has no geodetic/TAI_UTC" in cursor["measures_problem"]

        with build_sensor_context(instance=instance, resources=resources, cursor=first.cursor) as context:
            second = pipeline_alerts_sensor(context)
        assert second.cursor == first.cursor  # measures not re-read within the hour
        assert second.asset_events[0].metadata["active_alerts"].value == 2
        # What the daemon does with a sensor's asset events: the UI then shows them on the asset.
        instance.report_runless_asset_event(second.asset_events[0])
        stored = instance.get_latest_materialization_event(AssetKey("pipeline_health"))
        assert stored.asset_materialization.metadata["tiles_waiting"].value == 0
    keys = sorted((p["json"]["alert"]["key"], p["json"]["alert"]["state"]) for p in webhook)
    assert keys == [("calibration", "firing"), ("measures", "firing")]  # once each, not per tick

    db = ProductsDB(url)
    for caltype in ("B", "G"):
        register_table(db, tmp_path / f"t.{caltype}cal", caltype, dt.datetime.now(dt.UTC))
    db.dispose()
    with DagsterInstance.ephemeral() as instance, \
            build_sensor_context(instance=instance, resources=resources, cursor=first.cursor) as context:
        pipeline_alerts_sensor(context)
    assert webhook[-1]["json"]["alert"]["key"] == "calibration"
    assert webhook[-1]["json"]["alert"]["state"] == "cleared"


@op
def broken_step():
    raise RuntimeError("WSClean exceeded DSA110_STEP_TIMEOUT")


@job(tags={"dsa110/tile": "2025-10-13T13:25:07"})
def broken_job():
    broken_step()


def test_run_failure_sensor_sends_one_alert_naming_the_run(webhook):
    with DagsterInstance.ephemeral() as instance:
        result = broken_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        context = build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor", dagster_event=failure,
            dagster_instance=instance, dagster_run=result.dagster_run,
        ).for_run_failure()
        run_failure_alert_sensor(context)
    [post] = webhook
    alert = post["json"]["alert"]
    assert alert["key"] == f"run:{result.run_id}" and alert["state"] == "firing"
    assert alert["details"]["job"] == "broken_job"
    assert alert["details"]["dsa110/tile"] == "2025-10-13T13:25:07"
    assert "broken_job failed" in post["json"]["text"]


def test_alert_secrets_stay_out_of_dagster(tmp_path, monkeypatch):
    from dagster import Definitions
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    from dsa110_assets.resources import resources_for
    from dsa110_sensors.alerts import pipeline_health

    monkeypatch.setenv("DSA110_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("DSA110_ALERT_SINKS", "smtp,webhook")
    monkeypatch.setenv("DSA110_ALERT_SMTP_PASSWORD", "smtp-pw-0xDEADBEEF")
    monkeypatch.setenv("DSA110_ALERT_WEBHOOK_URL", "https://chat.example/hooks/tok-0xFEEDFACE")
    defs = Definitions(assets=[pipeline_health], sensors=[pipeline_alerts_sensor, run_failure_alert_sensor],
                       resources=resources_for("ci"))
    shown = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert "pipeline_alerts_sensor" in shown and "pipeline_health" in shown
    assert "0xDEADBEEF" not in shown and "0xFEEDFACE" not in shown


def test_an_unreachable_database_is_an_alert_not_a_failed_tick(tmp_path, webhook):
    data = tmp_path / "data"
    resources = {"storage": StorageResource(data_root=str(data), fast_root=None),
                 # Nothing listens on port 1: the connection is refused at once.
                 "products_db": ProductsDBResource(url="postgresql+psycopg2://ops:pw-0xC0FFEE@127.0.0.1:1/products"),
                 "ingest": IngestResource(incoming_dir=str(data / "incoming"))}
    with DagsterInstance.ephemeral() as instance, \
            build_sensor_context(instance=instance, resources=resources) as context:
        result = pipeline_alerts_sensor(context)
    metadata = result.asset_events[0].metadata
    assert "database" in metadata["alerts"].value and "free_fraction_products" in metadata
    [post] = [p for p in webhook if p["json"]["alert"]["key"] == "database"]
    assert "products database unreachable or unreadable: OperationalError" in post["json"]["text"]
    assert "0xC0FFEE" not in post["json"]["text"]
