"""A products-database password never reaches Dagster: UI snapshot, run config, events, logs."""

from __future__ import annotations

import logging

import pytest
from dagster import DagsterInstance, Definitions
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
from sqlalchemy import make_url

from dsa110_assets.photometry import daily_variability, science_daily_job
from dsa110_assets.resources import resources_for
from dsa110_resources.db.session import ProductsDB, safe_url

SECRET = "Zq7-db-Pa55word"


def test_safe_url_masks_the_password():
    url = f"postgresql+psycopg2://pipeline:{SECRET}@db.example:5432/products"
    assert SECRET not in safe_url(url) and "pipeline:***@db.example" in safe_url(url)
    db = ProductsDB(url, migrate=False)  # an engine connects lazily: nothing is contacted
    assert SECRET not in repr(db) and SECRET not in str(db)


@pytest.mark.postgres
def test_db_password_stays_out_of_dagster(postgres_url, monkeypatch, tmp_path, caplog):
    # Local PostgreSQL trusts loopback, so the password is carried but never checked.
    url = make_url(postgres_url).set(username="postgres", password=SECRET).render_as_string(hide_password=False)
    monkeypatch.setenv("DSA110_DB_URL", url)
    monkeypatch.setenv("DSA110_DATA_ROOT", str(tmp_path / "data"))
    defs = Definitions(assets=[daily_variability], jobs=[science_daily_job], resources=resources_for("ci"))

    shown = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert "DSA110_DB_URL" in shown, "the UI should name the variable the URL comes from"
    assert SECRET not in shown, "the database password is in the resource config shown by the UI"

    instance = DagsterInstance.ephemeral()
    with caplog.at_level(logging.DEBUG):
        result = defs.resolve_job_def("science_daily_job").execute_in_process(
            partition_key="2025-10-05", instance=instance
        )
    assert result.success
    assert SECRET not in serialize_value(result.dagster_run), "password in run config"
    events = instance.all_logs(result.run_id)
    assert events and not [e for e in events if SECRET in serialize_value(e)], "password in run events"
    assert SECRET not in caplog.text
