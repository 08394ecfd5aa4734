"""`dsa110 backfill`: the windows it asks for, its errors, and the one-window-per-run policy it relies on."""

from click.testing import CliRunner

from dsa110_assets.definitions import defs
from dsa110_assets.jobs import TILE_ASSETS
from dsa110_resources.cli import main
from dsa110_resources.cli.backfill import CALIBRATION_JOB, TILE_JOB, job_for, window_keys


def test_windows_cover_the_range_end_exclusive():
    import datetime as dt

    start = dt.datetime(2025, 10, 13, 13, 0, tzinfo=dt.UTC)
    keys = window_keys(start, start + dt.timedelta(minutes=15))
    assert keys == ["2025-10-13T13:00", "2025-10-13T13:05", "2025-10-13T13:10"]


def test_calibrator_solutions_backfill_by_hour_and_alone():
    import datetime as dt

    import click
    import pytest

    start = dt.datetime(2025, 10, 13, 13, 30, tzinfo=dt.UTC)
    assert job_for(["bandpass_solutions"]) == CALIBRATION_JOB and job_for(["image"]) == job_for([]) == TILE_JOB
    assert window_keys(start, start + dt.timedelta(hours=2), CALIBRATION_JOB) == ["2025-10-13T14:00", "2025-10-13T15:00"]
    with pytest.raises(click.BadParameter, match="partitioned by hour"):
        job_for(["bandpass_solutions", "calibrated_ms"])
    assert defs.resolve_job_def(CALIBRATION_JOB).partitions_def.get_partition_keys_in_range  # the job exists


def test_no_webserver_is_a_clear_error():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = CliRunner().invoke(main, ["backfill", "--start", "2025-10-13T13:00", "--end", "2025-10-13T13:10",
                                       "--url", url])
    assert result.exit_code == 1 and f"no Dagster webserver answers at {url}" in result.output


def test_every_tile_asset_backfills_one_window_per_run():
    graph = defs.resolve_asset_graph()
    keys = TILE_ASSETS.resolve(graph)
    assert keys
    for key in keys:
        policy = graph.get(key).backfill_policy
        assert policy is not None and policy.max_partitions_per_run == 1, key
