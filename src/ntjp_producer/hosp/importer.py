"""Loading an extract into the register, all or nothing.

The extract is read in parts of ``BATCH`` lines inside one transaction: each line is validated,
turned into its register record and search rows, and each part is written as one batch. The first
bad line raises, the transaction rolls back, and the register is exactly what it was: consumers
never see half an extract, and a full extract's deletion of the old register is undone with it.

A large extract's parts are parsed by processes of their own, one per core, while this process
writes the parts already parsed in line order: parsing and checking every line is most of an
import's work, and one Python process would leave the other core to the database alone. A part
comes back as rows ready for the database, so little is left to do here but check that no
personnummer recurs and write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import multiprocessing
import os
import re
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from ntjp_producer.hosp import extract, personnummer
from ntjp_producer.hosp.models import HospPerson, HospSearch, HospState
from ntjp_producer.hosp.names import name_key
from ntjp_producer.storage import db

BATCH = 5000  # lines a part: one parsing task, one write
# An extract smaller than this is parsed in the importing process: starting the parsing processes
# (0.3 s or so) would cost more than they save on a delta of a few thousand persons.
PARALLEL_FROM = 8 * 2**20  # bytes, about 16,000 persons
SEPARATOR = "\x1f"

_SEARCH_COLUMNS = ("pnr", "profession", "birth_date", "county", "municipality", "given_key", "sort_key")
SearchRow = tuple[str, str, str, str | None, str | None, str, str]  # in _SEARCH_COLUMNS' order


def search_rows(record: dict[str, Any]) -> list[SearchRow]:
    """The person's rows in the search index: one per profession, and one with none ("")."""
    pnr = record["personnummer"]
    given = name_key(record["fornamn"])
    place = record.get("folkbokforing") or {}
    birth = personnummer.birth_date(pnr).strftime("%Y%m%d")
    sort_key = SEPARATOR.join((name_key(record["efternamn"]), given, pnr))
    professions = sorted({leg["yrke"] for leg in record["legitimationer"]})
    return [(pnr, p, birth, place.get("lan"), place.get("kommun"), given, sort_key) for p in ["", *professions]]


@dataclass(frozen=True)
class _Part:
    """A part of the extract made ready for the database: what a parsing process sends back."""

    items: list[tuple[int, str]]  # (line number, personnummer) of every person and deletion, in line order
    records: list[tuple[str, str]]  # (personnummer, record as JSON) of the persons to write
    search: list[SearchRow]  # their search rows
    failure: tuple[int, str] | None  # the first bad line's number and reason; nothing after it was read


def _prepare(first: int, lines: list[bytes], delta: bool) -> _Part:
    """Runs in a parsing process (or in this one, for a small extract)."""
    parsed, failure = extract.parse_lines(first, lines, delta=delta)
    items: list[tuple[int, str]] = []
    records: list[tuple[str, str]] = []
    search: list[SearchRow] = []
    for number, item in parsed:
        if isinstance(item, extract.Deletion):
            items.append((number, item.pnr))
            continue
        pnr = item["personnummer"]
        items.append((number, pnr))
        records.append((pnr, orjson.dumps(item).decode()))
        search.extend(search_rows(item))
    return _Part(items, records, search, failure)


def _parts(path: str, delta: bool, processes: int) -> Iterator[_Part]:
    """The extract's parts, prepared, in line order; with ``processes``, that many parse ahead
    (at most two parts each, so memory stays bounded whatever the extract's size)."""
    with open(path, "rb") as fh:
        chunks = iter(lambda: list(itertools.islice(fh, BATCH)), [])
        numbered = zip(itertools.count(1, BATCH), chunks)
        if processes == 0:
            for first, lines in numbered:
                yield _prepare(first, lines, delta)
            return
        # spawn, not fork: this process already runs threads (the writer, SQLAlchemy's pool).
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            ahead: deque[Future[_Part]] = deque()
            try:
                for first, lines in numbered:
                    ahead.append(pool.submit(_prepare, first, lines, delta))
                    if len(ahead) > 2 * processes:
                        yield ahead.popleft().result()
                while ahead:
                    yield ahead.popleft().result()
            finally:  # stopped early (a bad line): parts not started yet are dropped
                for future in ahead:
                    future.cancel()


def parsing_processes(path: str) -> int:
    """How many processes parse this extract: one per core, or none for a small one."""
    return (os.cpu_count() or 1) if Path(path).stat().st_size >= PARALLEL_FROM else 0


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

    def __call__(self, records: list[tuple[str, str]], search: list[SearchRow]) -> None:
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


def import_extract(sessions: sessionmaker[Session], path: str, *, delta: bool = False,
                   processes: int | None = None) -> ExtractReport:  # fmt: skip
    """Raises extract.ExtractError (nothing applied) for a bad line. ``processes``: how many
    processes parse the extract (0: this one); by default ``parsing_processes``."""
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    upserted = deleted = lines = 0
    if processes is None:
        processes = parsing_processes(path)
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

        write = _Writer(conn, now, suffix=_Shadow.SUFFIX if shadow is not None else "")
        # The database stores one part (in its own process, or in SQLite's C code, without the GIL)
        # while this thread checks the next: one writer thread, one part in flight, and the
        # session is only ever used by one thread at a time.
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hosp-import")
        pending: Future | None = None

        def apply(part: _Part) -> None:
            if delta and part.items:
                changed = [pnr for _, pnr in part.items]
                session.execute(delete(HospSearch).where(HospSearch.pnr.in_(changed)))
                session.execute(delete(HospPerson).where(HospPerson.pnr.in_(changed)))
            if part.records:
                write(part.records, part.search)

        seen = extract.Seen(str(path))
        try:
            with contextlib.closing(_parts(path, delta, processes)) as parts:
                for part in parts:
                    for number, pnr in part.items:
                        seen.check(number, pnr)
                    if part.items:
                        lines = part.items[-1][0]
                    if part.failure is not None:
                        raise extract.ExtractError(str(path), *part.failure)
                    upserted += len(part.records)
                    deleted += len(part.items) - len(part.records)
                    if pending is not None:
                        pending.result()  # the previous part's error, if any, stops the import here
                    pending = writer.submit(apply, part)
            if not delta and upserted == 0:
                raise extract.ExtractError(str(path), lines, "a full extract without persons would empty the register")
            if pending is not None:
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
