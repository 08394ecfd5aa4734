"""Master source catalog (versioned), blind-source measurements, new sources.

Two views read the newest catalog version: ``master_sources_current`` (every
source) and ``master_reference_sources`` (the reference-quality subset:
compact, isolated, not confused, bright enough; the ``reference`` flag).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_NEWEST = "(SELECT max(id) FROM master_catalog_versions)"


def upgrade() -> None:
    op.create_table(
        "master_catalog_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.Column("n_sources", sa.Integer(), nullable=False),
        sa.Column("n_reference", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text()),
    )
    op.create_table(
        "master_sources",
        sa.Column("id", BigID, primary_key=True, autoincrement=True),
        sa.Column("version_id", sa.Integer(),
                  sa.ForeignKey("master_catalog_versions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("ra_err_arcsec", sa.Float()),
        sa.Column("dec_err_arcsec", sa.Float()),
        sa.Column("flux_jy", sa.Float(), nullable=False),
        sa.Column("flux_err_jy", sa.Float()),
        sa.Column("major_arcsec", sa.Float()),
        sa.Column("minor_arcsec", sa.Float()),
        sa.Column("pa_deg", sa.Float()),
        sa.Column("first_flux_jy", sa.Float()),
        sa.Column("first_n", sa.Integer(), nullable=False),
        sa.Column("vlass_flux_jy", sa.Float()),
        sa.Column("vlass_flux_err_jy", sa.Float()),
        sa.Column("vlass_n", sa.Integer(), nullable=False),
        sa.Column("alpha", sa.Float()),
        sa.Column("alpha_err", sa.Float()),
        sa.Column("nearest_arcsec", sa.Float()),
        sa.Column("compact", sa.Boolean(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("isolated", sa.Boolean(), nullable=False),
        sa.Column("confused", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.Boolean(), nullable=False),
    )
    op.create_index("ux_master_version_source", "master_sources", ["version_id", "source_id"], unique=True)
    op.create_index("ix_master_version_dec_ra", "master_sources", ["version_id", "dec_deg", "ra_deg"])
    op.create_table(
        "new_sources",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("ra_err_arcsec", sa.Float(), nullable=False),
        sa.Column("dec_err_arcsec", sa.Float(), nullable=False),
        sa.Column("first_seen_mjd", sa.Float(), nullable=False),
        sa.Column("first_image", sa.String(1024), nullable=False),
        sa.Column("last_seen_mjd", sa.Float(), nullable=False),
        sa.Column("n_detections", sa.Integer(), nullable=False),
        sa.Column("max_snr", sa.Float(), nullable=False),
        sa.Column("peak_flux_jy", sa.Float(), nullable=False),
        sa.Column("new_sigma", sa.Float()),
        sa.Column("n_prior_images", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_new_sources_first_seen_mjd", "new_sources", ["first_seen_mjd"])
    op.create_table(
        "source_measurements",
        sa.Column("id", BigID, primary_key=True, autoincrement=True),
        sa.Column("image_path", sa.String(1024), nullable=False),
        sa.Column("image_kind", sa.String(16), nullable=False),
        sa.Column("tile_id", sa.String(32)),
        sa.Column("epoch_mjd", sa.Float(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("ra_err_arcsec", sa.Float()),
        sa.Column("dec_err_arcsec", sa.Float()),
        sa.Column("peak_jy", sa.Float(), nullable=False),
        sa.Column("peak_err_jy", sa.Float(), nullable=False),
        sa.Column("flux_jy", sa.Float()),
        sa.Column("flux_err_jy", sa.Float()),
        sa.Column("major_arcsec", sa.Float()),
        sa.Column("minor_arcsec", sa.Float()),
        sa.Column("pa_deg", sa.Float()),
        sa.Column("local_rms_jy", sa.Float(), nullable=False),
        sa.Column("snr", sa.Float(), nullable=False),
        sa.Column("pb_gain", sa.Float(), nullable=False),
        sa.Column("master_source_id", sa.String(64)),
        sa.Column("master_version_id", sa.Integer()),
        sa.Column("new_source_id", sa.Integer(), sa.ForeignKey("new_sources.id", ondelete="SET NULL")),
        sa.Column("separation_arcsec", sa.Float()),
        sa.Column("de_ruiter", sa.Float()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_measurement_image", "source_measurements", ["image_path"])
    op.create_index("ix_measurement_master_epoch", "source_measurements", ["master_source_id", "epoch_mjd"])
    op.create_index("ix_measurement_new_epoch", "source_measurements", ["new_source_id", "epoch_mjd"])
    op.create_index("ix_measurement_epoch", "source_measurements", ["epoch_mjd"])
    op.create_index("ix_source_measurements_tile_id", "source_measurements", ["tile_id"])
    op.execute(f"CREATE VIEW master_sources_current AS SELECT * FROM master_sources WHERE version_id = {_NEWEST}")
    op.execute(
        "CREATE VIEW master_reference_sources AS SELECT * FROM master_sources"
        f" WHERE version_id = {_NEWEST} AND reference"
    )


def downgrade() -> None:
    op.execute("DROP VIEW master_reference_sources")
    op.execute("DROP VIEW master_sources_current")
    for name in ("source_measurements", "new_sources", "master_sources", "master_catalog_versions"):
        op.drop_table(name)
