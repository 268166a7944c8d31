"""Loading an extract into the register, all or nothing.

The extract is read line by line inside one transaction: each line is validated, turned into its
register record and search rows, and written in batches. The first bad line raises, the
transaction rolls back, and the register is exactly what it was: consumers never see half an
extract, and a full extract's deletion of the old register is undone with it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from ntjp_producer.hosp import extract, personnummer
from ntjp_producer.hosp.models import HospPerson, HospSearch, HospState
from ntjp_producer.storage import db

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


_SEARCH_COLUMNS = ("pnr", "profession", "birth_date", "county", "municipality", "given_key", "sort_key")
_SQLITE_SEARCH = "INSERT INTO hosp_search ({}) VALUES ({})".format(  # noqa: S608 - constant column names
    ", ".join(_SEARCH_COLUMNS), ", ".join("?" for _ in _SEARCH_COLUMNS)
)
_PG_SEARCH = f"COPY hosp_search ({', '.join(_SEARCH_COLUMNS)}) FROM STDIN"


class _Writer:
    """Register rows written at the driver level inside the import's transaction: PostgreSQL by
    COPY, SQLite by executemany with a large page cache. The ORM's bulk insert spent longer
    preparing the rows than the database spent storing them."""

    def __init__(self, conn, now: dt.datetime) -> None:
        self.dialect = conn.dialect.name
        self.dbapi = conn.connection.driver_connection
        self.now = now
        if self.dialect == "sqlite":
            # 256 MB for this connection while it imports: index pages stay cached, not re-read.
            self.default_cache = self.dbapi.execute("PRAGMA cache_size").fetchone()[0]
            self.dbapi.execute("PRAGMA cache_size = -262144")

    def close(self) -> None:
        """The pooled connection goes back with the page cache it had."""
        if self.dialect == "sqlite":
            self.dbapi.execute(f"PRAGMA cache_size = {int(self.default_cache)}")

    def __call__(self, people: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        records = [(p["pnr"], json.dumps(p["record"], ensure_ascii=False)) for p in people]
        search = [tuple(r[c] for c in _SEARCH_COLUMNS) for r in rows]
        if self.dialect == "postgresql":
            with self.dbapi.cursor() as cur:
                with cur.copy("COPY hosp_person (pnr, record, imported_at) FROM STDIN") as copy:
                    for pnr, record in records:
                        copy.write_row((pnr, record, self.now))
                with cur.copy(_PG_SEARCH) as copy:
                    for row in search:
                        copy.write_row(row)
            return
        at = db.sqlite_datetime(self.now)
        cur = self.dbapi.cursor()
        try:
            cur.executemany("INSERT INTO hosp_person (pnr, record, imported_at) VALUES (?, ?, ?)",
                            [(pnr, record, at) for pnr, record in records])  # fmt: skip
            cur.executemany(_SQLITE_SEARCH, search)
        finally:
            cur.close()


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

        conn = session.connection()
        write = _Writer(conn, now)
        try:
            def flush() -> None:
                if delta:
                    changed = gone + [p["pnr"] for p in people]
                    if changed:
                        session.execute(delete(HospSearch).where(HospSearch.pnr.in_(changed)))
                        session.execute(delete(HospPerson).where(HospPerson.pnr.in_(changed)))
                if people:
                    write(people, rows)
                people.clear()
                rows.clear()
                gone.clear()

            for number, item in extract.read(path, delta=delta):
                lines = number
                if isinstance(item, extract.Deletion):
                    gone.append(item.pnr)
                    deleted += 1
                else:
                    people.append({"pnr": item["personnummer"], "record": item})
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
        finally:
            write.close()
    engine = sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        # Fresh statistics and visibility map now, rather than a planner guessing from an empty table
        # and an autovacuum storm over half a million new rows while consumers are searching.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) hosp_search, hosp_person"))
    return ImportReport(
        "delta" if delta else "full", lines, upserted, deleted, persons, round(time.perf_counter() - started, 2)
    )
