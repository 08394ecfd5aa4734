"""Image versions: a reprocessed image replaces the current one and the old record is kept.

Revision ID: 0007
Revises: 0006

Numbered 0007 because the sources branch adds a 0005 on 0004 in parallel:
whoever merges last chains the down_revisions into one line.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("code_version", sa.String(64)))
        batch.add_column(sa.Column("run_id", sa.String(64)))
    op.create_table(
        "image_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tile_id", sa.String(32), index=True),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("code_version", sa.String(64)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("backend", sa.String(16)),
        sa.Column("noise_jy", sa.Float()),
        sa.Column("peak_jy", sa.Float()),
        sa.Column("dynamic_range", sa.Float()),
        sa.Column("qa", sa.JSON()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("superseded_at", sa.DateTime(), nullable=False),
        sa.Column("superseded_by", sa.String(1024)),
    )


def downgrade() -> None:
    op.drop_table("image_history")
    with op.batch_alter_table("images") as batch:
        batch.drop_column("run_id")
        batch.drop_column("code_version")
        batch.drop_column("version")
