"""End to end: `dsa110 backfill` over a range with a good tile, an empty window and a bad tile.

The CLI launches the backfill over GraphQL on a running `dagster dev`; the
daemon runs one run per window. Every window's state is then read back from
the instance: runs, asset partition statuses, check results, observations.
"""

from __future__ import annotations

import datetime as dt

import pytest
from astropy.time import Time, TimeDelta
from click.testing import CliRunner

from dsa110_resources.cli import main
from dsa110_resources.conversion.naming import window_key
from dsa110_resources.simulation import SimulationConfig, calibrator_transit_start, write_tile

pytestmark = [pytest.mark.e2e, pytest.mark.casa]

# A 3C286 transit (solves its own calibration), then an empty window, then a truncated tile.
GOOD_START, DECLINATION = calibrator_transit_start("3C286", Time("2025-10-13T13:25:00", scale="utc"))
GOOD = window_key(GOOD_START.to_datetime(timezone=dt.UTC))
WINDOWS = [(dt.datetime.fromisoformat(GOOD) + dt.timedelta(minutes=5 * i)).strftime("%Y-%m-%dT%H:%M")
           for i in range(3)]
EMPTY, BAD = WINDOWS[1], WINDOWS[2]

STATUSES = """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
  assetPartitionStatuses { ... on TimePartitionStatuses { ranges { startKey endKey status } } } } } }"""
CHECKS = """query($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 10) { status partition } }"""
OBSERVATIONS = """query($key: AssetKeyInput!, $p: String!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
  assetObservations(partitions: [$p]) { metadataEntries { label ... on TextMetadataEntry { text } } } } } }"""


def partition_statuses(dev, asset: str) -> dict[str, str]:
    node = dev.graphql(STATUSES, {"key": {"path": [asset]}})["assetNodeOrError"]
    out = {}
    for r in node["assetPartitionStatuses"]["ranges"]:
        key = dt.datetime.fromisoformat(r["startKey"])
        while key <= dt.datetime.fromisoformat(r["endKey"]):
            out[key.strftime("%Y-%m-%dT%H:%M")] = r["status"]
            key += dt.timedelta(minutes=5)
    return {k: v for k, v in out.items() if k in WINDOWS}


def check_results(dev, asset: str, check: str) -> dict[str | None, str]:
    executions = dev.graphql(CHECKS, {"key": {"path": [asset]}, "check": check})["assetCheckExecutions"]
    return {e["partition"]: e["status"] for e in executions}


def test_cli_backfill_tells_each_window_apart(dagster):
    dev, data = dagster
    config = SimulationConfig.tiny(seed=5, n_active_antennas=16, subbands=(0, 5, 10, 15), n_sources=0,
                                   declination=DECLINATION, calibrators=("3C286",))
    incoming = data / "incoming" / "2025-10-13"
    write_tile(incoming, GOOD_START, config)
    bad_start = Time(dt.datetime.fromisoformat(BAD).replace(tzinfo=dt.UTC)) + TimeDelta(20, format="sec")
    bad = sorted(write_tile(incoming, bad_start, config.replace(seed=6)).files.values())[0]
    bad.write_bytes(bad.read_bytes()[:4096])  # truncated mid-write: the tile is quarantined

    end = (dt.datetime.fromisoformat(BAD) + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    result = CliRunner().invoke(main, ["backfill", "--start", GOOD, "--end", end,
                                       "--url", f"http://127.0.0.1:{dev.port}", "--wait", "--timeout", "900"])
    assert result.exit_code == 1, (result.output, dev.log_tail())  # one window failed: said so
    lines = dict(line.split() for line in result.output.splitlines() if line.startswith("  2025-"))
    assert lines == {GOOD: "SUCCESS", EMPTY: "SUCCESS", BAD: "FAILURE"}, result.output

    # Materialized only where a product was made; the bad window's run failed and with it only that
    # window's partitions; the empty window is neither. Each window's checks are recorded against it.
    assets = ("subband_group", "measurement_set", "calibrated_ms", "image")
    checks = (("measurement_set", "ms_integrity"), ("measurement_set", "ms_flag_fraction"),
              ("calibrated_ms", "calibration_quality"), ("image", "image_noise"))
    observed = dev.graphql(OBSERVATIONS, {"key": {"path": ["subband_group"]}, "p": EMPTY})["assetNodeOrError"]
    state = {
        "partitions": {asset: partition_statuses(dev, asset) for asset in assets},
        "checks": {check: check_results(dev, asset, check) for asset, check in checks},
        "empty window": {e["label"]: e.get("text") for o in observed["assetObservations"]
                         for e in o["metadataEntries"] if e["label"] == "outcome"},
    }
    assert state == {
        "partitions": {asset: {GOOD: "MATERIALIZED", BAD: "FAILED"} for asset in assets},
        "checks": {check: {GOOD: "SUCCEEDED", EMPTY: "SKIPPED", BAD: "EXECUTION_FAILED"} for _, check in checks},
        "empty window": {"outcome": "no data"},
    }, state

    # A backfill whose windows hold no data is a success, not a failure.
    empty_only = CliRunner().invoke(main, ["backfill", "--start", EMPTY, "--end", BAD,
                                           "--url", f"http://127.0.0.1:{dev.port}", "--wait", "--timeout", "300"])
    assert empty_only.exit_code == 0 and "status: COMPLETED_SUCCESS" in empty_only.output, empty_only.output

    # Reprocess one step of one window: --assets narrows the chain; the image is made again in place.
    after_first = len(dev.graphql(CHECKS, {"key": {"path": ["image"]}, "check": "image_noise"})["assetCheckExecutions"])
    reimage = CliRunner().invoke(main, ["backfill", "--start", GOOD, "--end", EMPTY, "--assets", "image",
                                        "--url", f"http://127.0.0.1:{dev.port}", "--wait", "--timeout", "600"])
    assert reimage.exit_code == 0, reimage.output
    again = dev.graphql(CHECKS, {"key": {"path": ["image"]}, "check": "image_noise"})["assetCheckExecutions"]
    assert len(again) == after_first + 1 and again[0] == {"status": "SUCCEEDED", "partition": GOOD}
