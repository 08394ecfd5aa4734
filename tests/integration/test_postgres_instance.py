"""The production instance configuration runs a tile on the local PostgreSQL server."""

import shutil
from pathlib import Path

import pytest
from astropy.time import Time
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from test_tile_assets import WINDOW, make_site

from dsa110_resources.simulation import SimulationConfig

pytestmark = [pytest.mark.postgres, pytest.mark.casa]
REPO = Path(__file__).resolve().parents[2]


def test_tile_run_recorded_in_postgres(tmp_path, postgres_url, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_url)
    definitions, data, _ = make_site(tmp_path, Time("2025-10-13T13:25:07", scale="utc"),
                                     SimulationConfig.tiny(seed=3))
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = definitions.resolve_job_def("convert_job").execute_in_process(
            partition_key=WINDOW, instance=instance
        )
        assert result.success
        runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
        assert [r.run_id for r in runs] == [result.run_id]
        latest = instance.get_latest_materialization_event(AssetKey("measurement_set"))
        assert latest is not None and latest.run_id == result.run_id
