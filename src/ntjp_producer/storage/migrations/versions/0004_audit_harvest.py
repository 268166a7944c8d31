"""The audit trail for harvest protection and correlation: the correlation id a direct consumer
sent (kept beside the producer's own: only the platform's is taken as the call's), why a call was
refused (``refusal``), and the persons answered per consumer and hour (``hosp_returned_hour``), which
harvest protection's rolling quota sums.

Revision ID: 0004_audit_harvest
Revises: 0003_ops
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_audit_harvest"
down_revision = "0003_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosp_audit") as batch:
        batch.add_column(sa.Column("consumer_correlation_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("refusal", sa.String(32), nullable=True))
    op.create_table(
        "hosp_returned_hour",
        sa.Column("consumer_hsaid", sa.String(64), primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("persons", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hosp_returned_hour")
    with op.batch_alter_table("hosp_audit") as batch:
        batch.drop_column("refusal")
        batch.drop_column("consumer_correlation_id")
