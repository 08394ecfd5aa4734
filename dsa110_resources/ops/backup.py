"""Products-database backup and restore, SQLite and PostgreSQL.

SQLite uses the online backup API: a consistent copy while workers write
(committed transactions only), checked with ``integrity_check`` before it
appears under its name. PostgreSQL uses ``pg_dump --format=custom`` and
``pg_restore --clean --single-transaction`` (either all of it or nothing);
the password goes to them through ``PGPASSWORD``, never on a command line
where ``ps`` shows it. A restore first saves the current database beside
the backup (``*.pre-restore-<time>``), so restoring the wrong file loses nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import make_url

from dsa110_resources.db.session import safe_url

log = logging.getLogger(__name__)


class BackupError(RuntimeError):
    """A backup or restore could not be made, or a backup is not a products database."""


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def default_name(url: str) -> str:
    return f"products-{_stamp()}." + ("sqlite" if make_url(url).get_backend_name() == "sqlite" else "pgdump")


def _target(destination: Path, url: str) -> Path:
    destination = Path(destination)
    if destination.is_dir():
        destination = destination / default_name(url)
    if destination.exists():
        raise BackupError(f"{destination} exists; a backup never replaces another")
    destination.parent.mkdir(parents=True, exist_ok=True)
    return destination


def _sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{url} is not a SQLite file")
    return Path(database)


def _check_sqlite(path: Path) -> None:
    """A readable, intact SQLite file holding a products-database schema."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable SQLite database: {exc}") from None
    if verdict != "ok":
        raise BackupError(f"{path} fails SQLite's integrity check: {verdict}")
    if not {"alembic_version", "tiles"} <= tables:
        raise BackupError(f"{path} is not a products database (no alembic_version/tiles tables)")


def _sqlite_copy(source: Path, destination: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(destination)
    try:
        src.backup(dst, pages=1024)  # in steps, so writers are never held up for long
    finally:
        dst.close()
        src.close()


def _pg_env(url: str) -> tuple[dict, str]:
    """libpq environment (password included) and the database name, from a SQLAlchemy URL."""
    parts = make_url(url)
    env = dict(os.environ)
    for key, value in (("PGHOST", parts.host), ("PGPORT", parts.port), ("PGUSER", parts.username),
                       ("PGPASSWORD", parts.password)):
        if value is not None:
            env[key] = str(value)
    if not parts.database:
        raise BackupError(f"{safe_url(url)} names no database")
    return env, parts.database


def _run(tool: str, args: list[str], env: dict) -> None:
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed (PostgreSQL client tools, e.g. apt install postgresql-client)")
    done = subprocess.run([tool, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def backup(url: str, destination: Path) -> Path:
    """Write a backup of the database at ``url`` to ``destination`` (a file, or a directory for a dated name)."""
    target = _target(destination, url)
    partial = target.with_name(f".partial-{os.getpid()}-{target.name}")
    try:
        if make_url(url).get_backend_name() == "sqlite":
            source = _sqlite_file(url)
            if not source.exists():
                raise BackupError(f"no SQLite database at {source}")
            _sqlite_copy(source, partial)
            _check_sqlite(partial)
        elif make_url(url).get_backend_name() == "postgresql":
            env, database = _pg_env(url)
            _run("pg_dump", ["--format=custom", "--file", str(partial), database], env)
        else:
            raise BackupError(f"no backup method for {make_url(url).get_backend_name()} databases")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    log.info("backed up %s to %s", safe_url(url), target)
    return target


def restore(url: str, source: Path) -> Path | None:
    """Replace the database at ``url`` with the backup ``source``.

    Returns the copy of the database as it was, or None when there was none
    (a SQLite file restored onto a new machine).
    """
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    backend = make_url(url).get_backend_name()
    saved = None
    if backend == "sqlite":
        _check_sqlite(source)
        live = _sqlite_file(url)
        live.parent.mkdir(parents=True, exist_ok=True)
    if backend != "sqlite" or live.exists():
        saved = backup(url, source.with_name(f"{source.name}.pre-restore-{_stamp()}"))
    if backend == "sqlite":
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, \
                sqlite3.connect(live, timeout=30) as dst:
            src.backup(dst)  # one step: other connections see the old database or the restored one
    else:
        env, database = _pg_env(url)
        _run("pg_restore", ["--clean", "--if-exists", "--no-owner", "--single-transaction",
                            "--exit-on-error", "--dbname", database, str(source)], env)
    log.warning("restored %s from %s (the database as it was: %s)", safe_url(url), source, saved or "none")
    return saved
