"""SQLite's log is copied back into the database by the checkpointer's thread, not inside the
commits that answers wait for (``storage/checkpoint.py``)."""

from __future__ import annotations

import logging
import os
import random
import shutil
import sqlite3
import time

from sqlalchemy import text

from ntjp_producer.storage import checkpoint, db
from ntjp_producer.storage.group_commit import GroupCommit
from tests.helpers import until


def _wide_insert(conn, items):
    """Each item indexes 100 random keys, as an IVO search's record indexes 100 persons: about
    100 pages of the index changed by one commit."""
    cur = conn.cursor()
    for item in items:
        cur.executemany("INSERT INTO t VALUES (?, ?)", [(f"{random.random():.15f}", item) for _ in range(100)])
    cur.close()


def test_the_checkpointer_copies_committed_records_into_the_database_file(tmp_path):
    path = tmp_path / "c.db"
    engine = db.engine_for(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (k TEXT PRIMARY KEY, item TEXT) WITHOUT ROWID"))
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == checkpoint.AUTOCHECKPOINT_PAGES
    group = GroupCommit(engine, _wide_insert)
    for n in range(40):  # well past SQLite's default automatic checkpoint of 1,000 pages
        group.submit(f"r{n}")
    copies = checkpoint.for_database(str(path))
    assert until(lambda: copies.checkpoints > 0), "no checkpoint was taken after the commits"

    def in_file_alone() -> int:
        """The rows the database file holds without its log: what the checkpoints have copied."""
        alone = tmp_path / "alone.db"
        shutil.copyfile(path, alone)
        with sqlite3.connect(alone) as conn:
            return conn.execute("SELECT COUNT(*) FROM t").fetchone()[0]

    assert until(lambda: in_file_alone() == 4000), f"{in_file_alone()} of 4000 rows copied into the file"


def test_a_failing_checkpoint_is_logged_once_and_never_raised_to_the_committing_caller(tmp_path, caplog):
    not_a_database = tmp_path / "x.db"
    not_a_database.write_bytes(b"this is not an SQLite database" * 200)
    copies = checkpoint.Checkpointer(str(not_a_database), interval=0.01)
    with caplog.at_level(logging.WARNING, logger="ntjp_producer.storage.checkpoint"):
        for _ in range(5):
            copies.wrote()  # returns at once: the thread does the work
            time.sleep(0.05)
    warnings = [r for r in caplog.records if r.getMessage() == "WAL checkpoint failed"]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert warnings[0].error == "DatabaseError"
    assert copies.checkpoints == 0


def test_a_forked_worker_checkpoints_from_a_thread_of_its_own(tmp_path):
    """gunicorn forks its workers; the parent's thread is not in the child, so the child's first
    commit starts the child's own."""
    path = tmp_path / "f.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (k TEXT)")
    copies = checkpoint.Checkpointer(str(path), interval=0.01)
    copies.wrote()
    assert until(lambda: copies.checkpoints >= 1)
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        ok = False
        try:
            before = copies.checkpoints
            copies.wrote()
            ok = until(lambda: copies.checkpoints > before, 5.0)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the forked process took no checkpoint of its own"
