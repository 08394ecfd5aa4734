"""Engine, sessions and in-place schema upgrades for the products database.

SQLite (a file under the data root) by default; any SQLAlchemy URL, e.g.
``postgresql+psycopg2://user@host/db``, by configuration. ``ProductsDB``
upgrades the schema to the newest Alembic revision when opened, so a database
made by an older release is migrated in place, never recreated. Upgrades
are serialised between processes (a PostgreSQL advisory lock, a file lock
beside a SQLite file), so many workers opening a fresh database at once all
succeed: one migrates, the others find the schema current.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: PostgreSQL advisory-lock key held while the schema is upgraded ("dsa1").
MIGRATION_LOCK_KEY = 0x64736131


def sqlite_url(path: Path) -> str:
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the sensor read while a run writes; busy_timeout rides out the
    # short write locks of concurrent run workers instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def safe_url(url) -> str:
    """``url`` (a string or SQLAlchemy URL) with any password masked, for logs and errors."""
    return make_url(url).render_as_string(hide_password=True)


def alembic_config() -> Config:
    # No URL: env.py runs on the connection handed in, so the password never
    # enters Alembic's config (nor its '%' interpolation).
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@contextlib.contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock = Path(database).with_name(Path(database).name + ".migrate-lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the newest).

    Concurrent callers queue on a lock; Alembic reads the current revision
    only once it holds the lock, so followers find nothing left to do. The
    whole upgrade is one transaction, on SQLite too, so a migration that dies
    part-way leaves the old schema, not half of the new one.
    """
    config = alembic_config()
    with _sqlite_migration_lock(engine), engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            # pysqlite runs DDL outside any transaction unless one is open.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif engine.dialect.name == "postgresql":
            # Transaction-scoped: released at commit or rollback, even on a crash.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


class ProductsDB:
    """The products database: an engine plus a session factory."""

    def __init__(self, url: str, *, migrate: bool = True):
        self.url = url
        self.engine = make_engine(url)
        if migrate and current_revision(self.engine) != head_revision():
            upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"ProductsDB({safe_url(self.url)!r})"

    @classmethod
    def sqlite(cls, path: Path, **kwargs) -> ProductsDB:
        return cls(sqlite_url(path), **kwargs)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
