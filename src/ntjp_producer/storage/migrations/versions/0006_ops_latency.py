"""Fine latency per minute: counts per log-linear bucket (about 4 % wide), so that percentiles are
exact to a few per cent and an SLA target may be any value, not only a coarse bucket bound. One row
per minute, service, contract, outcome and bucket that had calls; workers add to it with an upsert.

Revision ID: 0006_ops_latency
Revises: 0005_audit_consumer
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_ops_latency"
down_revision = "0005_audit_consumer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_minute_latency",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(16), nullable=False),
        sa.Column("contract", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.UniqueConstraint("minute", "service", "contract", "outcome", "bucket", name="uq_ops_minute_latency"),
    )
    op.create_index("ix_ops_minute_latency_minute", "ops_minute_latency", ["minute"])


def downgrade() -> None:
    op.drop_table("ops_minute_latency")
