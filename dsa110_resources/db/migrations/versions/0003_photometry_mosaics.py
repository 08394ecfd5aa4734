"""Forced photometry, flux corrections, variability, ESE candidates, mosaics.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forced_photometry",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("image_path", sa.String(1024), nullable=False),
        sa.Column("tile_id", sa.String(32)),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("freq_hz", sa.Float()),
        sa.Column("epoch_mjd", sa.Float(), nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("flux_jy", sa.Float(), nullable=False),
        sa.Column("flux_err_jy", sa.Float(), nullable=False),
        sa.Column("local_rms_jy", sa.Float()),
        sa.Column("pb_gain", sa.Float()),
        sa.Column("snr", sa.Float()),
        sa.Column("blended", sa.Boolean(), nullable=False),
        sa.Column("edge", sa.Boolean(), nullable=False),
        sa.Column("norm_flux_jy", sa.Float()),
        sa.Column("norm_flux_err_jy", sa.Float()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_forced_photometry_tile_id", "forced_photometry", ["tile_id"])
    op.create_index(
        "ux_forced_image_source_band", "forced_photometry", ["image_path", "source_id", "band"], unique=True
    )
    op.create_index("ix_forced_source_band_epoch", "forced_photometry", ["source_id", "band", "epoch_mjd"])
    op.create_table(
        "flux_corrections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("epoch_mjd", sa.Float(), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("correction", sa.Float(), nullable=False),
        sa.Column("correction_err", sa.Float(), nullable=False),
        sa.Column("n_references", sa.Integer(), nullable=False),
        sa.Column("reference_ids", sa.JSON()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_flux_corrections_day", "flux_corrections", ["day"])
    op.create_index("ux_flux_correction_epoch_band", "flux_corrections", ["epoch_mjd", "band"], unique=True)
    op.create_table(
        "variability_metrics",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("n_epochs", sa.Integer(), nullable=False),
        sa.Column("weighted_mean_jy", sa.Float()),
        sa.Column("eta", sa.Float()),
        sa.Column("chi2_nu", sa.Float()),
        sa.Column("v", sa.Float()),
        sa.Column("vs_max", sa.Float()),
        sa.Column("m_at_vs_max", sa.Float()),
        sa.Column("two_epoch_flag", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_variability_metrics_day", "variability_metrics", ["day"])
    op.create_index(
        "ux_variability_source_day_band", "variability_metrics", ["source_id", "day", "band"], unique=True
    )
    op.create_table(
        "ese_candidates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("snr", sa.Float(), nullable=False),
        sa.Column("depth", sa.Float()),
        sa.Column("duration_days", sa.Float()),
        sa.Column("t0_mjd", sa.Float()),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("details", sa.JSON()),
        sa.Column("plot_path", sa.String(1024)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_ese_candidates_day", "ese_candidates", ["day"])
    op.create_index("ux_ese_source_day_band", "ese_candidates", ["source_id", "day", "band"], unique=True)
    op.create_table(
        "mosaics",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("partition_key", sa.String(32), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False, unique=True),
        sa.Column("start_time", sa.DateTime(), nullable=False),
        sa.Column("end_time", sa.DateTime(), nullable=False),
        sa.Column("n_tiles", sa.Integer(), nullable=False),
        sa.Column("tiles", sa.JSON()),
        sa.Column("noise_jy", sa.Float()),
        sa.Column("coverage", sa.Float()),
        sa.Column("qa", sa.JSON()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_mosaics_partition_key", "mosaics", ["partition_key"])


def downgrade() -> None:
    for name in ("mosaics", "ese_candidates", "variability_metrics", "flux_corrections", "forced_photometry"):
        op.drop_table(name)
