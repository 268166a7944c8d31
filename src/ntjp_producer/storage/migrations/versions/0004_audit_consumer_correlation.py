"""The correlation id a direct consumer sent, kept beside the producer's own in the audit trail.

Only the platform's correlation id is trusted as the call's; a consumer that connects directly may
send one too, and it is recorded here instead of replacing the producer's.

Revision ID: 0004_audit_consumer_correlation
Revises: 0003_ops
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_audit_consumer_correlation"
down_revision = "0003_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosp_audit") as batch:
        batch.add_column(sa.Column("consumer_correlation_id", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hosp_audit") as batch:
        batch.drop_column("consumer_correlation_id")
