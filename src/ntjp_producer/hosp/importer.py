"""Loading an extract into the register, all or nothing.

The extract is read line by line inside one transaction: each line is validated, turned into its
register record and search rows, and written in batches. The first bad line raises, the
transaction rolls back, and the register is exactly what it was: consumers never see half an
extract, and a full extract's deletion of the old register is undone with it.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from ntjp_producer.hosp import extract, personnummer
from ntjp_producer.hosp.models import HospPerson, HospSearch, HospState
from ntjp_producer.hosp.names import name_key
from ntjp_producer.storage import db

BATCH = 5000
SEPARATOR = "\x1f"


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
_PG_SEARCH = "COPY hosp_search{suffix} (" + ", ".join(_SEARCH_COLUMNS) + ") FROM STDIN"


class _Writer:
    """Register rows written at the driver level inside the import's transaction: PostgreSQL by
    COPY, SQLite by executemany with a large page cache. The ORM's bulk insert spent longer
    preparing the rows than the database spent storing them."""

    def __init__(self, conn, now: dt.datetime, *, suffix: str = "") -> None:
        self.dialect = conn.dialect.name
        self.dbapi = conn.connection.driver_connection
        self.now = now
        self.suffix = suffix  # PostgreSQL's full import writes to the shadow tables
        if self.dialect == "sqlite":
            # 256 MB for this connection while it imports: index pages stay cached, not re-read.
            self.default_cache = self.dbapi.execute("PRAGMA cache_size").fetchone()[0]
            self.dbapi.execute("PRAGMA cache_size = -262144")

    def close(self) -> None:
        """The pooled connection goes back with the page cache it had."""
        if self.dialect == "sqlite":
            self.dbapi.execute(f"PRAGMA cache_size = {int(self.default_cache)}")

    def __call__(self, people: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        records = [(p["pnr"], orjson.dumps(p["record"]).decode()) for p in people]
        search = [tuple(r[c] for c in _SEARCH_COLUMNS) for r in rows]
        if self.dialect == "postgresql":
            with self.dbapi.cursor() as cur:
                with cur.copy(f"COPY hosp_person{self.suffix} (pnr, record, imported_at) FROM STDIN") as copy:
                    for pnr, record in records:
                        copy.write_row((pnr, record, self.now))
                with cur.copy(_PG_SEARCH.format(suffix=self.suffix)) as copy:
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


class _SqliteIndexes:
    """SQLite, full extract: the search indexes are dropped before the old register is deleted and
    the new one written, and built again once the rows are in, inside the import's transaction.
    Readers keep the last committed register (WAL), indexes included, until the commit."""

    def __init__(self, dbapi) -> None:
        self.dbapi = dbapi
        self.definitions: list[str] = []

    def drop(self) -> None:
        rows = self.dbapi.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('hosp_person', 'hosp_search') "
            "AND sql IS NOT NULL"  # the primary keys' own indexes have no SQL and stay
        ).fetchall()
        for name, sql in rows:
            self.definitions.append(sql)
            self.dbapi.execute(f'DROP INDEX "{name}"')

    def build(self) -> None:
        for sql in self.definitions:
            self.dbapi.execute(sql)


class _Shadow:
    """PostgreSQL, full extract: the register is loaded into new tables without indexes, the indexes
    are built once the rows are in (a sort, instead of 1.4 million random B-tree inserts into six
    indexes), and the new tables take the old ones' names, all in the import's one transaction.

    Consumers read the old register meanwhile, without waiting: nothing locks the old tables until
    the swap at the end, which holds them for the moment of a DROP and a RENAME before the commit.
    """

    TABLES = ("hosp_person", "hosp_search")
    SUFFIX = "_load"

    def __init__(self, dbapi) -> None:
        self.dbapi = dbapi

    def create(self) -> None:
        with self.dbapi.cursor() as cur:
            for table in self.TABLES:
                cur.execute(
                    f"CREATE TABLE {table}{self.SUFFIX} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                )

    def count(self) -> int:
        with self.dbapi.cursor() as cur:
            cur.execute("SELECT count(*) FROM hosp_person" + self.SUFFIX)  # noqa: S608 - a constant name
            return cur.fetchone()[0]

    def swap(self) -> None:
        with self.dbapi.cursor() as cur:
            renames: list[str] = []
            for table in self.TABLES:
                cur.execute(
                    "SELECT i.indexname, i.indexdef, c.conname FROM pg_indexes i LEFT JOIN pg_constraint c "
                    "ON c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass "
                    "AND c.contype = 'p' WHERE i.schemaname = current_schema() AND i.tablename = %s",
                    (table,),
                )
                for name, definition, constraint in cur.fetchall():
                    # "CREATE [UNIQUE] INDEX name ON [schema.]table USING ...", for the shadow table
                    shadow, found = re.subn(
                        rf"^(CREATE (?:UNIQUE )?INDEX ){re.escape(name)} ON (?:\S+\.)?{table} USING ",
                        rf"\g<1>{name}{self.SUFFIX} ON {table}{self.SUFFIX} USING ", definition,
                    )  # fmt: skip
                    if found != 1:
                        raise RuntimeError(f"unexpected index definition: {definition}")
                    cur.execute(shadow)
                    if constraint:
                        cur.execute(f"ALTER TABLE {table}{self.SUFFIX} ADD CONSTRAINT {constraint}{self.SUFFIX} "
                                    f"PRIMARY KEY USING INDEX {name}{self.SUFFIX}")  # fmt: skip
                    renames.append(f"ALTER INDEX {name}{self.SUFFIX} RENAME TO {name}")
            for table in self.TABLES:
                cur.execute(f"DROP TABLE {table}")
                cur.execute(f"ALTER TABLE {table}{self.SUFFIX} RENAME TO {table}")
            for rename in renames:  # a primary key's constraint takes its index's new name with it
                cur.execute(rename)


@dataclass(frozen=True)
class ExtractReport:
    kind: str
    lines: int
    upserted: int
    deleted: int
    persons: int
    seconds: float


def import_extract(sessions: sessionmaker[Session], path: str, *, delta: bool = False) -> ExtractReport:
    """Raises extract.ExtractError (nothing applied) for a bad line."""
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    upserted = deleted = lines = 0
    with sessions() as session, session.begin():
        conn = session.connection()
        dbapi, full = conn.connection.driver_connection, not delta
        shadow = _Shadow(dbapi) if full and conn.dialect.name == "postgresql" else None
        indexes = _SqliteIndexes(dbapi) if full and conn.dialect.name == "sqlite" else None
        if shadow is not None:
            shadow.create()
        elif not delta:
            if indexes is not None:
                indexes.drop()
            session.execute(delete(HospSearch))
            session.execute(delete(HospPerson))
        people: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        gone: list[str] = []

        write = _Writer(conn, now, suffix=_Shadow.SUFFIX if shadow is not None else "")
        # The database stores one batch (in its own process, or in SQLite's C code, without the GIL)
        # while this thread reads and checks the next: one writer thread, one batch in flight, and
        # the session is only ever used by one thread at a time.
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hosp-import")
        pending: Future | None = None

        def apply(people: list[dict], rows: list[dict], gone: list[str]) -> None:
            if delta:
                changed = gone + [p["pnr"] for p in people]
                if changed:
                    session.execute(delete(HospSearch).where(HospSearch.pnr.in_(changed)))
                    session.execute(delete(HospPerson).where(HospPerson.pnr.in_(changed)))
            if people:
                write(people, rows)

        def flush() -> None:
            nonlocal pending, people, rows, gone
            if pending is not None:
                pending.result()  # the previous batch's error, if any, stops the import here
            pending = writer.submit(apply, people, rows, gone)
            people, rows, gone = [], [], []

        try:
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
            pending.result()
            if indexes is not None:
                indexes.build()
            if shadow is not None:
                persons = shadow.count()  # before the swap: it holds the tables until the commit
                shadow.swap()
            else:
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
            writer.shutdown(wait=True)  # nothing may still write when the transaction ends
            write.close()
    engine = sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        # Fresh statistics and visibility map now, rather than a planner guessing from an empty table
        # and an autovacuum storm over half a million new rows while consumers are searching.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) hosp_search, hosp_person"))
    return ExtractReport(
        "delta" if delta else "full", lines, upserted, deleted, persons, round(time.perf_counter() - started, 2)
    )
