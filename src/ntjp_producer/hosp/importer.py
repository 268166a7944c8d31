"""Loading an extract into the register, all or nothing.

The extract is read line by line inside one transaction: each line is validated, turned into its
register record and search rows, and written in batches. The first bad line raises, the
transaction rolls back, and the register is exactly what it was: consumers never see half an
extract, and a full extract's deletion of the old register is undone with it.
"""

from __future__ import annotations

import datetime as dt
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from ntjp_producer.hosp import extract, personnummer
from ntjp_producer.hosp.models import HospPerson, HospSearch, HospState

BATCH = 5000
SEPARATOR = "\x1f"


def name_key(name: str) -> str:
    """How names are compared: NFC, case-folded, single spaces; å, ä, ö stay letters of their own."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def search_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    pnr = record["personnummer"]
    given = name_key(record["fornamn"])
    base = {
        "pnr": pnr,
        "birth_date": personnummer.birth_date(pnr).strftime("%Y%m%d"),
        "county": (record.get("folkbokforing") or {}).get("lan"),
        "municipality": (record.get("folkbokforing") or {}).get("kommun"),
        "given_key": given,
        "sort_key": SEPARATOR.join((name_key(record["efternamn"]), given, pnr)),
    }
    professions = sorted({leg["yrke"] for leg in record["legitimationer"]})
    return [{**base, "profession": p} for p in ["", *professions]]


@dataclass(frozen=True)
class ImportReport:
    kind: str
    lines: int
    upserted: int
    deleted: int
    persons: int
    seconds: float


def import_extract(sessions: sessionmaker[Session], path: str, *, delta: bool = False) -> ImportReport:
    """Raises extract.ExtractError (nothing applied) for a bad line."""
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    upserted = deleted = lines = 0
    with sessions() as session, session.begin():
        if not delta:
            session.execute(delete(HospSearch))
            session.execute(delete(HospPerson))
        people: list[dict] = []
        rows: list[dict] = []
        gone: list[str] = []

        def flush() -> None:
            if delta:
                changed = gone + [p["pnr"] for p in people]
                if changed:
                    session.execute(delete(HospSearch).where(HospSearch.pnr.in_(changed)))
                    session.execute(delete(HospPerson).where(HospPerson.pnr.in_(changed)))
            if people:
                session.execute(insert(HospPerson), people)
                session.execute(insert(HospSearch), rows)
            people.clear()
            rows.clear()
            gone.clear()

        for number, item in extract.read(path, delta=delta):
            lines = number
            if isinstance(item, extract.Deletion):
                gone.append(item.pnr)
                deleted += 1
            else:
                people.append({"pnr": item["personnummer"], "record": item, "imported_at": now})
                rows.extend(search_rows(item))
                upserted += 1
            if len(people) + len(gone) >= BATCH:
                flush()
        if not delta and upserted == 0:
            raise extract.ExtractError(str(path), lines, "a full extract without persons would empty the register")
        flush()
        persons = session.scalar(select(func.count()).select_from(HospPerson))
        state = session.get(HospState, 1) or HospState(id=1)
        state.persons, state.last_import, state.last_kind, state.last_source = (
            persons,
            now,
            "delta" if delta else "full",
            str(path),
        )
        session.add(state)
    engine = sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        # Fresh statistics and visibility map now, rather than a planner guessing from an empty table
        # and an autovacuum storm over half a million new rows while consumers are searching.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) hosp_search, hosp_person"))
    return ImportReport(
        "delta" if delta else "full", lines, upserted, deleted, persons, round(time.perf_counter() - started, 2)
    )
