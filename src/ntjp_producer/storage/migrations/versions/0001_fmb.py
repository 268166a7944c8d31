"""FMB items, codes, version state and import log.

Revision ID: 0001_fmb
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_fmb"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fmb_item",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("giltig_start", sa.Date(), nullable=False),
        sa.Column("giltig_slut", sa.Date(), nullable=True),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column("senast_andrad", sa.DateTime(timezone=True), nullable=False),
        sa.Column("meaning_digest", sa.String(64), nullable=False),
        sa.Column("content_digest", sa.String(64), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.UniqueConstraint("kind", "item_id"),
    )
    op.create_index("ix_fmb_item_kind", "fmb_item", ["kind"])
    op.create_table(
        "fmb_item_diagnos",
        sa.Column(
            "item_pk",
            sa.Integer(),
            sa.ForeignKey("fmb_item.pk", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("kod", sa.String(16), primary_key=True),
    )
    op.create_index("ix_fmb_item_diagnos_kod", "fmb_item_diagnos", ["kod"])
    op.create_table(
        "fmb_state",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("senaste_versionsuppdatering", sa.String(14), nullable=False),
        sa.Column("senate_andring", sa.String(14), nullable=False),
        sa.Column("release_version", sa.String(64), nullable=True),
        sa.Column("release_built", sa.String(64), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fmb_import",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("release_version", sa.String(64), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fmb_import")
    op.drop_table("fmb_state")
    op.drop_index("ix_fmb_item_diagnos_kod", "fmb_item_diagnos")
    op.drop_table("fmb_item_diagnos")
    op.drop_index("ix_fmb_item_kind", "fmb_item")
    op.drop_table("fmb_item")
