"""Backup, change, restore, compare: SQLite (online backup API) and PostgreSQL (pg_dump/pg_restore)."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from dsa110_resources.cli import main
from dsa110_resources.db import Base, ProductsDB, Tile
from dsa110_resources.db.session import sqlite_url
from dsa110_resources.ops.backup import BackupError, backup, restore

WHEN = dt.datetime(2025, 10, 13, 13, 0, tzinfo=dt.UTC)


def _contents(db: ProductsDB) -> dict:
    with db.engine.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(select(t)))) for t in Base.metadata.sorted_tables}


def _fill(db: ProductsDB) -> None:
    with db.session() as s:
        s.add_all([Tile(tile_id="2025-10-13T13:00:00", group_time=WHEN, status="converted"),
                   Tile(tile_id="2025-10-13T13:05:00", group_time=WHEN, status="quarantined", reason="bad")])


def _change(db: ProductsDB) -> None:
    with db.session() as s:
        s.execute(delete(Tile).where(Tile.tile_id == "2025-10-13T13:00:00"))
        s.add(Tile(tile_id="2025-10-13T13:10:00", group_time=WHEN))


def _round_trip(url: str, tmp_path) -> None:
    db = ProductsDB(url)
    _fill(db)
    before = _contents(db)
    (tmp_path / "backups").mkdir()
    saved = backup(url, tmp_path / "backups")  # a directory: a dated name in it
    assert saved.parent == tmp_path / "backups" and saved.stat().st_size > 0
    with pytest.raises(BackupError, match="never replaces"):
        backup(url, saved)
    _change(db)
    changed = _contents(db)
    assert changed != before
    pre_restore = restore(url, saved)
    assert _contents(db) == before
    restore(url, pre_restore)  # the state before the restore was kept, and comes back
    assert _contents(db) == changed
    db.dispose()


def test_sqlite_backup_restore_round_trip(tmp_path):
    _round_trip(sqlite_url(tmp_path / "state" / "products.sqlite"), tmp_path)


def test_sqlite_backup_is_online_and_holds_only_committed_work(tmp_path):
    url = sqlite_url(tmp_path / "products.sqlite")
    db = ProductsDB(url)
    _fill(db)
    with db.session() as s:  # a writer mid-transaction
        s.add(Tile(tile_id="2025-10-13T13:20:00", group_time=WHEN))
        s.flush()
        saved = backup(url, tmp_path / "b.sqlite")
    copy = ProductsDB(sqlite_url(saved), migrate=False)
    with copy.session() as s:
        assert sorted(s.scalars(select(Tile.tile_id))) == ["2025-10-13T13:00:00", "2025-10-13T13:05:00"]
    copy.dispose()
    db.dispose()


def test_restore_refuses_what_is_not_a_products_database(tmp_path):
    url = sqlite_url(tmp_path / "products.sqlite")
    ProductsDB(url).dispose()
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError, match="not a readable SQLite database"):
        restore(url, junk)


def test_cli_backup_and_restore(tmp_path, monkeypatch):
    monkeypatch.delenv("DSA110_DB_URL", raising=False)
    data = tmp_path / "data"
    db = ProductsDB.sqlite(data / "state" / "products.sqlite")
    _fill(db)
    before = _contents(db)
    result = CliRunner().invoke(main, ["db", "backup", str(tmp_path / "b.sqlite"), "--data-root", str(data)])
    assert result.exit_code == 0, result.output
    _change(db)
    result = CliRunner().invoke(main, ["db", "restore", str(tmp_path / "b.sqlite"), "--data-root", str(data)],
                                input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output  # asks first
    result = CliRunner().invoke(main, ["db", "restore", str(tmp_path / "b.sqlite"), "--yes",
                                       "--data-root", str(data)])
    assert result.exit_code == 0, result.output
    assert "pre-restore" in result.output and _contents(db) == before
    db.dispose()


@pytest.mark.postgres
def test_postgres_backup_restore_round_trip(postgres_url, tmp_path):
    _round_trip(postgres_url, tmp_path)


def test_sqlite_restore_onto_a_new_machine(tmp_path):
    url = sqlite_url(tmp_path / "old" / "products.sqlite")
    db = ProductsDB(url)
    _fill(db)
    before = _contents(db)
    db.dispose()
    saved = backup(url, tmp_path / "b.sqlite")
    fresh = f"sqlite:///{tmp_path / 'new' / 'state' / 'products.sqlite'}"  # nothing there yet
    assert restore(fresh, saved) is None
    restored = ProductsDB(fresh)
    assert _contents(restored) == before
    restored.dispose()
