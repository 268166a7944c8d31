"""Probe rounds: uptime as the platform's monitor sees it (ops/prober.py).

Revision ID: 0007_ops_probe
Revises: 0006_ops_latency
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_ops_probe"
down_revision = "0006_ops_latency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_probe",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(16), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("ms", sa.Float(), nullable=False),
        sa.Column("detail", sa.String(200), nullable=True),
    )
    op.create_index("ix_ops_probe_at", "ops_probe", ["at"])


def downgrade() -> None:
    op.drop_table("ops_probe")
