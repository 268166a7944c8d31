"""Per-minute call figures for SLA reports and the status page.

Revision ID: 0003_ops
Revises: 0002_hosp
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_ops"
down_revision = "0002_hosp"
branch_labels = None
depends_on = None

BUCKETS = 13


def upgrade() -> None:
    op.create_table(
        "ops_minute",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(16), nullable=False),
        sa.Column("contract", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sum_ms", sa.Float(), nullable=False),
        *(sa.Column(f"b{i}", sa.Integer(), nullable=False, server_default="0") for i in range(BUCKETS)),
        sa.UniqueConstraint("minute", "service", "contract", "outcome", name="uq_ops_minute"),
    )
    op.create_index("ix_ops_minute_minute", "ops_minute", ["minute"])


def downgrade() -> None:
    op.drop_table("ops_minute")
