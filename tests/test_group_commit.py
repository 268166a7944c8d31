"""Group commit of HoSp's audit records: calls share transactions, and still no answer leaves
before its own record is committed, not even when a worker is killed with SIGKILL under load."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from ntjp_producer.hosp.audit import AuditTrail
from ntjp_producer.storage import db
from ntjp_producer.storage.group_commit import GroupCommit, NotCommitted
from tests.helpers import new_database, start_server, stop_server
from tests.hosp_client import HospClient


def _engine(tmp_path):
    path = tmp_path / "g.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (item TEXT PRIMARY KEY)"))
    return engine, path


def _insert(conn, items):
    time.sleep(0.002)  # a commit that takes a moment, as a durable one does: the queue fills meanwhile
    cur = conn.cursor()
    for item in items:
        if item.startswith("bad"):
            raise RuntimeError("refused by the database")
        cur.execute("INSERT INTO t VALUES (?)", (item,))
    cur.close()


def test_records_queued_while_another_process_commits_join_the_next_commit(tmp_path):
    """Two workers on one SQLite file (two GroupCommits, each with its own writers' lock): while one
    is committing, the other's callers queue, and its writer takes them all once its turn comes."""
    engine, path = _engine(tmp_path)
    other, group = GroupCommit(engine, _insert), GroupCommit(engine, _insert)
    committing, release = threading.Event(), threading.Event()

    def long_commit(conn, items):
        committing.set()
        release.wait(10)
        _insert(conn, items)

    other._write = long_commit
    busy = threading.Thread(target=other.submit, args=("other",))
    busy.start()
    assert committing.wait(10)
    callers = [threading.Thread(target=group.submit, args=(f"w-{n}",)) for n in range(5)]
    for t in callers:
        t.start()
    deadline = time.monotonic() + 10
    while len(group._queue) < 5:  # the first caller waits for the writers' lock, the rest behind it
        assert time.monotonic() < deadline, f"{len(group._queue)} of 5 callers queued: a batch was taken early"
        time.sleep(0.005)
    release.set()
    for t in [busy, *callers]:
        t.join(10)
    assert (group.batches, group.items) == (1, 5), "one commit for all that queued meanwhile"
    with sqlite3.connect(path) as reader:
        assert reader.execute("SELECT COUNT(*) FROM t").fetchone() == (6,)


def test_concurrent_records_share_commits_and_each_caller_waits_for_its_own(tmp_path):
    engine, path = _engine(tmp_path)
    group = GroupCommit(engine, _insert)
    missing: list[str] = []

    def caller(n: int) -> None:
        reader = sqlite3.connect(path)  # another connection: sees only what is committed
        for i in range(20):
            item = f"{n}-{i}"
            group.submit(item)
            if reader.execute("SELECT 1 FROM t WHERE item = ?", (item,)).fetchone() is None:
                missing.append(item)
        reader.close()

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (count,) = sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone()
    print(f"\n320 records in {group.batches} commits")
    assert count == 320 and group.items == 320
    assert missing == [], "a caller was released before its record was committed"
    assert group.batches < 320 / 2, "concurrent records were not committed together"


def test_a_failed_transaction_fails_every_caller_in_it_and_keeps_nothing_of_it(tmp_path):
    engine, path = _engine(tmp_path)
    group = GroupCommit(engine, _insert)
    acknowledged, refused = [], []
    lock = threading.Lock()

    def caller(item: str) -> None:
        try:
            group.submit(item)
            outcome = acknowledged
        except NotCommitted as exc:
            assert exc.orig.args == ("refused by the database",)
            outcome = refused
        with lock:
            outcome.append(item)

    items = [f"good-{i}" for i in range(30)] + ["bad-1"] + [f"late-{i}" for i in range(30)]
    threads = [threading.Thread(target=caller, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = {row[0] for row in sqlite3.connect(path).execute("SELECT item FROM t")}
    assert "bad-1" in refused
    assert stored == set(acknowledged), "acknowledged exactly what was committed"
    assert not stored & set(refused)
    assert len(acknowledged) + len(refused) == len(items)


def _wal_engine(tmp_path):
    """A database file as the producer opens one (``db.engine_for``: WAL mode, synchronous FULL)."""
    path = tmp_path / "w.db"
    engine = db.engine_for(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (item TEXT PRIMARY KEY)"))
    return engine, path


def _flushes_of_log(monkeypatch, path, on_flush):
    """Every flush of the database's log to disk (``fsync`` or ``fdatasync``), as it happens:
    ``on_flush()`` runs first (it may block), then the real flush. The only way to see, short of
    cutting the power, that an answer waits for its record to reach the disk."""
    log = f"{path}-wal"

    def watched(real):
        def flush(fd):
            if os.readlink(f"/proc/self/fd/{fd}") == log:
                on_flush()
            real(fd)

        return flush

    monkeypatch.setattr(os, "fsync", watched(os.fsync))
    monkeypatch.setattr(os, "fdatasync", watched(os.fdatasync))


def test_a_caller_is_released_once_the_log_holding_its_record_is_flushed_and_the_next_commit_need_not_wait(
    tmp_path, monkeypatch
):
    """SQLite, WAL mode: the group commits without SQLite's own flush and then flushes the log
    itself, after the writers' lock is let go. So a caller is answered only once its record is on
    disk (as with synchronous=FULL), while the next caller's record is committed meanwhile."""
    engine, path = _wal_engine(tmp_path)
    group = GroupCommit(engine, _insert)
    first_flushing, let_first_flush = threading.Event(), threading.Event()
    flushes = []

    def on_flush():
        flushes.append(threading.current_thread().name)
        if len(flushes) == 1:
            first_flushing.set()
            let_first_flush.wait(10)

    _flushes_of_log(monkeypatch, path, on_flush)
    released = {}

    def caller(item):
        group.submit(item)
        released[item] = time.monotonic()

    reader = sqlite3.connect(path)

    def committed(item):
        return reader.execute("SELECT 1 FROM t WHERE item = ?", (item,)).fetchone() is not None

    first = threading.Thread(target=caller, args=("first",), name="first")
    first.start()
    assert first_flushing.wait(10), "the log was not flushed after the commit"
    assert committed("first") and "first" not in released, "released before its record was flushed"
    second = threading.Thread(target=caller, args=("second",), name="second")
    second.start()
    second.join(10)
    assert committed("second") and "second" in released, "the next commit waited for the last one's flush"
    assert "first" not in released
    let_first_flush.set()
    first.join(10)
    assert "first" in released and flushes == ["first", "second"]
    with engine.connect() as conn:  # every other connection keeps SQLite's own flush at each commit
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    reader.close()


def test_a_log_that_cannot_be_flushed_fails_the_callers_whose_records_it_holds(tmp_path, monkeypatch):
    """A flush that fails (a disk error): the records may be committed but are not known to be
    durable, so their callers get the failure and withhold their answers; the next call, once the
    disk answers again, is committed and flushed as ever."""
    engine, path = _wal_engine(tmp_path)
    group = GroupCommit(engine, _insert)
    failing = [True]

    def on_flush():
        if failing[0]:
            raise OSError(5, "Input/output error")

    _flushes_of_log(monkeypatch, path, on_flush)
    with pytest.raises(NotCommitted) as refused:
        group.submit("unflushed")
    assert isinstance(refused.value.orig, OSError)
    failing[0] = False
    group.submit("later")
    with sqlite3.connect(path) as reader:
        assert reader.execute("SELECT 1 FROM t WHERE item = 'later'").fetchone() == (1,)


def _get_bodies(persons: list[dict]) -> list[str]:
    return [f"<r:personalIdentityNumber>{p['personnummer']}</r:personalIdentityNumber>" for p in persons]


@pytest.mark.slow
def test_every_answer_acknowledged_has_its_record_after_a_worker_is_killed(hosp_extract, tls_dir, tmp_path):
    """Four clients call Get while one worker is killed with SIGKILL: every call that was answered
    (HTTP 200, its correlation id in the header) has its audit record."""
    from ntjp_producer.hosp.importer import import_extract

    url, drop = new_database(tmp_path)
    db.migrate(url)
    import_extract(db.session_factory(url), str(hosp_extract))
    server = start_server(url, tls_dir, tmp_path / "server.log", service="hosp")
    persons = [json.loads(line) for line in hosp_extract.read_text().splitlines()][:50]
    answered: list[str] = []
    failed = [0]
    lock = threading.Lock()
    until = time.monotonic() + 4

    def client() -> None:
        hosp = HospClient(server)
        i = 0
        while time.monotonic() < until:
            inner = _get_bodies(persons)[i % len(persons)]
            i += 1
            try:
                response = hosp.post("GetHealthcareProfessional", inner)
            except Exception:  # the connection the killed worker held
                with lock:
                    failed[0] += 1
                continue
            if response.status_code == 200:
                with lock:
                    answered.append(response.headers["x-skltp-correlation-id"])

    try:
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        workers = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True)
        victim = int(workers.stdout.split()[0])
        os.kill(victim, signal.SIGKILL)
        for t in threads:
            t.join()
    finally:
        stop_server(server)
    trail = AuditTrail(db.session_factory(url))
    with db.engine_for(url).connect() as conn:
        recorded = {row[0] for row in conn.execute(text("SELECT correlation_id FROM hosp_audit"))}
    lost = [cid for cid in answered if cid not in recorded]
    print(f"\nworker {victim} killed: {len(answered)} calls answered, {failed[0]} broken off, "
          f"{trail.count()} audit records, {len(lost)} answered calls without a record")  # fmt: skip
    drop()
    assert len(answered) > 100
    assert lost == [], "an answer left before its audit record was committed"


@pytest.mark.postgres
@pytest.mark.parametrize("one_statement", [False, True], ids=["transaction", "one statement"])
def test_a_connection_broken_before_the_commit_is_replaced_and_the_record_written_once(db_url, one_statement):
    """PostgreSQL: the audit writer's pool does not ping (a round trip a call). A pooled connection
    the server has dropped since (a restart, a failover) is found broken while the record goes
    out, before any commit, so the record is written on a new connection: the call is not failed
    for it, and its record is there exactly once. Alike for a write in a transaction and for one
    that is a single statement committing itself (the audit trail's)."""
    import psycopg
    from sqlalchemy.engine import make_url

    engine = db.engine_for(db_url)
    group = GroupCommit(engine, _insert_pg, written=_in_t if one_statement else None)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (item TEXT PRIMARY KEY)"))
    group.submit("first")  # a pooled writer connection now exists
    plain = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert killed >= 1
    group.submit("second")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT item FROM t ORDER BY item")).scalars().all() == ["first", "second"]


def _insert_pg(conn, items):
    cur = conn.cursor()
    cur.executemany("INSERT INTO t VALUES (%s)", [(item,) for item in items])
    cur.close()


def _in_t(conn, items):
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM t WHERE item = %s", (items[0],))
    found = cur.fetchone()[0] > 0
    cur.close()
    return found


@pytest.mark.postgres
def test_a_statement_committed_before_its_connection_broke_is_not_written_again(db_url):
    """PostgreSQL, a single-statement write: the server committed it, and the connection broke
    before the answer came back. The writer cannot tell that from a connection that was stale,
    so on a new connection it asks the database first: the call is not failed, and its record is
    there once, not twice."""
    engine = db.engine_for(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n serial PRIMARY KEY, item TEXT)"))
    calls = []

    def insert_then_break(conn, items):
        calls.append(items)
        cur = conn.cursor()
        cur.executemany("INSERT INTO t (item) VALUES (%s)", [(item,) for item in items])  # committed: autocommit
        if len(calls) == 1:
            cur.execute("SELECT pg_terminate_backend(pg_backend_pid())")  # the server ends this connection
        cur.close()

    GroupCommit(engine, insert_then_break, written=_in_t).submit("only")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT item FROM t")).scalars().all() == ["only"]
    assert len(calls) == 1, "the committed statement was sent a second time"
