"""On SQLite, the audit trail's person index becomes its own primary key (``WITHOUT ROWID``).

A rowid table with a composite primary key is two B-trees: the rows, in rowid order, and the key's
index, which holds every column again. Each person an audited call concerns went into both. A
``WITHOUT ROWID`` table is the key's B-tree and nothing else. An IVO search writes a hundred
persons with its record, so its audit write is one B-tree insert per person instead of two, and
the database takes less room (the benchmark's file, 50,000 persons and some 480,000 person rows,
was 15 % smaller). The 100-person search gained 4 % in calls a second, within this machine's
noise (docs/performance.md). PostgreSQL keeps its heap and key index: it has no such choice.

The rows are copied as they are, and the append-only triggers are made again on the new table.
The copy is one pass over the person index, in the upgrade's transaction: on a trail of tens of
millions of rows it takes minutes and, until it commits, room for a second copy of the index.

Revision ID: 0009_audit_person_clustered
Revises: 0008_fmb_state_notify
"""

from alembic import op

revision = "0009_audit_person_clustered"
down_revision = "0008_fmb_state_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE TABLE hosp_audit_person_new (pnr VARCHAR(12) NOT NULL, audit_id INTEGER NOT NULL, "
        "role VARCHAR(10) NOT NULL, PRIMARY KEY (pnr, audit_id, role), "
        "FOREIGN KEY (audit_id) REFERENCES hosp_audit (id)) WITHOUT ROWID"
    )
    op.execute(
        "INSERT INTO hosp_audit_person_new (pnr, audit_id, role) SELECT pnr, audit_id, role FROM hosp_audit_person"
    )
    op.execute("DROP TRIGGER hosp_audit_person_no_update")
    op.execute("DROP TRIGGER hosp_audit_person_no_delete")
    op.execute("DROP TABLE hosp_audit_person")
    op.execute("ALTER TABLE hosp_audit_person_new RENAME TO hosp_audit_person")
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER hosp_audit_person_no_{action.lower()} BEFORE {action} ON hosp_audit_person "
            "BEGIN SELECT RAISE(ABORT, 'the HoSp audit trail is append-only'); END"
        )


def downgrade() -> None:
    raise NotImplementedError("the HoSp audit trail is never dropped by a migration")
