"""Housekeeping on a real data root: what goes, what never goes, dry run, logged deletes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging

from click.testing import CliRunner

from dsa110_resources.cli import main
from dsa110_resources.db import Image, MeasurementSet, ProductsDB, SubbandFile, Tile
from dsa110_resources.stores import layout
from dsa110_resources.stores.owner import Owner
from dsa110_resources.stores.tiers import STAGING_PREFIX

NOW = dt.datetime.now(dt.UTC)
OLD = NOW - dt.timedelta(days=20)


def _tree(path, files=("table.dat", "table.f0")):
    path.mkdir(parents=True)
    for name in files:
        (path / name).write_bytes(b"x" * 1000)
    return path


def _site(tmp_path, monkeypatch):
    """Tiles: A imaged (old MS, old raw), B not imaged (old MS), C imaged (new MS), D failed (old MS)."""
    for name in ("DSA110_DB_URL", "DSA110_INCOMING", "DSA110_STAGE_ROOT", "DSA110_RETAIN_MS_DAYS",
                 "DSA110_RETAIN_RAW_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DSA110_FAST_ROOT", str(tmp_path / "shm"))
    data = tmp_path / "data"
    paths = {}
    db = ProductsDB.sqlite(data / "state" / "products.sqlite")
    with db.session() as s:
        for tile, kind, made, imaged in (("2025-10-13T13:00:00", "science", OLD, True),
                                         ("2025-10-13T13:05:00", "science", OLD, False),
                                         ("2025-10-13T13:10:00", "calibrators", NOW, True),
                                         ("2025-10-13T13:15:00", "failed", OLD, True)):
            s.add(Tile(tile_id=tile, status="converted", group_time=OLD))
            ms = _tree(data / layout.ms_path(tile, kind))
            paths[tile] = ms
            s.add(MeasurementSet(tile_id=tile, path=str(ms), kind=kind, created_at=made))
            if imaged:
                s.add(Image(tile_id=tile, path=str(data / f"{tile}.image.fits"), kind="image"))
        incoming = data / "incoming" / "2025-10-13"
        incoming.mkdir(parents=True)
        for sb, status in ((0, "accepted"), (1, "accepted"), (2, "duplicate")):
            raw = incoming / f"2025-10-13T13:00:00_sb{sb:02d}.hdf5"
            raw.write_bytes(b"r" * 100)
            paths[f"raw{sb}"] = raw
            s.add(SubbandFile(path=str(raw), tile_id="2025-10-13T13:00:00", subband=sb, file_time=OLD,
                              status=status))
        not_imaged_raw = incoming / "2025-10-13T13:05:00_sb00.hdf5"
        not_imaged_raw.write_bytes(b"r")
        paths["raw_not_imaged"] = not_imaged_raw
        s.add(SubbandFile(path=str(not_imaged_raw), tile_id="2025-10-13T13:05:00", subband=0, file_time=OLD))
    db.dispose()
    quarantined = _tree(data / layout.quarantine_dir("2025-10-13T12:00:00"), ("2025-10-13T12:00:00_sb00.hdf5",))
    paths["quarantine"] = quarantined
    stage = data / "staging"
    stage.mkdir()
    dead = dataclasses.replace(Owner.current(), boot="000000000000")
    paths["litter"] = _tree(stage / f"{STAGING_PREFIX}{dead.token()}-0badc0de-convert")
    paths["live"] = _tree(stage / f"{STAGING_PREFIX}{Owner.current().token()}-0badc0de-convert")
    return data, paths


def _run(data, *args):
    return CliRunner().invoke(main, ["housekeeping", "--data-root", str(data), *args])


def test_dry_run_lists_and_deletes_nothing(tmp_path, monkeypatch):
    data, paths = _site(tmp_path, monkeypatch)
    result = _run(data, "--dry-run")
    assert result.exit_code == 0, result.output + result.stderr
    listed = [line.split()[2] for line in result.stdout.splitlines()]
    assert sorted(listed) == sorted([str(paths["litter"]), str(paths["2025-10-13T13:00:00"])])
    assert all(line.startswith("would delete") for line in result.stdout.splitlines())
    assert "raw files kept (no opt-in)" in result.stderr
    assert all(p.exists() for p in paths.values())
    assert not (data / layout.deletions_log()).exists()


def test_deletes_are_logged_and_raw_files_only_by_opt_in(tmp_path, monkeypatch, caplog):
    data, paths = _site(tmp_path, monkeypatch)
    with caplog.at_level(logging.INFO, logger="dsa110_resources.ops.housekeeping"):
        result = _run(data)
    assert result.exit_code == 0, result.output + result.stderr
    gone = {paths["litter"], paths["2025-10-13T13:00:00"]}
    assert all(not p.exists() for p in gone)
    assert all(p.exists() for key, p in paths.items() if p not in gone)  # raw, quarantine, live, others
    for path in gone:
        assert f"deleting {path}" in caplog.text
    audit = [json.loads(line) for line in (data / layout.deletions_log()).read_text().splitlines()]
    assert sorted(a["path"] for a in audit) == sorted(map(str, gone))
    assert {a["kind"] for a in audit} == {"staging", "ms"}

    monkeypatch.setenv("DSA110_RETAIN_RAW_DAYS", "10")  # the operator opts in
    result = _run(data)
    assert result.exit_code == 0, result.output + result.stderr
    deleted = {line.split()[1] for line in result.stdout.splitlines()}
    assert deleted == {str(paths["raw0"]), str(paths["raw1"])}  # accepted files of the imaged tile only
    assert paths["raw2"].exists() and paths["raw_not_imaged"].exists() and paths["quarantine"].exists()
    assert "DSA110_RETAIN_RAW_DAYS opt-in" in result.output


def test_ms_retention_is_configurable(tmp_path, monkeypatch):
    data, paths = _site(tmp_path, monkeypatch)
    assert "2025-10-13T13:00:00.ms" not in _run(data, "--dry-run", "--keep-ms").output
    monkeypatch.setenv("DSA110_RETAIN_MS_DAYS", "30")
    assert "2025-10-13T13:00:00.ms" not in _run(data, "--dry-run").output
    assert "2025-10-13T13:00:00.ms" in _run(data, "--dry-run", "--ms-days", "7").output
    monkeypatch.setenv("DSA110_RETAIN_MS_DAYS", "soon")
    result = _run(data, "--dry-run")
    assert result.exit_code == 1 and "DSA110_RETAIN_MS_DAYS must be a number of days" in result.stderr


def test_a_path_outside_its_tree_or_in_quarantine_is_refused(tmp_path, monkeypatch, caplog):
    from dsa110_resources.ops.housekeeping import Deletion, execute
    from dsa110_resources.stores import StorageTiers

    data, paths = _site(tmp_path, monkeypatch)
    tiers = StorageTiers(data_root=data, fast_root=tmp_path / "shm")
    wrong = [Deletion(str(paths["raw0"]), "ms", "a database row pointing at a raw file", 1),
             Deletion(str(paths["quarantine"]), "raw", "quarantine is never housekept", 1)]
    with caplog.at_level(logging.ERROR):
        assert execute(wrong, tiers, dry_run=False, incoming=data) == []
    assert paths["raw0"].exists() and paths["quarantine"].exists()
    assert "refuses to delete" in caplog.text and "is in quarantine" in caplog.text


def test_housekeeping_job_lists_by_default_and_the_schedule_deletes(tmp_path, monkeypatch):
    from dagster import DagsterInstance

    from dsa110_assets.ops import DELETE_RUN_CONFIG, housekeeping_job
    from dsa110_resources.conversion.resource import IngestResource
    from dsa110_resources.db.resource import ProductsDBResource
    from dsa110_resources.db.session import sqlite_url
    from dsa110_resources.stores.resource import StorageResource

    data, paths = _site(tmp_path, monkeypatch)
    resources = {"storage": StorageResource(data_root=str(data), fast_root=str(tmp_path / "shm")),
                 "products_db": ProductsDBResource(url=sqlite_url(data / "state" / "products.sqlite")),
                 "ingest": IngestResource(incoming_dir=str(data / "incoming"))}
    with DagsterInstance.ephemeral() as instance:
        listed = housekeeping_job.execute_in_process(resources=resources, instance=instance)
        assert listed.output_for_node("housekeeping")["paths"] == 2
        assert all(p.exists() for p in paths.values())
        deleted = housekeeping_job.execute_in_process(resources=resources, instance=instance,
                                                      run_config=DELETE_RUN_CONFIG)
    assert deleted.output_for_node("housekeeping")["dry_run"] is False
    assert not paths["2025-10-13T13:00:00"].exists() and not paths["litter"].exists()
    assert paths["raw0"].exists() and paths["quarantine"].exists()
