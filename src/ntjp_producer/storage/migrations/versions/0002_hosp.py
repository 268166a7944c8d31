"""HoSp register, search rows, state, and the append-only audit trail.

Revision ID: 0002_hosp
Revises: 0001_fmb
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_hosp"
down_revision = "0001_fmb"
branch_labels = None
depends_on = None


def _binary(length: int):
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_APPEND_ONLY = ("hosp_audit", "hosp_audit_person")


def upgrade() -> None:
    op.create_table(
        "hosp_person",
        sa.Column("pnr", sa.String(12), primary_key=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "hosp_search",
        sa.Column("pnr", sa.String(12), primary_key=True),
        sa.Column("profession", sa.String(4), primary_key=True),
        sa.Column("birth_date", sa.String(8), nullable=False),
        sa.Column("county", sa.String(2), nullable=True),
        sa.Column("municipality", sa.String(4), nullable=True),
        sa.Column("given_key", _binary(200), nullable=False),
        sa.Column("sort_key", _binary(420), nullable=False),
    )
    op.create_index("ix_hosp_search_sort", "hosp_search", ["profession", "sort_key"])
    op.create_index("ix_hosp_search_birth", "hosp_search", ["profession", "birth_date", "sort_key"])
    op.create_index("ix_hosp_search_municipality", "hosp_search", ["profession", "municipality", "sort_key"])
    op.create_index("ix_hosp_search_county", "hosp_search", ["profession", "county", "sort_key"])
    op.create_index("ix_hosp_search_given", "hosp_search", ["profession", "given_key"])
    op.create_table(
        "hosp_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("last_import", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_kind", sa.String(8), nullable=False),
        sa.Column("last_source", sa.Text(), nullable=False),
    )
    op.create_table(
        "hosp_audit",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("caller_hsaid", sa.String(64), nullable=True),
        sa.Column("via_platform", sa.Boolean(), nullable=False),
        sa.Column("platform_hsaid", sa.String(64), nullable=True),
        sa.Column("consumer_type", sa.String(32), nullable=True),
        sa.Column("contract", sa.String(64), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=True),
        sa.Column("returned", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
    )
    op.create_index("ix_hosp_audit_caller", "hosp_audit", ["caller_hsaid", "at"])
    # Primary key led by pnr: the one index serves "who looked at this person" and keeps each
    # audited call's insert to one index entry per person.
    op.create_table(
        "hosp_audit_person",
        sa.Column("pnr", sa.String(12), nullable=False),
        sa.Column("audit_id", _ID, sa.ForeignKey("hosp_audit.id"), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("pnr", "audit_id", "role"),
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION hosp_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'the HoSp audit trail is append-only'; END $$"
        )
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION hosp_audit_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION hosp_audit_append_only()"
            )
    else:
        for table in _APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'the HoSp audit trail is append-only'); END"
                )


def downgrade() -> None:
    raise NotImplementedError("the HoSp audit trail is never dropped by a migration")
