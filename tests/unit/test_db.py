"""The products database round-trips rows and upgrades old schemas in place."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from dsa110_resources.db import (
    Base,
    CalibrationTable,
    ForcedPhotometry,
    MeasurementSet,
    ProductsDB,
    SubbandFile,
    Tile,
    current_revision,
    head_revision,
    make_engine,
    sqlite_url,
    upgrade,
)

T0 = dt.datetime(2025, 10, 13, 13, 25, 7, tzinfo=dt.UTC)


def _round_trip(db: ProductsDB) -> None:
    with db.session() as s:
        tile = Tile(tile_id="2025-10-13T13:25:07", group_time=T0, n_subbands=15, missing_subbands="7")
        tile.files.append(
            SubbandFile(path="/in/2025-10-13T13:25:07_sb00.hdf5", subband=0, file_time=T0)
        )
        s.add(tile)
        s.add(
            MeasurementSet(tile_id=tile.tile_id, path="/ms/a.ms", kind="science", mid_time=T0, n_rows=10)
        )
        s.add(
            CalibrationTable(
                path="/cal/a.bcal",
                caltype="B",
                solved_for=T0,
                valid_from=T0 - dt.timedelta(hours=12),
                valid_to=T0 + dt.timedelta(hours=12),
                parameters={"solint": "inf", "minsnr": 3.0},
            )
        )
    with db.session() as s:
        tile = s.get(Tile, "2025-10-13T13:25:07")
        assert tile.group_time == T0 and tile.group_time.tzinfo is not None
        assert [f.subband for f in tile.files] == [0]
        assert tile.measurement_sets[0].n_rows == 10
        cal = s.scalars(
            select(CalibrationTable).where(
                CalibrationTable.caltype == "B",
                CalibrationTable.valid_from <= T0,
                CalibrationTable.valid_to >= T0,
            )
        ).one()
        assert cal.parameters == {"solint": "inf", "minsnr": 3.0}


def test_sqlite_round_trip(tmp_path):
    db = ProductsDB.sqlite(tmp_path / "state" / "products.sqlite")
    _round_trip(db)
    assert current_revision(db.engine) == head_revision()


@pytest.mark.postgres
def test_postgres_round_trip(postgres_url):
    db = ProductsDB(postgres_url)
    try:
        _round_trip(db)
        assert current_revision(db.engine) == head_revision()
    finally:
        db.dispose()


def test_naive_datetimes_are_refused(tmp_path):
    db = ProductsDB.sqlite(tmp_path / "p.sqlite")
    with pytest.raises(Exception, match="timezone-aware"):
        with db.session() as s:
            s.add(Tile(tile_id="2025-10-13T13:25:07", group_time=T0.replace(tzinfo=None), n_subbands=1))


def test_failed_transaction_rolls_back(tmp_path):
    db = ProductsDB.sqlite(tmp_path / "p.sqlite")
    with pytest.raises(RuntimeError):
        with db.session() as s:
            s.add(Tile(tile_id="2025-10-13T13:25:07", group_time=T0, n_subbands=1))
            raise RuntimeError("boom")
    with db.session() as s:
        assert s.scalars(select(Tile)).all() == []


def test_old_schema_upgrades_in_place_keeping_rows(tmp_path):
    engine = make_engine(sqlite_url(tmp_path / "old.sqlite"))
    upgrade(engine, "0001")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO tiles (tile_id, group_time, n_subbands, status, created_at, updated_at)"
                " VALUES ('2025-10-13T13:25:07', '2025-10-13 13:25:07', 16, 'converted',"
                " '2025-10-13 13:30:00', '2025-10-13 13:30:00')"
            )
        )
        c.execute(
            text(
                "INSERT INTO measurement_sets (tile_id, path, kind, created_at)"
                " VALUES ('2025-10-13T13:25:07', '/ms/a.ms', 'science', '2025-10-13 13:30:00')"
            )
        )
    assert current_revision(engine) == "0001"
    engine.dispose()

    db = ProductsDB(sqlite_url(tmp_path / "old.sqlite"))  # opening upgrades
    assert current_revision(db.engine) == head_revision() != "0001"
    with db.session() as s:
        ms = s.scalars(select(MeasurementSet)).one()
        assert ms.path == "/ms/a.ms" and ms.flagged_fraction is None
        assert ms.tile.status == "converted"
        s.add(CalibrationTable(path="/c.gcal", caltype="G", solved_for=T0, valid_from=T0, valid_to=T0))


def test_migrations_match_models(tmp_path):
    """A model change without a migration is caught here, not in production."""
    engine = make_engine(sqlite_url(tmp_path / "m.sqlite"))
    upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


FULL_TILE_MS_BYTES = 2_750_000_000  # DATA + CORRECTED_DATA of a full tile: over 2**31
FULL_TILE_ROWS = 117 * 118 // 2 * 24  # every station slot, autos included
INT32_MAX = 2**31 - 1


def _full_size_rows(db: ProductsDB) -> None:
    tile_id = "2025-10-13T13:25:07"
    with db.session() as s:
        s.add(Tile(tile_id=tile_id, group_time=T0, n_subbands=16))
        s.add(SubbandFile(path="/in/big_sb00.hdf5", tile_id=tile_id, subband=0, file_time=T0,
                          size_bytes=3 * INT32_MAX))  # a replayed or concatenated file
        s.add(MeasurementSet(tile_id=tile_id, path="/ms/full.ms", kind="science", mid_time=T0,
                             n_rows=FULL_TILE_ROWS, n_channels=768,
                             size_bytes=FULL_TILE_MS_BYTES))
    with db.session() as s:
        ms = s.scalars(select(MeasurementSet)).one()
        assert ms.size_bytes == FULL_TILE_MS_BYTES and ms.n_rows == FULL_TILE_ROWS
        assert s.scalars(select(SubbandFile.size_bytes)).one() == 3 * INT32_MAX


def test_full_size_numbers_fit_sqlite(tmp_path):
    _full_size_rows(ProductsDB.sqlite(tmp_path / "p.sqlite"))


@pytest.mark.postgres
def test_full_size_numbers_fit_postgres(postgres_url):
    """A full tile's MS (~2.7 GB) overflowed a 32-bit column after it was published."""
    db = ProductsDB(postgres_url)
    try:
        _full_size_rows(db)
        # Forced photometry gains ~1e9 rows a year (sources x tiles x bands): its
        # ids, and the sequence behind them, must go past 2**31.
        with db.engine.begin() as c:
            c.execute(text("SELECT setval(pg_get_serial_sequence('forced_photometry', 'id'), :v)"),
                      {"v": INT32_MAX + 10})
        with db.session() as s:
            row = ForcedPhotometry(image_path="/i.fits", source_id="NVSS J000000+000000", epoch_mjd=60950.0,
                                   ra_deg=0.0, dec_deg=0.0, flux_jy=0.01, flux_err_jy=0.001)
            s.add(row)
            s.flush()
            assert row.id > INT32_MAX
    finally:
        db.dispose()


@pytest.mark.postgres
def test_migrations_match_models_postgres(postgres_url):
    """The migrated PostgreSQL schema is the models', and every size/count column is 64-bit."""
    engine = make_engine(postgres_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            columns = connection.execute(text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'public' AND (column_name LIKE '%bytes' OR column_name = 'n_rows')"
            )).all()
        assert diff == []
        assert len(columns) >= 3 and all(c.data_type == "bigint" for c in columns), columns
    finally:
        engine.dispose()


def test_failed_first_migration_leaves_no_half_schema_sqlite(tmp_path):
    """A migration that dies part-way (here: a clashing table) is rolled back whole,
    so the next open starts again from an empty database instead of failing forever."""
    url = sqlite_url(tmp_path / "p.sqlite")
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE mosaics (x INTEGER)"))  # migration 0003 creates this
    with pytest.raises(Exception, match="mosaics"):
        upgrade(engine)
    with engine.connect() as c:
        tables = {row[0] for row in c.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
    assert tables == {"mosaics"}, f"a failed migration left {sorted(tables - {'mosaics'})} behind"
    with engine.begin() as c:
        c.execute(text("DROP TABLE mosaics"))
    engine.dispose()
    ProductsDB(url)  # and the database opens cleanly afterwards
