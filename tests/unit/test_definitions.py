"""The code location loads with its resources bound and passes Dagster's validation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]


def test_definitions_validate(tmp_path):
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path), DSA110_DATA_ROOT=str(tmp_path / "data"))
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "dsa110_assets.definitions"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def test_resources_are_bound():
    from dsa110_assets.definitions import defs

    resources = defs.get_repository_def().get_top_level_resources()
    assert {"storage", "products_db", "casa"} <= set(resources)


def test_production_environment_demands_explicit_settings(monkeypatch):
    import pytest

    from dsa110_assets.resources import resources_for

    monkeypatch.delenv("DSA110_DB_URL", raising=False)
    monkeypatch.setenv("DSA110_DATA_ROOT", "/srv/dsa110")
    with pytest.raises(RuntimeError, match="DSA110_DB_URL"):
        resources_for("production")
    with pytest.raises(ValueError, match="DSA110_ENV"):
        resources_for("laptop")


def test_cli_help_lists_commands():
    from dsa110_resources.cli import main

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "demo" in result.output


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("dsa110")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Usage: dsa110" in done.stdout
