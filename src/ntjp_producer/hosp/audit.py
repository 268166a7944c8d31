"""The audit trail: every HoSp call, answered or refused, recorded before the answer leaves.

The RIV-TA plumbing calls ``AuditTrail.record`` for each call with what the adapter noted (the
criteria, the persons asked for and returned); the record is committed before the response is
written, and if it cannot be, the plumbing withholds the answer. The tables refuse UPDATE and
DELETE (see the migration), so the trail can only grow.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from ntjp_producer.hosp.models import HospAudit, HospAuditPerson, HospReturnedHour
from ntjp_producer.rivta.calls import Call

_PG_RECORD = text(
    "WITH a AS (INSERT INTO hosp_audit (at, correlation_id, consumer_correlation_id, caller_hsaid, via_platform, "
    "platform_hsaid, consumer_type, contract, criteria, returned, outcome, refusal) VALUES (:at, :correlation_id, "
    ":consumer_correlation_id, :caller_hsaid, "
    ":via_platform, :platform_hsaid, :consumer_type, :contract, CAST(:criteria AS json), CAST(:returned AS json), "
    ":outcome, :refusal) RETURNING id), "
    "h AS (INSERT INTO hosp_returned_hour (consumer_hsaid, hour, persons) "
    "SELECT :caller_hsaid, :hour, :answered WHERE :answered > 0 AND :caller_hsaid IS NOT NULL "
    "ON CONFLICT (consumer_hsaid, hour) DO UPDATE SET persons = hosp_returned_hour.persons + EXCLUDED.persons) "
    "INSERT INTO hosp_audit_person (audit_id, pnr, role) "
    "SELECT a.id, t.p, t.r FROM a, unnest(CAST(:pnrs AS text[]), CAST(:roles AS text[])) AS t(p, r)"
)


class AuditTrail:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._engine = sessions.kw["bind"]

    def record(self, call: Call, outcome: str) -> None:
        values = {
            "at": dt.datetime.now(dt.UTC),
            "correlation_id": call.correlation_id,
            "consumer_correlation_id": call.consumer_correlation_id,
            "caller_hsaid": call.consumer_hsaid,
            "via_platform": call.via_platform,
            "platform_hsaid": call.platform_hsaid,
            "consumer_type": call.consumer_type,
            "contract": call.contract,
            "criteria": call.criteria,
            "returned": list(call.returned),
            "outcome": outcome,
            "refusal": call.refusal,
        }
        persons = sorted({(p, "asked") for p in call.asked} | {(p, "returned") for p in call.returned})
        hour = values["at"].replace(minute=0, second=0, microsecond=0)
        answered = len(call.returned)
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # One statement, one round trip before the commit, however many persons were answered.
                conn.execute(
                    _PG_RECORD,
                    {
                        **values,
                        "hour": hour,
                        "answered": answered,
                        "criteria": None if call.criteria is None else json.dumps(call.criteria, ensure_ascii=False),
                        "returned": json.dumps(values["returned"]),
                        "pnrs": [p for p, _ in persons],
                        "roles": [r for _, r in persons],
                    },
                )
                return
            audit_id = conn.execute(insert(HospAudit).returning(HospAudit.id), values).scalar_one()
            if persons:
                conn.execute(insert(HospAuditPerson), [{"audit_id": audit_id, "pnr": p, "role": r} for p, r in persons])
            if answered and call.consumer_hsaid is not None:
                conn.execute(
                    sqlite_insert(HospReturnedHour)
                    .values(consumer_hsaid=call.consumer_hsaid, hour=hour, persons=answered)
                    .on_conflict_do_update(
                        index_elements=["consumer_hsaid", "hour"],
                        set_={"persons": HospReturnedHour.persons + answered},
                    )
                )

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
        q = select(HospAudit).where(HospAudit.caller_hsaid == hsa_id).order_by(HospAudit.id)
        with self._sessions() as session:
            return [_dict(a) for a in session.scalars(q)]

    def persons_returned_since(self, hsa_id: str, since: dt.datetime) -> int:
        """Persons answered to this consumer since the hour ``since`` falls in (harvest protection's
        quota): a sum over at most 25 hourly rows, however busy the consumer."""
        hour = since.replace(minute=0, second=0, microsecond=0)
        q = select(func.coalesce(func.sum(HospReturnedHour.persons), 0)).where(
            HospReturnedHour.consumer_hsaid == hsa_id, HospReturnedHour.hour >= hour
        )
        with self._engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def count(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(HospAudit))


def _dict(a: HospAudit) -> dict[str, Any]:
    at = a.at if a.at.tzinfo else a.at.replace(tzinfo=dt.UTC)
    return {
        "id": a.id,
        "at": at.isoformat(timespec="seconds"),
        "correlation_id": a.correlation_id,
        "consumer_correlation_id": a.consumer_correlation_id,
        "consumer_hsaid": a.caller_hsaid,
        "via_platform": a.via_platform,
        "platform_hsaid": a.platform_hsaid,
        "consumer_type": a.consumer_type,
        "contract": a.contract,
        "criteria": a.criteria,
        "returned": a.returned,
        "outcome": a.outcome,
        "refusal": a.refusal,
    }
