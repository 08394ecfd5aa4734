"""Tiles, subband files and Measurement Sets.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tiles",
        sa.Column("tile_id", sa.String(32), primary_key=True),
        sa.Column("group_time", sa.DateTime(), nullable=False),
        sa.Column("partition_key", sa.String(32)),
        sa.Column("declination_deg", sa.Float()),
        sa.Column("n_subbands", sa.Integer(), nullable=False),
        sa.Column("missing_subbands", sa.String(64)),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("calibrator", sa.String(64)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_tiles_partition_key", "tiles", ["partition_key"])
    op.create_index("ix_tiles_status", "tiles", ["status"])
    op.create_table(
        "subband_files",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("path", sa.String(1024), nullable=False, unique=True),
        sa.Column("tile_id", sa.String(32), sa.ForeignKey("tiles.tile_id")),
        sa.Column("subband", sa.Integer(), nullable=False),
        sa.Column("file_time", sa.DateTime(), nullable=False),
        sa.Column("size_bytes", sa.Integer()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_subband_files_tile_id", "subband_files", ["tile_id"])
    op.create_table(
        "measurement_sets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tile_id", sa.String(32), sa.ForeignKey("tiles.tile_id"), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("mid_time", sa.DateTime()),
        sa.Column("ra_deg", sa.Float()),
        sa.Column("dec_deg", sa.Float()),
        sa.Column("n_rows", sa.Integer()),
        sa.Column("n_channels", sa.Integer()),
        sa.Column("size_bytes", sa.Integer()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_measurement_sets_tile_id", "measurement_sets", ["tile_id"])


def downgrade() -> None:
    op.drop_table("measurement_sets")
    op.drop_table("subband_files")
    op.drop_table("tiles")
