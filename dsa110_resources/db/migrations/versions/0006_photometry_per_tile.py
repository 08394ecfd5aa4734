"""Photometry for drift-scan sampling: per-tile flux corrections, per-transit light curves.

``flux_corrections`` rows become per tile (tile_id; the references' chi2_nu
and their spread over the field); ``transit_fluxes`` holds each source's
normalised flux per transit (day), the light curve variability and the ESE
search run on.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flux_corrections") as batch:
        batch.add_column(sa.Column("tile_id", sa.String(32)))
        batch.add_column(sa.Column("chi2_nu", sa.Float()))
        batch.add_column(sa.Column("ref_spread", sa.Float()))
        batch.create_index("ix_flux_corrections_tile_id", ["tile_id"])
    op.create_table(
        "transit_fluxes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("epoch_mjd", sa.Float(), nullable=False),
        sa.Column("flux_jy", sa.Float(), nullable=False),
        sa.Column("flux_err_jy", sa.Float(), nullable=False),
        sa.Column("n_tiles", sa.Integer(), nullable=False),
        sa.Column("chi2_nu", sa.Float()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_transit_fluxes_day", "transit_fluxes", ["day"])
    op.create_index("ux_transit_source_band_day", "transit_fluxes", ["source_id", "band", "day"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_transit_source_band_day", table_name="transit_fluxes")
    op.drop_index("ix_transit_fluxes_day", table_name="transit_fluxes")
    op.drop_table("transit_fluxes")
    with op.batch_alter_table("flux_corrections") as batch:
        batch.drop_index("ix_flux_corrections_tile_id")
        batch.drop_column("ref_spread")
        batch.drop_column("chi2_nu")
        batch.drop_column("tile_id")
