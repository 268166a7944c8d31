"""Engines, sessions and schema migration.

SQLite is the embedded default; PostgreSQL (psycopg 3) is the production database. Both go through
the same models and the same Alembic history, and the producer migrates to head before it imports
or serves, so a deployment never runs code against an older schema.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, configure_mappers, sessionmaker

from ntjp_producer.storage import checkpoint

_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x6E746A70  # "ntjp": the advisory lock every migration takes on PostgreSQL


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` as users write it and drive it with psycopg 3."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


_engines: dict[str, Engine] = {}
# Seconds a serving producer waits for a lock, and lets one statement run; None: no limit (imports,
# migrations, reports). Set by ``serve`` before any engine exists (``configure_timeouts``).
_timeouts: dict[str, float | None] = {"lock": None, "statement": None}


def configure_timeouts(lock_seconds: float | None, statement_seconds: float | None) -> None:
    """Bound every wait of a serving producer: a locked table must fail a call fast, not hold it.

    PostgreSQL gets ``lock_timeout`` and ``statement_timeout`` on every connection; SQLite waits for
    its write lock ``lock_seconds`` at most. Applies to engines created from now on.
    """
    _timeouts.update(lock=lock_seconds, statement=statement_seconds)


def engine_for(url: str) -> Engine:
    """One engine (and connection pool) per database URL and process."""
    if url not in _engines:
        _engines[url] = _create(url)
    return _engines[url]


def after_fork() -> None:
    """In a forked worker: drop the parent's pooled connections without closing them.

    A pooled PostgreSQL connection inherited over fork() is a socket shared with the parent; two
    processes talking on it corrupt each other's transactions. Each worker opens its own.
    """
    for engine in _engines.values():
        engine.dispose(close=False)


def _create(url: str) -> Engine:
    url = normalise_url(url)
    lock = _timeouts["lock"]
    # hide_parameters: an error's message never carries the statement's values (personal data) into a log.
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": lock if lock is not None else 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            # Checkpoints are taken by a thread of their own (``checkpoint``); this one is the bound.
            cur.execute(f"PRAGMA wal_autocheckpoint={checkpoint.AUTOCHECKPOINT_PAGES}")
            cur.close()

        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True, connect_args=_pg_connect_args()
    )


def _pg_options() -> str:
    lock, statement = _timeouts["lock"], _timeouts["statement"]
    return " ".join(
        f"-c {name}={int(seconds * 1000)}"
        for name, seconds in (("lock_timeout", lock), ("statement_timeout", statement))
        if seconds is not None
    )


def _pg_connect_args() -> dict:
    options = _pg_options()
    return {"options": options} if options else {}


def session_factory(url: str) -> sessionmaker[Session]:
    # Configure every mapper imported so far now, in the one thread assembling the app: left to the
    # first query, a fresh worker's concurrent first calls race in SQLAlchemy's lazy mapper setup
    # ("AttributeError: strategy", a Server fault; seen once in a rolling restart of the cluster).
    configure_mappers()
    return sessionmaker(engine_for(url), expire_on_commit=False)


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database to the newest schema (idempotent); ``revision``: to that one (tests)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    with engine_for(url).begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two nodes starting at once (a rollout) must not both migrate: the second waits, then
            # finds the schema current. Released at the commit.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


class SmallRead:
    """One small query run on every call (FMB's version stamps), as cheaply as the database allows
    while still seeing every commit made before the call.

    SQLite: a connection per thread, and ``PRAGMA data_version``, which moves whenever another
    connection commits; while it stands still the last rows are still the answer, and the query
    is not run. PostgreSQL, given the ``channel`` a trigger notifies when the table changes: the
    rows are kept until a notification (``storage/listen.py``; read on every call while the
    listener is not trusted). Without a channel: the query, read as ``fetch`` reads.
    ``rows(fresh=True)`` always reads: for checking that nothing moved while a snapshot was
    loaded.
    """

    def __init__(self, engine: Engine, sql: str, *, channel: str | None = None) -> None:
        self._engine = engine
        self._sql = sql
        # A per-thread connection needs a file every thread can open (not an in-memory database).
        self._sqlite = engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")
        self._local = threading.local()
        self._listener = None
        if channel is not None and engine.dialect.name == "postgresql":
            from ntjp_producer.storage.listen import Listener

            self._listener = Listener(engine, channel, _pg_connect_args())
        self._kept: tuple[int, int, list[tuple]] | None = None  # (listener key, pid, rows)
        self.reads = 0  # queries actually sent (tests, and the curious)

    def rows(self, *, fresh: bool = False) -> list[tuple]:
        if self._sqlite:
            return self._sqlite_rows()
        if self._engine.dialect.name != "postgresql":
            self.reads += 1
            return fetch(self._engine, self._sql)  # in-memory SQLite
        key = None if fresh or self._listener is None else self._listener.key()
        if key is None:
            return self._pg_rows()
        kept = self._kept
        if kept is not None and kept[0] == key and kept[1] == os.getpid():
            return kept[2]
        rows = self._pg_rows()
        self._kept = (key, os.getpid(), rows)  # under the key taken before the read: a change since moves it
        return rows

    def _pg_rows(self) -> list[tuple]:
        self.reads += 1
        return fetch(self._engine, self._sql)

    def _sqlite_rows(self) -> list[tuple]:
        conn = _thread_sqlite(self._engine.url.database)
        local = self._local
        if getattr(local, "conn", None) is not conn:  # new thread, a forked process, or reconnected
            local.conn, local.version, local.rows = conn, None, None
        try:
            (version,) = conn.execute("PRAGMA data_version").fetchone()
            if version != local.version or local.rows is None:
                local.rows = conn.execute(self._sql).fetchall()
                local.version = version
            return local.rows
        except Exception:
            _drop_thread_sqlite(self._engine.url.database)  # reconnect next time
            raise


def _fetch(conn, sql: str, params: dict | None = None) -> list[tuple]:
    cursor = conn.cursor()
    try:
        cursor.execute(sql, params or {})
        return [tuple(r) for r in cursor.fetchall()]
    finally:
        cursor.close()


_reading = threading.local()  # per thread: {SQLite database file: (pid, connection)}
_autocommit: dict[object, tuple[int, Engine]] = {}  # per PostgreSQL URL and isolation: (pid, engine)


def fetch(engine: Engine, sql: str, params: dict | None = None) -> list[tuple]:
    """Run one fixed read statement (``:name`` parameters) at the driver level, in autocommit: it
    sees every commit made before it, with no transaction to begin or end around it.

    The reads every HoSp call and every FMB stamp check make: SQLite on a connection of the
    thread's own (no pool to check out from, no commit), PostgreSQL on a pool of autocommit
    connections without a ping (one round trip, where a transaction costs three; a connection that
    broke, in a failover or a restart, fails the read once, is dropped, and the read is tried again
    on a new one). An in-memory SQLite database is read through the engine's own pool.
    """
    sql = driver_sql(sql, engine.dialect.name)
    if engine.dialect.name == "postgresql":
        for attempt in (1, 2):
            conn = _unpinged(engine, "AUTOCOMMIT").raw_connection()
            try:
                return _fetch(conn, sql, params)
            except Exception:
                conn.invalidate()  # a broken connection is not given back for the next call
                if attempt == 2:
                    raise
            finally:
                conn.close()
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        with driver_connection(engine) as conn:
            return _fetch(conn, sql, params)
    try:
        return _thread_sqlite(path).execute(sql, params or {}).fetchall()
    except Exception:
        _drop_thread_sqlite(path)  # a new connection next time
        raise


def _thread_sqlite(path: str) -> sqlite3.Connection:
    """This thread's own autocommit connection to a SQLite file (a new one after a fork)."""
    connections = getattr(_reading, "sqlite", None)
    if connections is None:
        connections = _reading.sqlite = {}
    entry = connections.get(path)
    if entry is None or entry[0] != os.getpid():
        lock = _timeouts["lock"]
        entry = connections[path] = (os.getpid(), sqlite3.connect(
            path, isolation_level=None, timeout=lock if lock is not None else 30))  # fmt: skip
    return entry[1]


def _drop_thread_sqlite(path: str) -> None:
    getattr(_reading, "sqlite", {}).pop(path, None)


def _unpinged(engine: Engine, isolation: str) -> Engine:
    """A PostgreSQL pool of this process without a ping on checkout, in ``isolation``; one
    inherited over fork() is let go without closing its parent's connections."""
    key = (engine.url, isolation)
    entry = _autocommit.get(key)
    if entry is None or entry[0] != os.getpid():
        if entry is not None:
            entry[1].dispose(close=False)
        entry = _autocommit[key] = (os.getpid(), create_engine(
            engine.url, pool_pre_ping=False, pool_size=4, max_overflow=12, hide_parameters=True,
            connect_args=_pg_connect_args(), isolation_level=isolation,
        ))  # fmt: skip
    return entry[1]


def write_durably(
    engine: Engine, write: Callable[[Any], None], written: Callable[[Any], bool] | None = None
) -> None:
    """``write(conn)`` on a driver-level connection, committed; returns once it is, raises if it
    was not. The audit trail's writes, one per group of calls.

    SQLite: the engine's own pool, as ``driver_connection``. PostgreSQL: a pool that does not ping
    a connection before handing it out (the ping is a round trip, 8 % of an audited call), so a
    connection may be found broken (after a failover or a restart) and the write is then made once
    more on a new one, but never twice:

    - without ``written``, the write is a transaction, retried only if it broke before the commit
      was sent (nothing of it can have been committed); a failure at the commit is never retried;
    - with ``written``, ``write`` is one statement on an autocommit connection, its own
      transaction, committed in the round trip that sends it (BEGIN, statement and COMMIT take
      two). Whether the server committed it before the break is unknown, so on the new connection
      ``written(conn)`` asks the database first, and the statement is sent again only if not."""
    if engine.dialect.name != "postgresql":
        with driver_connection(engine) as conn:
            write(conn)
        return
    pool = _unpinged(engine, "READ COMMITTED" if written is None else "AUTOCOMMIT")
    for attempt in (1, 2):
        conn = pool.raw_connection()
        driver, sent = conn.driver_connection, False
        try:
            with _committed(conn):
                if attempt == 1 or written is None or not written(conn):
                    write(conn)
                sent = True
            return
        except Exception:
            if attempt == 1 and getattr(driver, "broken", False) and (written is not None or not sent):
                continue
            raise


def sqlite_datetime(at: dt.datetime) -> str:
    """A UTC instant as SQLAlchemy stores a DateTime in SQLite: the ORM reads it back, and text
    comparison orders it. For statements written at the driver level."""
    # The wall time as "%Y-%m-%d %H:%M:%S.%f" would give it, the offset cut off: isoformat takes half
    # strftime's time, and every audited call writes two or three of these.
    return at.isoformat(" ", "microseconds")[:26]


def stored_datetime(value: dt.datetime | str) -> dt.datetime:
    """A DateTime column read at the driver level, as SQLAlchemy would have given it (PostgreSQL's
    driver gives a datetime; SQLite holds ``sqlite_datetime``'s text)."""
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


@contextlib.contextmanager
def driver_connection(engine: Engine):
    """A pooled connection at the driver level, for the few fixed statements every call runs:
    SQLAlchemy's statement building and compiling would cost more than the statements. Committed
    if the block returns, rolled back if it raises; a connection that broke is not pooled again."""
    with _committed(engine.raw_connection()) as conn:
        yield conn


@contextlib.contextmanager
def _committed(conn):
    """A pooled connection's block: committed if it returns, rolled back if it raises; a
    connection that broke (its rollback fails too) is not pooled again."""
    try:
        with transaction(conn, conn.invalidate):
            yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def transaction(conn, broken: Callable[[], None]):
    """A driver-level connection's block: committed if it returns, rolled back if it raises;
    ``broken()`` if the rollback fails too (the connection is then of no more use)."""
    try:
        yield conn
        conn.commit()
    except BaseException:
        try:
            conn.rollback()
        except Exception:
            broken()
        raise


@functools.lru_cache(maxsize=256)
def driver_sql(sql: str, dialect: str) -> str:
    """SQL written with ``:name`` parameters in the driver's own style (psycopg: ``%(name)s``)."""
    if dialect != "postgresql":
        return sql
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


_NAMED = re.compile(r"(?<![:\w]):(\w+)")
