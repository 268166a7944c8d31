"""Knowing that a table has changed without asking on every call: PostgreSQL's LISTEN/NOTIFY.

FMB's version stamps are read for every call, so that an import is seen by every worker and node
with no restart. On PostgreSQL that read is a round trip to the server, and the server's work on
the same cores; it is most of what a small FMB call costs beyond the floor. Instead, each process
keeps one connection that LISTENs on the channel a trigger on the table notifies at every commit
that changes it (migration 0008), and the reads are kept until a notification comes.

Fail safe, never stale for long: the listener proves itself with a heartbeat every half second (on
the primary: ``pg_is_in_recovery()`` is false). Until its first heartbeat, while it reconnects,
and whenever its last heartbeat is older than ``FRESH_SECONDS`` (a connection gone silent), it is
not trusted and every call reads the table again, as before. Each (re)connection and each
notification moves ``generation``, the key of what may be kept. A change is seen as soon as its
notification has arrived, milliseconds after the commit; never later than ``FRESH_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from ntjp_producer.logs import describe_error

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 0.5
FRESH_SECONDS = 2.0


class Listener:
    def __init__(self, engine: Engine, channel: str, connect_args: dict | None = None) -> None:
        if not channel.isidentifier():
            raise ValueError(f"not a channel name: {channel!r}")
        self.channel = channel
        self._url = engine.url
        # Named, so operations (and the tests) can tell the listening connection in pg_stat_activity.
        self._connect_args = {**(connect_args or {}), "application_name": f"ntjp-listen-{channel}"}
        self.generation = 0  # written by the listening thread only
        self._confirmed = 0.0  # monotonic time of the last heartbeat on the primary
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def key(self) -> int | None:
        """What a read may be kept under, or None: read again (not listening, or not for a while)."""
        if self._pid != os.getpid():  # not yet started in this process (or it was forked)
            self._start()
            return None
        if time.monotonic() - self._confirmed > FRESH_SECONDS:
            return None
        return self.generation

    def stop(self) -> None:
        self._stop.set()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid, self._confirmed = os.getpid(), 0.0
            self.generation += 1
            threading.Thread(target=self._run, name=f"listen-{self.channel}", daemon=True).start()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen()
                failures = 0
            except Exception as exc:  # the server restarted, a failover, the network: read per call meanwhile
                if failures == 0:
                    log.warning("not listening for changes; reading them on every call until it is back",
                                extra={"channel": self.channel, "error": describe_error(exc)})  # fmt: skip
                failures += 1
            self._confirmed = 0.0
            self.generation += 1
            self._stop.wait(min(5.0, 0.1 * 2 ** min(failures, 6)))

    def _listen(self) -> None:
        engine = create_engine(self._url, poolclass=NullPool, connect_args=self._connect_args)
        raw = engine.raw_connection()
        try:
            conn = raw.driver_connection
            conn.autocommit = True
            conn.execute(f"LISTEN {self.channel}")
            self._heartbeat(conn)
            self.generation += 1  # what was read before the LISTEN may predate a change not heard of
            log.info("listening for changes", extra={"channel": self.channel})
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=HEARTBEAT_SECONDS):
                    self.generation += 1
                self._heartbeat(conn)
        finally:
            self._confirmed = 0.0
            raw.invalidate()
            engine.dispose()

    def _heartbeat(self, conn) -> None:
        (standby,) = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if standby:
            raise ConnectionError("listening on a standby, which hears no commits")
        self._confirmed = time.monotonic()
