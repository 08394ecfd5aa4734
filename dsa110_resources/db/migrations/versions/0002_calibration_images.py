"""Calibration registry, applications, images; MS flagged fraction.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("measurement_sets") as batch:
        batch.add_column(sa.Column("flagged_fraction", sa.Float()))
    op.create_table(
        "calibration_tables",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("path", sa.String(1024), nullable=False, unique=True),
        sa.Column("caltype", sa.String(8), nullable=False),
        sa.Column("solved_for", sa.DateTime(), nullable=False),
        sa.Column("valid_from", sa.DateTime(), nullable=False),
        sa.Column("valid_to", sa.DateTime(), nullable=False),
        sa.Column("source_tile_id", sa.String(32)),
        sa.Column("source_ms", sa.String(1024)),
        sa.Column("calibrator", sa.String(64)),
        sa.Column("refant", sa.String(16)),
        sa.Column("casa_version", sa.String(32)),
        sa.Column("parameters", sa.JSON()),
        sa.Column("qa", sa.JSON()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index(
        "ix_caltable_type_window", "calibration_tables", ["caltype", "valid_from", "valid_to"]
    )
    op.create_table(
        "calibration_applications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ms_path", sa.String(1024), nullable=False),
        sa.Column("caltable_id", sa.Integer(), sa.ForeignKey("calibration_tables.id"), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_calibration_applications_ms_path", "calibration_applications", ["ms_path"])
    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tile_id", sa.String(32)),
        sa.Column("path", sa.String(1024), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("backend", sa.String(16)),
        sa.Column("noise_jy", sa.Float()),
        sa.Column("peak_jy", sa.Float()),
        sa.Column("dynamic_range", sa.Float()),
        sa.Column("bmaj_arcsec", sa.Float()),
        sa.Column("bmin_arcsec", sa.Float()),
        sa.Column("bpa_deg", sa.Float()),
        sa.Column("qa", sa.JSON()),
        sa.Column("is_valid", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_images_tile_id", "images", ["tile_id"])


def downgrade() -> None:
    op.drop_table("images")
    op.drop_table("calibration_applications")
    op.drop_table("calibration_tables")
    with op.batch_alter_table("measurement_sets") as batch:
        batch.drop_column("flagged_fraction")
