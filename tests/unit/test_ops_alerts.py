"""Alerts: sinks against real loopback servers, conditions against a real products DB and directories."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time

import pytest

from dsa110_resources.calibration.registry import register_table
from dsa110_resources.db import Image, ProductsDB, Tile
from dsa110_resources.ops.alerts import AlertBook, Thresholds, evaluate, findings
from dsa110_resources.ops.health import collect
from dsa110_resources.ops.sinks import Alert, SinkConfigError, deliver, sinks_from_env
from dsa110_resources.stores import StorageTiers

from ops_servers import smtp_server, webhook_server

NOW = dt.datetime.now(dt.UTC)  # health is judged as of NOW: no drift on a loaded machine
ALERT = Alert("disk:fast", "firing", "critical", "fast tier has 2% free", NOW.isoformat(), {"tier": "fast"})


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A data root with a real SQLite products DB and an incoming directory; measures not configured."""
    monkeypatch.delenv("DSA110_ALERT_SINKS", raising=False)
    tiers = StorageTiers(data_root=tmp_path / "data", fast_root=tmp_path / "shm")
    db = ProductsDB.sqlite(tmp_path / "data" / "state" / "products.sqlite")
    incoming = tmp_path / "data" / "incoming"
    (incoming / NOW.strftime("%Y-%m-%d")).mkdir(parents=True)
    yield tiers, db, incoming
    db.dispose()


