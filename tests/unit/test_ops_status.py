"""``dsa110 status`` on a real data root: products DB, incoming files, alert state."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from click.testing import CliRunner

from dsa110_resources.calibration.registry import register_table
from dsa110_resources.cli import main
from dsa110_resources.db import Image, ProductsDB, Tile
from dsa110_resources.ops.alerts import AlertBook, Finding

def _site(tmp_path, monkeypatch):
    now = dt.datetime.now(dt.UTC)  # per test: module import time is long past on a loaded machine
    for name in ("DSA110_DB_URL", "DSA110_INCOMING", "DSA110_STAGE_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DSA110_FAST_ROOT", str(tmp_path / "shm"))
    monkeypatch.setenv("DSA110_ALERT_MIN_FREE_FRACTION", "0")
    data = tmp_path / "data"
    db = ProductsDB.sqlite(data / "state" / "products.sqlite")
    with db.session() as s:
        for minute, status in ((0, "converted"), (5, "converted"), (10, "complete"), (15, "quarantined")):
            s.add(Tile(tile_id=f"2025-10-13T13:{minute:02d}:00", status=status,
                       group_time=dt.datetime(2025, 10, 13, 13, minute, tzinfo=dt.UTC)))
        s.add(Image(tile_id="2025-10-13T13:00:00", path=str(data / "a.image.fits"), kind="image",
                    created_at=now - dt.timedelta(minutes=7)))
    register_table(db, data / "c.bcal", "B", now - dt.timedelta(hours=2))
    db.dispose()
    incoming = data / "incoming" / "2025-10-13"
    incoming.mkdir(parents=True)
    for sb in range(3):
        (incoming / f"2025-10-13T13:20:00_sb{sb:02d}.hdf5").write_bytes(b"")
    AlertBook(data / "state" / "alerts.json").update(
        [Finding("calibration", "critical", "no valid calibration")], now - dt.timedelta(minutes=30))
    return data


def test_status_json_reports_backlog_products_disks_and_alerts(tmp_path, monkeypatch):
    data = _site(tmp_path, monkeypatch)
    result = CliRunner().invoke(main, ["status", "--json", "--no-measures", "--data-root", str(data)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["files_waiting"] == 3 and doc["tiles_waiting"] == 1
    assert doc["tiles_converted_not_imaged"] == 1  # 13:05 converted, no image
    assert doc["last_tile"]["tile_id"] == "2025-10-13T13:15:00"
    assert doc["last_image"]["tile_id"] == "2025-10-13T13:00:00"
    assert doc["last_calibration"]["caltype"] == "B" and doc["last_calibration"]["age_hours"] == pytest.approx(2.0, abs=0.05)
    assert doc["quarantined_last_hour"] == 1
    assert {d["tier"] for d in doc["disks"]} == {"fast", "stage", "products", "incoming"}
    assert all(0 < d["free_fraction"] <= 1 for d in doc["disks"])
    assert set(doc["alerts"]["active"]) == {"calibration"}
    assert [f["key"] for f in doc["alerts"]["holding"]] == ["calibration"]  # no gain table


def test_status_text_and_check_exit_code(tmp_path, monkeypatch):
    data = _site(tmp_path, monkeypatch)
    result = CliRunner().invoke(main, ["status", "--no-measures", "--check", "--data-root", str(data)])
    assert result.exit_code == 1, result.output  # a condition holds
    lines = result.output.splitlines()
    assert lines[1].startswith("backlog       3 recent files not yet recorded, 1 tiles waiting, 1 converted")
    assert any(line.startswith("last image    2025-10-13T13:00:00") and "7 min ago" in line for line in lines)
    assert any(line.startswith("alert         calibration (critical) since") for line in lines)
    assert any(line.startswith("disk fast") for line in lines)


def test_status_without_a_database_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("DSA110_DB_URL", raising=False)
    result = CliRunner().invoke(main, ["status", "--data-root", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "no products database at" in result.output


def test_status_with_an_unreachable_database_still_reports_disks(tmp_path, monkeypatch):
    monkeypatch.setenv("DSA110_FAST_ROOT", "")
    result = CliRunner().invoke(main, ["status", "--no-measures", "--check", "--data-root", str(tmp_path),
                                       "--db-url", "postgresql+psycopg2://ops:pw-0xC0FFEE@127.0.0.1:1/products"])
    assert result.exit_code == 1, result.output
    assert "database      products database unreachable or unreadable: OperationalError" in result.output
    assert "disk products" in result.output and "0xC0FFEE" not in result.output
