"""PostgreSQL tells every listening producer when FMB's version stamps change (``db.SmallRead``).

A statement-level trigger on ``fmb_state``, so any change to the stamps (an import, a restore, a
hand-made fix) notifies, and at its commit only: NOTIFY is transactional. SQLite needs none
(``PRAGMA data_version`` moves on every commit by another connection).

Revision ID: 0008_fmb_state_notify
Revises: 0007_ops_probe
"""

from alembic import op

revision = "0008_fmb_state_notify"
down_revision = "0007_ops_probe"
branch_labels = None
depends_on = None

CHANNEL = "ntjp_fmb_state"  # fmb/models.STATE_CHANNEL


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION fmb_state_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER fmb_state_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fmb_state "
        "FOR EACH STATEMENT EXECUTE FUNCTION fmb_state_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER fmb_state_changed ON fmb_state")
    op.execute("DROP FUNCTION fmb_state_notify()")