def _subband_file(incoming, name: str, age: dt.timedelta):
    path = incoming / NOW.strftime("%Y-%m-%d") / name
    path.write_bytes(b"\0" * 16)
    stamp = (NOW - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def _register_calibration(db, tmp_path, when):
    for caltype in ("B", "G"):
        register_table(db, tmp_path / f"{when:%H%M%S}.{caltype}cal", caltype, when)


def test_smtp_sink_delivers_to_a_real_server(monkeypatch):
    with smtp_server() as (port, messages):
        monkeypatch.setenv("DSA110_ALERT_SINKS", "smtp")
        monkeypatch.setenv("DSA110_ALERT_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("DSA110_ALERT_SMTP_PORT", str(port))
        monkeypatch.setenv("DSA110_ALERT_EMAIL_FROM", "pipeline@dsa110.example")
        monkeypatch.setenv("DSA110_ALERT_EMAIL_TO", "ops@dsa110.example, night@dsa110.example")
        sinks = sinks_from_env()
        assert [s.name for s in sinks] == ["log", "smtp"]
        assert deliver(ALERT, sinks) == {"log": "ok", "smtp": "ok"}
        deadline = time.monotonic() + 10
        while not messages and time.monotonic() < deadline:
            time.sleep(0.05)
    [message] = messages
    assert message["Subject"] == "[DSA-110 CRITICAL] fast tier has 2% free"
    assert message["X-Envelope-To"] == "ops@dsa110.example,night@dsa110.example"
    assert "condition: disk:fast" in message.get_payload()


def test_webhook_sink_posts_json_to_a_real_receiver(monkeypatch):
    with webhook_server() as (url, posts):
        monkeypatch.setenv("DSA110_ALERT_SINKS", "webhook")
        monkeypatch.setenv("DSA110_ALERT_WEBHOOK_URL", url)
        assert deliver(ALERT, sinks_from_env()) == {"log": "ok", "webhook": "ok"}
    [post] = posts
    assert post["path"] == "/hooks/secret-token" and post["content_type"] == "application/json"
    assert post["json"]["text"].startswith("[DSA-110 CRITICAL] fast tier has 2% free")
    assert post["json"]["alert"]["key"] == "disk:fast" and post["json"]["alert"]["state"] == "firing"


def test_a_failing_sink_is_reported_and_the_others_still_deliver(monkeypatch, caplog):
    with webhook_server(status=500) as (url, _posts):
        monkeypatch.setenv("DSA110_ALERT_SINKS", "webhook")
        monkeypatch.setenv("DSA110_ALERT_WEBHOOK_URL", url)
        with caplog.at_level(logging.WARNING):
            outcome = deliver(ALERT, sinks_from_env())
    assert outcome["log"] == "ok" and "HTTP 500" in outcome["webhook"]
    assert "secret-token" not in caplog.text  # the hook's token stays out of the logs
    assert "fast tier has 2% free" in caplog.text  # the log sink still carried the alert


def test_sink_configuration_errors_are_clear(monkeypatch):
    monkeypatch.setenv("DSA110_ALERT_SINKS", "smtp,pager")
    with pytest.raises(SinkConfigError, match="pager"):
        sinks_from_env()
    monkeypatch.setenv("DSA110_ALERT_SINKS", "smtp")
    monkeypatch.delenv("DSA110_ALERT_SMTP_HOST", raising=False)
    with pytest.raises(SinkConfigError, match="DSA110_ALERT_SMTP_HOST"):
        sinks_from_env()
    assert [s.name for s in sinks_from_env(strict=False)] == ["log"]  # the sensors keep the log


def test_freshness_fires_while_files_arrive_and_no_image_is_made(site):
    tiers, db, incoming = site
    limits = Thresholds(freshness_minutes=30, min_free_fraction=0.0)
    _subband_file(incoming, "2025-10-13T13:00:00_sb00.hdf5", dt.timedelta(minutes=50))
    with db.session() as s:
        s.add(Image(tile_id="2025-10-13T12:00:00", path="/x.image.fits", kind="image",
                    created_at=NOW - dt.timedelta(minutes=45)))
    assert "freshness" not in {f.key for f in findings(collect(db, tiers, incoming, now=NOW), limits)}  # no new files
    _subband_file(incoming, "2025-10-13T13:40:00_sb00.hdf5", dt.timedelta(minutes=1))
    health = collect(db, tiers, incoming, now=NOW)
    assert health.files_waiting == 2
    [stale] = [f for f in findings(health, limits) if f.key == "freshness"]
    assert "no new image for 30 min" in stale.summary
    with db.session() as s:
        s.add(Image(tile_id="2025-10-13T13:00:00", path="/y.image.fits", kind="image", created_at=NOW))
    assert "freshness" not in {f.key for f in findings(collect(db, tiers, incoming, now=NOW), limits)}


def test_disk_space_below_the_threshold_fires_per_tier(site):
    tiers, db, incoming = site
    health = collect(db, tiers, incoming, now=NOW)
    assert {d.tier for d in health.disks} == {"fast", "stage", "products", "incoming"}
    assert all(0 < d.free_bytes <= d.total_bytes for d in health.disks)
    assert not [f for f in findings(health, Thresholds(min_free_fraction=0.0)) if f.key.startswith("disk")]
    low = [f for f in findings(health, Thresholds(min_free_fraction=1.01)) if f.key.startswith("disk")]
    named = [tier for f in low for tier in f.key.removeprefix("disk:").split("+")]
    assert sorted(named) == ["fast", "incoming", "products", "stage"]  # each tier once
    assert len(low) == len({d.device for d in health.disks})  # one alert per filesystem
    assert "free" in low[0].summary and "limit 101%" in low[0].summary


def test_missing_then_valid_calibration(site, tmp_path):
    tiers, db, incoming = site
    limits = Thresholds(min_free_fraction=0.0)
    [missing] = [f for f in findings(collect(db, tiers, incoming, now=NOW), limits) if f.key == "calibration"]
    assert "bandpass (B): none registered" in missing.summary
    _register_calibration(db, tmp_path, NOW - dt.timedelta(days=3))  # stale: windows long past
    [stale] = [f for f in findings(collect(db, tiers, incoming, now=NOW), limits) if f.key == "calibration"]
    assert "stale: nearest" in stale.summary and "complex gain (G)" in stale.summary
    _register_calibration(db, tmp_path, NOW - dt.timedelta(minutes=20))
    health = collect(db, tiers, incoming, now=NOW)
    assert health.calibration_problem is None
    assert health.last_calibration["age_hours"] == pytest.approx(1 / 3, abs=0.01)


def test_quarantine_rate_counts_tiles_quarantined_in_the_last_hour(site):
    tiers, db, incoming = site
    with db.session() as s:
        for minute in range(5):
            s.add(Tile(tile_id=f"2025-10-13T13:{minute:02d}:00", group_time=NOW, status="quarantined",
                       updated_at=NOW - dt.timedelta(minutes=10 * minute + 5)))
        s.add(Tile(tile_id="2025-10-13T10:00:00", group_time=NOW, status="quarantined",
                   updated_at=NOW - dt.timedelta(hours=3)))
    health = collect(db, tiers, incoming, now=NOW)
    assert health.quarantined_last_hour == 5
    [rate] = [f for f in findings(health, Thresholds(max_quarantined_per_hour=4)) if f.key == "quarantine_rate"]
    assert "5 tiles quarantined in the last hour (limit 4)" == rate.summary
    assert not [f for f in findings(health, Thresholds(max_quarantined_per_hour=5)) if f.key == "quarantine_rate"]


def test_stale_measures_fire(site, tmp_path, monkeypatch):
    tiers, db, incoming = site
    monkeypatch.setenv("DSA110_MEASURES_DIR", str(tmp_path / "measures"))  # configured, never filled
    health = collect(db, tiers, incoming, now=NOW, measures=True)
    [stale] = [f for f in findings(health, Thresholds()) if f.key == "measures"]
    assert "has no geodetic/TAI_UTC table" in stale.summary


def test_an_alert_fires_once_until_it_clears_and_says_when_it_clears(site, tmp_path):
    tiers, db, incoming = site
    book = AlertBook(tmp_path / "alerts.json")
    limits = Thresholds(min_free_fraction=0.0)
    with webhook_server() as (url, posts):
        from dsa110_resources.ops.sinks import WebhookSink

        sinks = [WebhookSink(url)]
        first = evaluate(collect(db, tiers, incoming, now=NOW), book, sinks, limits)
        assert [(a.key, a.state) for a in first] == [("calibration", "firing")]
        assert evaluate(collect(db, tiers, incoming, now=NOW), book, sinks, limits) == []  # still true: silent
        assert set(book.active()) == {"calibration"}
        _register_calibration(db, tmp_path, NOW)
        [cleared] = evaluate(collect(db, tiers, incoming, now=NOW), book, sinks, limits)
    assert cleared.state == "cleared" and cleared.since == first[0].since
    assert "cleared" in cleared.details and cleared.summary.startswith("cleared: no valid calibration")
    assert [p["json"]["alert"]["state"] for p in posts] == ["firing", "cleared"]
    assert book.active() == {}


def test_a_sink_that_failed_gets_the_alert_on_later_ticks_and_only_it(site, tmp_path):
    from dsa110_resources.ops.sinks import WebhookSink

    tiers, db, incoming = site
    book = AlertBook(tmp_path / "alerts.json")
    limits = Thresholds(min_free_fraction=0.0)
    with webhook_server() as (good_url, good), webhook_server(fail_first=2) as (down_url, down):
        sinks = [WebhookSink(good_url, name="chat"), WebhookSink(down_url, name="pager")]
        evaluate(collect(db, tiers, incoming, now=NOW), book, sinks, limits)
        assert [p["answer"] for p in down] == [503] and book.pending()[0]["sinks"] == ["pager"]
        assert evaluate(collect(db, tiers, incoming, now=NOW), book, sinks, limits) == []
        assert [p["answer"] for p in down] == [503, 503]
        evaluate(collect(db, tiers, incoming, now=NOW), book, sinks, limits)
        assert [p["answer"] for p in down] == [503, 503, 200]
        assert book.pending() == []
        evaluate(collect(db, tiers, incoming, now=NOW), book, sinks, limits)
    assert len(down) == 3 and len(good) == 1  # delivered once each, the healthy sink never twice
    assert down[-1]["json"]["alert"] == good[0]["json"]["alert"]


def test_only_the_newest_days_of_incoming_are_listed(tmp_path):
    from dsa110_resources.ops.health import recent_incoming_files

    incoming = tmp_path / "incoming"
    for day in ("2025-10-11", "2025-10-12", "2025-10-13"):
        (incoming / day).mkdir(parents=True)
        (incoming / day / f"{day}T10:00:00_sb00.hdf5").write_bytes(b"")
        (incoming / f"{day}T11:00:00_sb01.hdf5").write_bytes(b"")  # flat layout too
    (incoming / "2025-10-13" / "notes.txt").write_text("not a subband file")
    names = sorted(p.name for p in recent_incoming_files(incoming))
    assert names == ["2025-10-12T10:00:00_sb00.hdf5", "2025-10-12T11:00:00_sb01.hdf5",
                     "2025-10-13T10:00:00_sb00.hdf5", "2025-10-13T11:00:00_sb01.hdf5"]


def test_alerts_test_command_reports_each_sink(monkeypatch):
    from click.testing import CliRunner

    from dsa110_resources.cli import main

    with webhook_server() as (url, posts), webhook_server(status=404) as (gone_url, _):
        monkeypatch.setenv("DSA110_ALERT_SINKS", "webhook")
        monkeypatch.setenv("DSA110_ALERT_WEBHOOK_URL", url)
        result = CliRunner().invoke(main, ["alerts", "test"])
        assert result.exit_code == 0 and result.stdout.splitlines() == ["log: ok", "webhook: ok"]
        assert posts[0]["json"]["alert"]["key"] == "test"
        monkeypatch.setenv("DSA110_ALERT_WEBHOOK_URL", gone_url)
        result = CliRunner().invoke(main, ["alerts", "test"])
        assert result.exit_code == 1 and "webhook: failed: webhook at 127.0.0.1" in result.stdout
        assert "HTTP 404" in result.stdout and "secret-token" not in result.stdout
    monkeypatch.setenv("DSA110_ALERT_SINKS", "smtp")
    monkeypatch.delenv("DSA110_ALERT_SMTP_HOST", raising=False)
    result = CliRunner().invoke(main, ["alerts", "test"])
    assert result.exit_code == 1 and "DSA110_ALERT_SMTP_HOST" in result.output
