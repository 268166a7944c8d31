"""SQLite's WAL checkpoints, taken off the commits that answers wait for.

In WAL mode a commit appends the pages it changed to the log, and from time to time the log is
copied back into the database file (a checkpoint). By default SQLite does that inside the commit
that takes the log past 1,000 pages. An IVO search's audit record indexes 100 persons, about 100
pages of the person index, so every tenth such commit carried a checkpoint of the whole log:
25-30 ms where the commit alone takes 3 ms, with the writers' lock held, so every audited call
behind it waited as well. SQLite's documentation gives the remedy
(https://sqlite.org/wal.html#automatic_checkpoint): raise the automatic checkpoint and run
checkpoints from a thread of their own. One checkpoint then copies a page that a hundred commits
changed once, not a hundred times.

Durability does not depend on any of this: a commit is durable once its frames are in the log and
the log is synced (``synchronous=FULL``, SQLite's default). The checkpoint only moves committed
pages into the database file. If the thread stops, the automatic checkpoint at
``AUTOCHECKPOINT_PAGES`` still bounds the log.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

log = logging.getLogger(__name__)

# The automatic checkpoint every connection keeps (``db``'s pragmas): a bound on the log, reached
# only if no checkpointer runs (a command-line import, a stopped thread). 10,000 pages is 40 MB.
AUTOCHECKPOINT_PAGES = 10_000
# A PASSIVE checkpoint never waits, so under a steady stream of commits the log may never be all
# copied at a moment no writer is adding to it, and SQLite starts it over only then. Past this
# many pages the checkpointer waits for that moment (RESTART). New writers wait while it does, so
# it gives up after RESTART_WAIT_SECONDS (a long reader, such as a backup) and tries again later.
RESTART_PAGES = 2_000
RESTART_WAIT_SECONDS = 0.05
INTERVAL_SECONDS = 0.2  # at most five checkpoints a second per process; none while nothing is written


class Checkpointer:
    """Checkpoints one database file's log from a daemon thread of this process, after commits."""

    def __init__(self, path: str, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self.checkpoints = 0  # taken, for the tests
        self._wrote = threading.Event()
        self._started_in: int | None = None
        self._lock = threading.Lock()

    def wrote(self) -> None:
        """A commit to the database: a checkpoint is taken within ``interval``. Cheap, never blocks."""
        if self._started_in != os.getpid():  # first commit of this process (a forked worker's own thread)
            with self._lock:
                if self._started_in != os.getpid():
                    self._started_in = os.getpid()
                    self._wrote = threading.Event()
                    thread = threading.Thread(target=self._run, args=(self._wrote,), name="wal-checkpoint", daemon=True)
                    try:
                        thread.start()
                    except RuntimeError:  # no thread to be had: the automatic checkpoint bounds the log
                        log.warning("WAL checkpoint thread could not start")
        self._wrote.set()

    def _run(self, wrote: threading.Event) -> None:
        failing = False
        conn = sqlite3.connect(self.path, timeout=RESTART_WAIT_SECONDS, isolation_level=None, check_same_thread=False)
        try:
            while True:
                wrote.wait()
                wrote.clear()
                try:
                    busy, pages, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if pages > RESTART_PAGES:
                        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                    if not busy:  # busy: another process's checkpoint was running, which will do
                        self.checkpoints += 1
                    failing = False
                except sqlite3.Error as exc:  # a busy or vanished file: the automatic checkpoint still bounds the log
                    if not failing:
                        log.warning("WAL checkpoint failed", extra={"error": type(exc).__name__})
                    failing = True
                time.sleep(self.interval)
        finally:  # pragma: no cover - a daemon thread ends with its process
            conn.close()


_checkpointers: dict[str, Checkpointer] = {}
_registry_lock = threading.Lock()


def for_database(path: str) -> Checkpointer:
    """The one checkpointer of this database file (two would only take turns)."""
    with _registry_lock:
        if path not in _checkpointers:
            _checkpointers[path] = Checkpointer(path)
        return _checkpointers[path]
