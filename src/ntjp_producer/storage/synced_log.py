"""SQLite commits whose flush to disk is taken outside the writers' lock.

With ``synchronous=FULL`` (SQLite's default) a commit in WAL mode appends its frames to the log and
then flushes the log to disk before it returns, holding the database's write lock, and ours
(``group_commit``), the while: every other worker's commit waits for this one's flush. Here the
group's connection commits with ``synchronous=NORMAL`` (the frames are written to the log, not yet
flushed; a killed process loses nothing, the kernel holds them) and the group then flushes the log
file itself, after the locks are let go, before any caller in the batch is answered. A flush makes
durable everything written to the file before it, so the answer still leaves only once its record
would survive a power cut, as with FULL; the next batch's statements run meanwhile.

The log is flushed as SQLite's own unix VFS flushes it on Linux (and PostgreSQL its WAL, by
default), with ``fdatasync``: the data, and of the file's attributes what reading it back needs
(its size, when the log grew), not its times. The same records survive a power cut as with
``fsync``; HoSp Get measured about 5 % faster (docs/performance.md).

The log is SQLite's ``<database>-wal`` file (https://sqlite.org/wal.html). It exists while a
connection is open, and the group's own connection stays open, so the file flushed is the one the
commit wrote. Its directory entry is flushed (``fsync``) once per process as well, for a log made anew.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from ntjp_producer.storage import db


class SyncedLog:
    """One database file's connection for group commits, and the flush of its log. Only the
    group's leader commits, one at a time; flushes may overlap."""

    def __init__(self, engine: Engine, path: str) -> None:
        self._engine = engine
        self._wal = path + "-wal"
        self._dir = os.path.dirname(path) or "."
        self._conn: Any = None
        self._pid: int | None = None
        self._flushes = False  # WAL mode: the commits leave the flush to ``sync``
        self._dir_synced = False

    def commit(self, write: Callable[[Any], None]) -> None:
        """``write(conn)`` on this process's connection, committed, not yet flushed; rolled back
        if it raises (and the connection replaced if the rollback fails too)."""
        with db.transaction(self._connection(), self._drop) as conn:
            write(conn)

    def sync(self) -> None:
        """Flushes the log to disk: every commit made before this call is then durable."""
        if not self._flushes:  # not in WAL mode: the commit flushed (synchronous=FULL)
            return
        _flush(self._wal, data_only=True)
        if not self._dir_synced:
            _flush(self._dir, data_only=False)
            self._dir_synced = True

    def _connection(self):
        if self._conn is None or self._pid != os.getpid():  # a connection of its own after fork
            fairy = self._engine.raw_connection()  # the engine's pragmas and lock timeout
            conn = fairy.driver_connection
            fairy.detach()  # this process's for good: not handed back to the pool
            (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
            # Only a log can be flushed on its own; another journal keeps SQLite's own flushes.
            self._flushes = mode.lower() == "wal"
            if self._flushes:
                conn.execute("PRAGMA synchronous=NORMAL")
            self._conn, self._pid, self._dir_synced = conn, os.getpid(), False
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        with contextlib.suppress(Exception):  # broken already; a new one is opened on the next commit
            conn.close()


def _flush(path: str, *, data_only: bool) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if data_only:
            os.fdatasync(fd)
        else:
            os.fsync(fd)
    finally:
        os.close(fd)
