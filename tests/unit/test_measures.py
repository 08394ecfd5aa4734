"""Ageing reference data: the measures check, the configured directory and its offline refresh."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tarfile

import pytest
from casacore.tables import table
from click.testing import CliRunner

from dsa110_resources.casa import config
from dsa110_resources.cli import main
from dsa110_resources.casa.measures import check_measures, install, packaged_measures_dir, warn_if_stale

NOW = dt.datetime.now(dt.UTC)


def _set_vs_date(geodetic, name: str, when: dt.datetime) -> None:
    with table(str(geodetic / name), readonly=False, ack=False) as t:
        t.putkeyword("VS_DATE", when.strftime("%Y/%m/%d/%H:%M"))


@pytest.fixture
def measures_copy(tmp_path):
    """The packaged geodetic tables (~9 MB) with the packaged ephemerides linked."""
    tree = tmp_path / "src"
    shutil.copytree(packaged_measures_dir() / "geodetic", tree / "geodetic")
    (tree / "ephemerides").symlink_to(packaged_measures_dir() / "ephemerides")
    return tree


@pytest.fixture
def casa_dir(tmp_path, monkeypatch):
    """A private CASA config directory: the shared site config is never rewritten."""
    monkeypatch.setenv("DSA110_CASA_DIR", str(tmp_path / "casa"))
    monkeypatch.setenv("CASASITECONFIG", os.environ.get("CASASITECONFIG", ""))
    return tmp_path / "casa"


def test_aged_leap_second_table_is_stale(measures_copy):
    _set_vs_date(measures_copy / "geodetic", "TAI_UTC", NOW - dt.timedelta(days=400))
    status = check_measures(measures_copy, now=NOW, max_age_days=90)
    assert status.stale
    assert "TAI_UTC was last updated" in status.message and "400 days ago" in status.message
    assert "dsa110 measures install" in status.message


def test_recent_tables_are_current(measures_copy):
    for name in ("TAI_UTC", "IERSpredict"):
        _set_vs_date(measures_copy / "geodetic", name, NOW - dt.timedelta(days=5))
    # Judged on a day its predictions still cover.
    within = check_measures(measures_copy).predictions_end - dt.timedelta(days=1)
    status = check_measures(measures_copy, now=within, max_age_days=10_000)
    assert not status.stale, status.message
    assert status.updated["TAI_UTC"].date() == (NOW - dt.timedelta(days=5)).date()


def test_missing_tables_are_named(tmp_path):
    status = check_measures(tmp_path / "empty", now=NOW)
    assert status.stale and "geodetic/TAI_UTC" in status.message


def test_start_check_warns_and_casa_reads_the_configured_directory(measures_copy, casa_dir, monkeypatch,
                                                                   caplog):
    _set_vs_date(measures_copy / "geodetic", "TAI_UTC", NOW - dt.timedelta(days=400))
    monkeypatch.setenv("DSA110_MEASURES_DIR", str(measures_copy))
    site = config.ensure_casa_environment()
    assert site.parent == casa_dir
    assert f"measurespath = {str(measures_copy)!r}" in site.read_text()
    with caplog.at_level(logging.WARNING):
        assert warn_if_stale().stale
    assert "TAI_UTC was last updated" in caplog.text and str(measures_copy) in caplog.text


def test_offline_install_from_a_tarball_swaps_in_fresh_tables(measures_copy, tmp_path, monkeypatch):
    target = tmp_path / "measures"
    monkeypatch.setenv("DSA110_MEASURES_DIR", str(target))
    (measures_copy / "ephemerides").unlink()  # a geodetic-only refresh: ephemerides do not age
    install(measures_copy)  # first install: the packaged (aged) tables
    assert check_measures(target, now=NOW).stale
    assert (target / "ephemerides").resolve() == (packaged_measures_dir() / "ephemerides").resolve()

    fresh = NOW - dt.timedelta(days=2)
    for name in ("TAI_UTC", "IERSpredict"):
        _set_vs_date(measures_copy / "geodetic", name, fresh)
    archive = tmp_path / "WSRT_Measures.ztar"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(measures_copy / "geodetic", arcname="geodetic")
    result = CliRunner().invoke(main, ["measures", "install", str(archive)])
    assert result.exit_code == 0, result.output
    status = check_measures(target, now=NOW)
    assert status.updated["TAI_UTC"].date() == fresh.date()
    assert not [p for p in target.iterdir() if p.name.startswith(".")], "staging left behind"
    assert (target / "ephemerides" / "DE200").exists()
