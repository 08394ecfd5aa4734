"""calibration_sensor's decisions from the products DB alone (no CASA, no runs)."""

from __future__ import annotations

import datetime as dt

import pytest

from dsa110_resources.calibration import registry
from dsa110_resources.db import MeasurementSet, ProductsDB, Tile
from dsa110_sensors.calibration import plan_calibration_runs

T0 = dt.datetime(2025, 10, 13, 13, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(tmp_path):
    database = ProductsDB.sqlite(tmp_path / "products.sqlite")
    yield database
    database.dispose()


def add_tile(db, minutes: int, *, reason=None, calibrator=None) -> tuple[str, str]:
    when = T0 + dt.timedelta(minutes=minutes)
    tile_id = f"{when:%Y-%m-%dT%H:%M}:07"
    ms = f"/data/ms/science/{tile_id}.ms"
    with db.session() as s:
        s.add(Tile(tile_id=tile_id, group_time=when, partition_key=f"{when:%Y-%m-%dT%H:%M}", status="converted",
                   reason=reason, calibrator=calibrator))
        s.flush()
        s.add(MeasurementSet(tile_id=tile_id, path=ms, kind="science", mid_time=when + dt.timedelta(minutes=2)))
    return tile_id, ms


def test_waiting_tiles_are_released_once_and_a_late_waiter_is_not_missed(db):
    waiting = "awaiting calibration: no valid calibration"
    first, _ = add_tile(db, 0, reason=waiting)
    plan = plan_calibration_runs(db, {})
    assert plan.requests == [] and plan.still_waiting == 1

    cal, _ = add_tile(db, 30, calibrator="3C286")
    b = registry.register_table(db, "/c/x.bcal", "B", T0 + dt.timedelta(minutes=32), source_tile_id=cal,
                                calibrator="3C286")
    g = registry.register_table(db, "/c/x.gcal", "G", T0 + dt.timedelta(minutes=32), source_tile_id=cal,
                                calibrator="3C286", parameters={"bandpass_table_id": b})
    plan = plan_calibration_runs(db, plan.cursor)
    (request,) = plan.requests
    assert request.partition_key == "2025-10-13T13:00" and request.run_key.startswith(f"calibrate:{first}:{b}-{g}@")
    assert [k.to_user_string() for k in request.asset_selection] == ["calibrated_ms", "image", "photometry"]
    assert plan_calibration_runs(db, plan.cursor).requests == []  # nothing changed: not even looked at

    # A tile whose run read the registry before the tables came, and says so only now, is released too.
    late, _ = add_tile(db, 5, reason=waiting)
    plan = plan_calibration_runs(db, plan.cursor)
    assert {r.tags["dsa110/tile"] for r in plan.requests} == {first, late}


def test_a_retired_table_requeues_its_tiles_and_reports_the_hours_new_version(db):
    cal, cal_ms = add_tile(db, 30, calibrator="3C286")
    sci, sci_ms = add_tile(db, 45)
    b = registry.register_table(db, "/c/x.bcal", "B", T0 + dt.timedelta(minutes=32), source_tile_id=cal,
                                calibrator="3C286")
    registry.record_application(db, cal_ms, [b])
    registry.record_application(db, sci_ms, [b])
    cursor = plan_calibration_runs(db, {}).cursor
    registry.retire_table(db, b, "operator: solved during an RFI storm")
    plan = plan_calibration_runs(db, cursor)
    assert {r.run_key for r in plan.requests} == {f"recalibrate:{cal}:{b}", f"recalibrate:{sci}:{b}"}
    (event,) = plan.events
    assert event.partition == "2025-10-13T13:00" and event.metadata["valid"].value == "none"
    assert event.tags["dagster/data_version"] != ""
    # Announced once: a later look (here forced by a new waiting tile) reports no event again,
    # while the requests come back with the same run keys (Dagster launches each key once).
    add_tile(db, 50, reason="awaiting calibration: no valid calibration")
    again = plan_calibration_runs(db, plan.cursor)
    assert again.events == [] and {r.run_key for r in again.requests} == {r.run_key for r in plan.requests}
    # Re-solved (the same row valid again), then retired once more: announced again.
    registry.register_table(db, "/c/x.bcal", "B", T0 + dt.timedelta(minutes=32), source_tile_id=cal,
                            calibrator="3C286")
    assert plan_calibration_runs(db, again.cursor).events == []
    registry.retire_table(db, b, "operator: still bad")
    assert [e.partition for e in plan_calibration_runs(db, again.cursor).events] == ["2025-10-13T13:00"]
