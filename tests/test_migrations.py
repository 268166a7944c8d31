"""Schema changes keep what is stored: an audit trail written before a migration reads the same after it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, text

from ntjp_producer.hosp.audit import AuditTrail
from ntjp_producer.storage import db
from tests.helpers import new_database


def test_the_audit_consumer_column_is_renamed_with_its_rows(tmp_path):
    url, drop = new_database(tmp_path)
    db.migrate(url, "0004_audit_harvest")
    engine = db.engine_for(url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO hosp_audit (at, correlation_id, caller_hsaid, via_platform, contract, returned, outcome) "
                 "VALUES (:at, 'c-1', 'SE2321000016-DEV1', false, 'GetHealthcareProfessional', '[]', 'ok')"),
            {"at": dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)},
        )  # fmt: skip
    db.migrate(url)
    columns = {c["name"] for c in inspect(engine).get_columns("hosp_audit")}
    assert "consumer_hsaid" in columns and "caller_hsaid" not in columns
    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("hosp_audit")}
    assert indexes.get("ix_hosp_audit_consumer") == ["consumer_hsaid", "at"]
    (record,) = AuditTrail(db.session_factory(url)).by_consumer("SE2321000016-DEV1")
    assert record["correlation_id"] == "c-1" and record["consumer_hsaid"] == "SE2321000016-DEV1"
    engine.dispose()
    drop()


def test_the_audit_person_index_keeps_its_rows_and_stays_append_only(tmp_path):
    """Migration 0009 rebuilds the person index on SQLite as a table that is its own key: what the
    trail says about a person reads the same after it, and its rows still refuse change."""
    url, drop = new_database(tmp_path)
    db.migrate(url, "0008_fmb_state_notify")
    engine = db.engine_for(url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO hosp_audit (id, at, correlation_id, consumer_hsaid, via_platform, contract, returned, "
                 "outcome) VALUES (7, :at, 'c-7', 'SE2321000016-DEV1', false, 'SearchHealthcareProfessionals', "
                 "'[\"195001011234\", \"196002022345\"]', 'ok')"),
            {"at": dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)},
        )  # fmt: skip
        conn.execute(text("INSERT INTO hosp_audit_person (pnr, audit_id, role) VALUES "
                          "('195001011234', 7, 'returned'), ('196002022345', 7, 'returned')"))  # fmt: skip
    db.migrate(url)
    trail = AuditTrail(db.session_factory(url))
    for pnr in ("195001011234", "196002022345"):
        (record,) = trail.about_person(pnr)
        assert record["correlation_id"] == "c-7" and record["roles"] == ["returned"]
    assert trail.about_person("197003033456") == []
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            (ddl,) = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'hosp_audit_person'")).one()
        assert "WITHOUT ROWID" in ddl
    for statement in ("DELETE FROM hosp_audit_person", "UPDATE hosp_audit_person SET role = 'asked'"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with pytest.raises(Exception, match=r"(?i)foreign key"), engine.begin() as conn:
        conn.execute(text("INSERT INTO hosp_audit_person (pnr, audit_id, role) VALUES ('195001011234', 99, 'asked')"))
    engine.dispose()
    drop()
