"""The audit trail: every HoSp call, answered or refused, recorded before the answer leaves.

The RIV-TA plumbing calls ``AuditTrail.record`` for each call with what the adapter noted (the
criteria, the persons asked for and returned); the record is committed before the response is
written, and if it cannot be, the plumbing withholds the answer. The tables refuse UPDATE and
DELETE (see the migration), so the trail can only grow.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from ntjp_producer.hosp.models import HospAudit, HospAuditPerson
from ntjp_producer.storage import db
from ntjp_producer.storage.group_commit import GroupCommit

# A batch of records in one statement, its own transaction (autocommit): the audit rows, their
# persons and the hourly counts, from one JSON array of the batch's records (one parameter for the
# driver to send, where arrays column by column cost it more than the statement). The ids are
# drawn in the first step, so the persons' rows name their record's id with no round trip between.
_PG_BATCH = (
    "WITH r AS MATERIALIZED (SELECT nextval('hosp_audit_id_seq') AS id, t.* "
    "FROM json_to_recordset(CAST(:batch AS json)) AS t(at timestamptz, correlation_id text, "
    "consumer_correlation_id text, consumer_hsaid text, via_platform boolean, platform_hsaid text, "
    "consumer_type text, contract text, criteria text, returned text, outcome text, refusal text, persons json, "
    "hour timestamptz, answered integer)), "
    "a AS (INSERT INTO hosp_audit (id, at, correlation_id, consumer_correlation_id, consumer_hsaid, via_platform, "
    "platform_hsaid, consumer_type, contract, criteria, returned, outcome, refusal) SELECT id, at, correlation_id, "
    "consumer_correlation_id, consumer_hsaid, via_platform, platform_hsaid, consumer_type, contract, "
    "CAST(criteria AS json), CAST(returned AS json), outcome, refusal FROM r), "
    "p AS (INSERT INTO hosp_audit_person (audit_id, pnr, role) "
    "SELECT r.id, e ->> 0, e ->> 1 FROM r, json_array_elements(r.persons) AS e), "
    "h AS (INSERT INTO hosp_returned_hour (consumer_hsaid, hour, persons) SELECT consumer_hsaid, hour, sum(answered) "
    "FROM r WHERE answered > 0 AND consumer_hsaid IS NOT NULL GROUP BY consumer_hsaid, hour "
    "ON CONFLICT (consumer_hsaid, hour) DO UPDATE SET persons = hosp_returned_hour.persons + EXCLUDED.persons) "
    "SELECT count(*) FROM r"
)
# Whether a batch is in the trail: its statement is all or nothing, so its first record tells.
_PG_WRITTEN = (
    "SELECT count(*) FROM hosp_audit WHERE at = :at AND correlation_id = :correlation_id AND "
    "(consumer_hsaid = :consumer_hsaid OR (consumer_hsaid IS NULL AND CAST(:consumer_hsaid AS text) IS NULL))"
)


class Call(Protocol):
    """What the audit records of a call: the plumbing's call record (``rivta/calls.py``) has it."""

    contract: str
    correlation_id: str
    consumer_correlation_id: str | None
    consumer_hsaid: str | None
    via_platform: bool
    platform_hsaid: str | None
    consumer_type: str | None
    refusal: str | None
    criteria: dict[str, Any] | None
    asked: list[str]
    returned: list[str]


class AuditTrail:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._engine = sessions.kw["bind"]
        # Concurrent calls' records share one commit, each answer waiting for its own (fail closed).
        if self._engine.dialect.name == "postgresql":
            self.commits = GroupCommit(self._engine, _write_pg, written=_written_pg)
        else:
            self.commits = GroupCommit(self._engine, _write_sqlite)

    def record(self, call: Call, outcome: str) -> None:
        """Returns once the call's record is committed; raises if it could not be."""
        self.commits.submit(_values(call, outcome))

    def writable(self) -> bool:
        """Whether a record could be written now, within the lock timeout: takes the write lock a
        record needs and lets it go, writing nothing. A locked trail makes every call fail, so the
        health check must see it, not only whether the database answers."""
        try:
            with self._engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("LOCK TABLE hosp_audit IN ROW EXCLUSIVE MODE"))
                else:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                conn.rollback()
            return True
        except Exception:
            return False

    def about_person(self, pnr: str) -> list[dict[str, Any]]:
        """Who looked at this person: every call that asked for or answered with them."""
        q = (
            select(HospAudit, HospAuditPerson.role)
            .join(HospAuditPerson, HospAuditPerson.audit_id == HospAudit.id)
            .where(HospAuditPerson.pnr == pnr)
            .order_by(HospAudit.id)
        )
        with self._sessions() as session:
            rows: dict[int, dict[str, Any]] = {}
            for audit, role in session.execute(q):
                entry = rows.setdefault(audit.id, {**_dict(audit), "roles": []})
                entry["roles"].append(role)
            return list(rows.values())

    def by_consumer(self, hsa_id: str) -> list[dict[str, Any]]:
        """What this consumer looked at: every call made for it, directly or through the platform."""
        q = select(HospAudit).where(HospAudit.consumer_hsaid == hsa_id).order_by(HospAudit.id)
        with self._sessions() as session:
            return [_dict(a) for a in session.scalars(q)]

    def persons_returned_since(self, hsa_id: str, since: dt.datetime) -> int:
        """Persons answered to this consumer since the hour ``since`` falls in (harvest protection's
        quota): a sum over at most 25 hourly rows, however busy the consumer."""
        params = returned_since_params(hsa_id, since, self._engine.dialect.name)
        ((used,),) = db.fetch(self._engine, "SELECT " + RETURNED_SINCE, params)
        return int(used)

    def count(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(HospAudit))


