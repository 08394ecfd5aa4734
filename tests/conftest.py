"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "DSA110_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def postgres_databases():
    """Makes fresh, empty PostgreSQL databases (call it for each URL), dropped
    afterwards; skips without a server."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server answers at {POSTGRES_ADMIN_URL}: {exc.orig}")
    names: list[str] = []

    def fresh() -> str:
        name = f"dsa110_test_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        return admin.url.set(database=name).render_as_string(hide_password=False)

    try:
        yield fresh
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie may linger unreaped in a container)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def process_gone():
    """``process_gone(pid)``: True once ``pid`` has stopped running (waits up to 5 s)."""
    import time

    def gone(pid: int, wait: float = 5.0) -> bool:
        deadline = time.monotonic() + wait
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return not _running(pid)

    return gone


@pytest.fixture
def postgres_url(postgres_databases):
    """A fresh, empty PostgreSQL database, dropped afterwards; skips without a server."""
    return postgres_databases()
