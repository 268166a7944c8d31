"""The audit trail for harvest protection and correlation: the correlation id a direct consumer
sent (kept beside the producer's own: only the platform's is taken as the call's), why a call was
refused (``refusal``), and an index to count the persons answered to a consumer in a window.

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
    op.create_index("ix_hosp_audit_person_audit", "hosp_audit_person", ["audit_id", "role"])


def downgrade() -> None:
    op.drop_index("ix_hosp_audit_person_audit", "hosp_audit_person")
    with op.batch_alter_table("hosp_audit") as batch:
        batch.drop_column("refusal")
        batch.drop_column("consumer_correlation_id")
