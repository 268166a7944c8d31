"""Schema changes keep what is stored: an audit trail written before a migration reads the same after it."""

from __future__ import annotations

import datetime as dt

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