def _values(call: Call, outcome: str) -> dict[str, Any]:
    at = dt.datetime.now(dt.UTC)
    persons = sorted({(p, "asked") for p in call.asked} | {(p, "returned") for p in call.returned})
    return {
        "at": at,
        "correlation_id": call.correlation_id,
        "consumer_correlation_id": call.consumer_correlation_id,
        "consumer_hsaid": call.consumer_hsaid,
        "via_platform": call.via_platform,
        "platform_hsaid": call.platform_hsaid,
        "consumer_type": call.consumer_type,
        "contract": call.contract,
        # The JSON columns as text, for the driver (SQL NULL when there were no criteria).
        "criteria": None if call.criteria is None else json.dumps(call.criteria, ensure_ascii=False),
        "returned": json.dumps(list(call.returned)),
        "outcome": outcome,
        "refusal": call.refusal,
        "persons": persons,
        "hour": at.replace(minute=0, second=0, microsecond=0),
        "answered": len(call.returned),
    }


_AUDIT_COLUMNS = (
    "at", "correlation_id", "consumer_correlation_id", "consumer_hsaid", "via_platform", "platform_hsaid",
    "consumer_type", "contract", "criteria", "returned", "outcome", "refusal",
)  # fmt: skip


# The column names are the constant tuple above; every value is a bound parameter.
_SQLITE_AUDIT = "INSERT INTO hosp_audit ({}) VALUES ({}) RETURNING id".format(  # noqa: S608
    ", ".join(_AUDIT_COLUMNS), ", ".join(":" + c for c in _AUDIT_COLUMNS)
)
_SQLITE_PERSON = "INSERT INTO hosp_audit_person (audit_id, pnr, role) VALUES (?, ?, ?)"
_SQLITE_HOUR = (
    "INSERT INTO hosp_returned_hour (consumer_hsaid, hour, persons) VALUES (?, ?, ?) "
    "ON CONFLICT (consumer_hsaid, hour) DO UPDATE SET persons = persons + excluded.persons"
)
# The quota's count as a scalar subquery: read on its own, or as a column of the register's read.
RETURNED_SINCE = (
    "(SELECT COALESCE(SUM(persons), 0) FROM hosp_returned_hour "
    "WHERE consumer_hsaid = :returned_hsaid AND hour >= :returned_hour)"
)


def returned_since_params(hsa_id: str, since: dt.datetime, dialect: str) -> dict[str, Any]:
    """``RETURNED_SINCE``'s parameters: the hourly rows from the hour ``since`` falls in."""
    hour = since.replace(minute=0, second=0, microsecond=0)
    return {"returned_hsaid": hsa_id, "returned_hour": hour if dialect == "postgresql" else db.sqlite_datetime(hour)}


def _write_pg(conn, records: list[dict[str, Any]]) -> None:
    """Several calls' records in one statement, committed as it runs (an autocommit connection)."""
    batch = json.dumps(
        [{**r, "at": r["at"].isoformat(), "hour": r["hour"].isoformat()} for r in records], ensure_ascii=False
    )
    cursor = conn.cursor()
    try:
        cursor.execute(db.driver_sql(_PG_BATCH, "postgresql"), {"batch": batch})
    finally:
        cursor.close()


def _written_pg(conn, records: list[dict[str, Any]]) -> bool:
    first = records[0]
    cursor = conn.cursor()
    try:
        cursor.execute(db.driver_sql(_PG_WRITTEN, "postgresql"),
                       {k: first[k] for k in ("at", "correlation_id", "consumer_hsaid")})  # fmt: skip
        return cursor.fetchone()[0] > 0
    finally:
        cursor.close()


def _write_sqlite(conn, records: list[dict[str, Any]]) -> None:
    """Several calls' records in the group's one transaction (a driver-level connection)."""
    cursor = conn.cursor()
    try:
        persons: list[tuple[int, str, str]] = []
        hours: dict[tuple[str, str], int] = {}
        for r in records:
            row = {k: r[k] for k in _AUDIT_COLUMNS}
            row["at"] = db.sqlite_datetime(r["at"])
            cursor.execute(_SQLITE_AUDIT, row)
            (audit_id,) = cursor.fetchone()
            persons.extend((audit_id, p, role) for p, role in r["persons"])
            if r["answered"] and r["consumer_hsaid"] is not None:
                key = (r["consumer_hsaid"], db.sqlite_datetime(r["hour"]))
                hours[key] = hours.get(key, 0) + r["answered"]
        if persons:
            cursor.executemany(_SQLITE_PERSON, persons)
        if hours:
            cursor.executemany(_SQLITE_HOUR, [(h, hour, n) for (h, hour), n in hours.items()])
    finally:
        cursor.close()


def _dict(a: HospAudit) -> dict[str, Any]:
    at = a.at if a.at.tzinfo else a.at.replace(tzinfo=dt.UTC)
    return {
        "id": a.id,
        "at": at.isoformat(timespec="seconds"),
        "correlation_id": a.correlation_id,
        "consumer_correlation_id": a.consumer_correlation_id,
        "consumer_hsaid": a.consumer_hsaid,
        "via_platform": a.via_platform,
        "platform_hsaid": a.platform_hsaid,
        "consumer_type": a.consumer_type,
        "contract": a.contract,
        "criteria": a.criteria,
        "returned": a.returned,
        "outcome": a.outcome,
        "refusal": a.refusal,
    }
