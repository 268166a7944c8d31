"""The audit column that holds the consumer a call was made for is called so: ``consumer_hsaid``.

It was ``caller_hsaid``, while ``environ["ntjp.caller_hsaid"]`` is the TLS peer (the platform, for
a call through NTJP): the same word for two different parties. Rows are kept as they are; the
column and its index are renamed in place (the append-only triggers do not name columns).

Revision ID: 0005_audit_consumer
Revises: 0004_audit_harvest
"""

from alembic import op

revision = "0005_audit_consumer"
down_revision = "0004_audit_harvest"
branch_labels = None
depends_on = None


def _rename(old_column: str, new_column: str, old_index: str, new_index: str) -> None:
    op.execute(f"ALTER TABLE hosp_audit RENAME COLUMN {old_column} TO {new_column}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX {old_index} RENAME TO {new_index}")
    else:  # SQLite renames the column inside the index; the index keeps its name until made anew
        op.execute(f"DROP INDEX {old_index}")
        op.execute(f"CREATE INDEX {new_index} ON hosp_audit ({new_column}, at)")


def upgrade() -> None:
    _rename("caller_hsaid", "consumer_hsaid", "ix_hosp_audit_caller", "ix_hosp_audit_consumer")


def downgrade() -> None:
    _rename("consumer_hsaid", "caller_hsaid", "ix_hosp_audit_consumer", "ix_hosp_audit_caller")
