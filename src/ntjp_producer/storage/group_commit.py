"""Group commit: concurrent callers' records written in one transaction, each caller released only
once the transaction holding its own record has committed.

An audited call may not be answered before its record is durable, and a durable commit costs a
flush to disk (SQLite's WAL, PostgreSQL's WAL), far more than writing the record. Calls that arrive
while a commit is under way therefore wait for the next one and share it: the first waiting caller
becomes the next writer and, once its turn has come, takes everything queued behind it (up to
``max_batch``). Nobody is
answered from a transaction that has not committed, and if a transaction fails, every caller in it
gets the failure (and withholds its answer). No background thread: the writer is always one of the
callers, so nothing is left running across gunicorn's fork or at exit.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from ntjp_producer.storage import checkpoint
from ntjp_producer.storage.db import write_durably
from ntjp_producer.storage.synced_log import SyncedLog


class NotCommitted(Exception):
    """The transaction that held this caller's record failed; ``orig`` is the database's error."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(type(cause).__name__)
        self.orig = getattr(cause, "orig", None) or cause
        self.sqlstate = getattr(self.orig, "sqlstate", None)


class _Ticket:
    __slots__ = ("done", "error", "event", "item", "lead")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.event = threading.Event()
        self.done = False
        self.lead = False
        self.error: BaseException | None = None


class GroupCommit:
    def __init__(
        self,
        engine: Engine,
        write: Callable[[Any, list[Any]], None],
        *,
        written: Callable[[Any, list[Any]], bool] | None = None,
        max_batch: int = 64,
    ) -> None:
        """``write(conn, items)`` writes the items on a driver-level connection; the group commits.

        On PostgreSQL, ``written(conn, items)`` says that ``write`` is one statement, sent on an
        autocommit connection as its own transaction (one round trip: ``db.write_durably``), and tells
        whether a batch whose connection broke under it had been committed all the same."""
        self._engine = engine
        self._write = write
        self._written = written if engine.dialect.name == "postgresql" else None
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Ticket] = []
        self._busy = False
        self._lock_file: tuple[int, int] | None = None  # (pid, fd)
        path = engine.url.database if engine.dialect.name == "sqlite" else None
        # A SQLite database file (not in memory): its writers' lock, and its log copied back by a
        # thread of its own, not inside the commits callers wait for.
        self._file = os.path.abspath(path) if path and path != ":memory:" else None
        self._checkpoints = checkpoint.for_database(self._file) if self._file else None
        self._log = SyncedLog(engine, self._file) if self._file else None
        self.batches = 0  # transactions committed or tried, for the benchmark and the tests
        self.items = 0

    def submit(self, item: Any) -> None:
        """Returns once ``item`` is committed; raises NotCommitted if its transaction failed."""
        ticket = _Ticket(item)
        with self._lock:
            self._queue.append(ticket)
            if not self._busy:
                self._busy = ticket.lead = True
        if not ticket.lead:
            ticket.event.wait()  # the writer's statements are bounded by the lock and statement timeouts
        if not ticket.done:
            self._lead()
        if ticket.error is not None:
            raise NotCommitted(ticket.error)

    @contextlib.contextmanager
    def _writers(self):
        """SQLite: one writer at a time across this database's processes, queued by the kernel.

        SQLite's own lock makes a second process's writer poll with sleeps of 1, 2, 5 ms and more,
        so two workers' commits would mostly wait for each other's sleeps; an exclusive ``flock``
        on a file beside the database wakes the next writer the moment the last one is done. The
        database's lock (and its timeout) still applies behind it to every other writer.
        """
        if self._file is None:
            yield
            return
        if self._lock_file is None or self._lock_file[0] != os.getpid():  # a lock of our own after fork
            fd = os.open(self._file + ".writers", os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_file = (os.getpid(), fd)
        fd = self._lock_file[1]
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _take(self) -> list[_Ticket]:
        with self._lock:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
        return batch

    def _lead(self) -> None:
        # The batch is taken once this writer's turn has come (SQLite: once it holds the writers'
        # lock), not before: every record queued while another process was committing joins this
        # commit, so the busier the database, the more records each flush to disk carries. The
        # leader is always at the head of the queue, so its own record is in its batch.
        #
        # Once committed, the writers' lock and the lead are passed on before the batch's callers
        # are released. SQLite: the commit was made without a flush (``SyncedLog``), and the log is
        # flushed to disk only now, the callers released once it is: the next batch's statements
        # run while this one's flush is under way.
        batch: list[_Ticket] | None = None
        error: BaseException | None = None
        passed = False
        try:
            with self._writers():
                batch = self._take()
                items = [t.item for t in batch]
                if self._log is not None:
                    self._log.commit(lambda conn: self._write(conn, items))
                else:
                    written = self._written
                    write_durably(self._engine, lambda conn: self._write(conn, items),
                                  None if written is None else lambda conn: written(conn, items))  # fmt: skip
            self._pass_lead()
            passed = True
            if self._log is not None:
                self._log.sync()
        except BaseException as exc:  # whatever it was, nobody in this batch was acknowledged
            error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            if batch is None:  # the writers' lock itself failed: the calls waiting for it fail with it
                batch = self._take()
            with self._lock:
                self.batches += 1
                self.items += len(batch)
            for t in batch:
                t.error, t.done = error, True
                t.event.set()
            if not passed:
                self._pass_lead()
        if error is None and self._checkpoints is not None:  # after the callers are released
            self._checkpoints.wrote()

    def _pass_lead(self) -> None:
        """The first caller queued, if any, becomes the next writer."""
        with self._lock:
            following = self._queue[0] if self._queue else None
            if following is None:
                self._busy = False
            else:
                following.lead = True
        if following is not None:
            following.event.set()
