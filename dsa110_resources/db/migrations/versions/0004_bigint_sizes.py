"""64-bit sizes and row counts; 64-bit forced-photometry ids.

A full tile's MS is ~2.7 GB: a 32-bit ``size_bytes`` overflowed on
PostgreSQL after the MS was published. Forced photometry grows by ~1e9 rows
a year (sources x tiles x bands), so its ids (and, on PostgreSQL, the
sequence behind them, which keeps its own type) go 64-bit too. SQLite's
INTEGER is already 64-bit; its columns are retyped only to match the models.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SIZE_COLUMNS = {"subband_files": ("size_bytes",), "measurement_sets": ("n_rows", "size_bytes")}


def _retype(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    for table, columns in SIZE_COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, existing_type=old, type_=new, existing_nullable=True)
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("forced_photometry", "id", existing_type=old, type_=new, existing_nullable=False)
        kind = "bigint" if isinstance(new, sa.BigInteger) else "integer"
        op.execute(f"ALTER SEQUENCE IF EXISTS forced_photometry_id_seq AS {kind}")


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer())
