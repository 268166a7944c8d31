"""The audit trail: every HoSp call, answered or refused, recorded before the answer leaves.

The RIV-TA plumbing calls ``AuditTrail.record`` for each call with what the adapter noted (the
criteria, the persons asked for and returned); the record is committed before the response is
written, and if it cannot be, the plumbing withholds the answer. The tables refuse UPDATE and
DELETE (see the migration), so the trail can only grow.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from ntjp_producer.hosp.models import HospAudit, HospAuditPerson
from ntjp_producer.rivta.calls import Call


class AuditTrail:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(self, call: Call, outcome: str) -> None:
        with self._sessions() as session, session.begin():
            audit_id = session.execute(
                insert(HospAudit).returning(HospAudit.id),
                {
                    "at": dt.datetime.now(dt.UTC),
                    "correlation_id": call.correlation_id,
                    "caller_hsaid": call.consumer_hsaid,
                    "via_platform": call.via_platform,
                    "platform_hsaid": call.platform_hsaid,
                    "consumer_type": call.consumer_type,
                    "contract": call.contract,
                    "criteria": call.criteria,
                    "returned": list(call.returned),
                    "outcome": outcome,
                },
            ).scalar_one()
            persons = {(p, "asked") for p in call.asked} | {(p, "returned") for p in call.returned}
            if persons:
                session.execute(
                    insert(HospAuditPerson),
                    [{"audit_id": audit_id, "pnr": p, "role": role} for p, role in sorted(persons)],
                )

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

    def count(self) -> int:
        from sqlalchemy import func

        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(HospAudit))


def _dict(a: HospAudit) -> dict[str, Any]:
    at = a.at if a.at.tzinfo else a.at.replace(tzinfo=dt.UTC)
    return {
        "id": a.id,
        "at": at.isoformat(timespec="seconds"),
        "correlation_id": a.correlation_id,
        "consumer_hsaid": a.caller_hsaid,
        "via_platform": a.via_platform,
        "platform_hsaid": a.platform_hsaid,
        "consumer_type": a.consumer_type,
        "contract": a.contract,
        "criteria": a.criteria,
        "returned": a.returned,
        "outcome": a.outcome,
    }
