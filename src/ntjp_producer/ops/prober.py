"""Uptime as the platform sees it: a probe round every ``probe_seconds``, from outside the workers.

The per-call figures cannot tell a dead producer from a quiet one: calls that never reach a worker
are recorded nowhere. So the gunicorn master of each node calls, like the platform's monitor, each
contract's PingForConfiguration (and FMB's GetVersions) over mutual TLS on the public address, and
writes one row per round: answered correctly within the SLA target, or not, and why.

The prober is its own small process, started (a new interpreter, not a fork) by the master: the
master forks workers, and a fork while one of its threads is inside OpenSSL could leave a worker
with a lock nobody will release. It is a plain child process, not a ``multiprocessing`` one: the
workers inherit ``multiprocessing``'s list of the master's children, and a worker leaving (a
reload, a restart) terminated the prober from that list at its own exit, after which the node was
probed no more. It stops when the master does: at the master's exit, or when it sees the master gone.

Uptime (``sla.uptime``) is then the share of probe intervals in service hours, since monitoring
began, in which some node's round succeeded. An interval with no row at all (every node down, or
the whole site) counts as down: nothing is assumed up that was not seen up.
"""

from __future__ import annotations

import atexit
import datetime as dt
import http.client
import logging
import os
import pickle
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ntjp_producer import ns
from ntjp_producer.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

_FLUSH_SECONDS = 10.0  # at a stop, how long the rounds already made may take to be written

_ENVELOPE = (
    f'<s:Envelope xmlns:s="{ns.SOAP11_ENV}"><s:Header><la:LogicalAddress xmlns:la="{ns.REGISTRY}">{{la}}'
    "</la:LogicalAddress></s:Header><s:Body>{body}</s:Body></s:Envelope>"
)


def _probes(settings: Settings) -> list[tuple[str, str, bytes]]:
    """(name, path, request body) for this service, as the platform's monitor sends them: each
    contract's PingForConfiguration, and FMB's GetVersions (an answer from the data itself)."""
    la = settings.logical_addresses[0]
    if settings.service == "hosp":
        contracts = [ns.hosp_responder(c) for c in ("GetHealthcareProfessional", "SearchHealthcareProfessionals")]
    else:
        contracts = [ns.fmb_responder(c) for c in ("GetFmb", "GetDiagnosInformation", "GetVersions")]
    probes = []
    for contract in contracts:
        ping = (
            f'<p:PingForConfiguration xmlns:p="{ns.PING_RESPONDER}"><p:serviceContractNamespace>{contract}'
            f"</p:serviceContractNamespace><p:logicalAddress>{la}</p:logicalAddress></p:PingForConfiguration>"
        )
        probes.append((f"PingForConfiguration ({contract.rsplit(':', 2)[-2]})", "/PingForConfiguration/1/rivtabp21",
                       ping))  # fmt: skip
    if settings.service != "hosp":
        versions = ns.fmb_responder("GetVersions")
        probes.append(("GetVersions", "/GetVersions/1/rivtabp21", f'<v:GetVersions xmlns:v="{versions}"/>'))
    return [(name, path, _ENVELOPE.format(la=la, body=body).encode()) for name, path, body in probes]


def probe_url(settings: Settings) -> str:
    """The public address: ``probe_url``, else the node's own bind address (0.0.0.0 as loopback)."""
    if settings.probe_url:
        return settings.probe_url.rstrip("/")
    host, _, port = settings.bind.rpartition(":")
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 - reading a bind address
    return f"https://{host}:{port}"


class Prober:
    def __init__(self, settings: Settings, engine: Engine | Callable[[], Engine], node: str | None = None) -> None:
        """``engine``, or what makes it on the first round to record: the prober's process starts
        probing before it has imported SQLAlchemy (half a second, and seconds on a busy machine,
        which the uptime figures would count as down after every restart)."""
        self.settings = settings
        self._engine = engine
        self.node = (node or f"{socket.gethostname()}:{settings.bind}")[:64]
        self.url = probe_url(settings)
        self.probes = _probes(settings)
        self.timeout = settings.sla_seconds(settings.service)

    def _context(self) -> ssl.SSLContext:
        tls = Path(self.settings.tls_dir)
        cert = Path(self.settings.probe_cert) if self.settings.probe_cert else tls / "clients" / "ntjp.pem"
        key = Path(self.settings.probe_key) if self.settings.probe_key else tls / "clients" / "ntjp-key.pem"
        ctx = ssl.create_default_context(cafile=str(tls / "ca.pem"))
        ctx.load_cert_chain(str(cert), str(key))
        return ctx

    def round(self, timeout: float | None = None) -> tuple[bool, float, str]:
        """One round: (every probe answered correctly in time, seconds, what failed)."""
        timeout = timeout or self.timeout
        started = time.perf_counter()
        target = urlsplit(self.url)
        try:
            context = self._context()
            for name, path, body in self.probes:
                conn = http.client.HTTPSConnection(target.hostname, target.port or 443, context=context,
                                                   timeout=timeout)  # fmt: skip
                try:
                    conn.request("POST", path, body=body, headers={"Content-Type": "text/xml; charset=utf-8"})
                    reply = conn.getresponse()
                    data = reply.read()
                finally:
                    conn.close()
                if reply.status != 200 or b"Fault>" in data:
                    return False, time.perf_counter() - started, f"{name}: HTTP {reply.status}"
            seconds = time.perf_counter() - started
            if seconds > self.timeout:
                return False, seconds, f"slower than the {self.timeout:g} s target"
            return True, seconds, ""
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            return False, time.perf_counter() - started, f"{type(exc).__name__}: {exc}"[:200]

    @property
    def engine(self) -> Engine:
        if callable(self._engine):
            self._engine = self._engine()
        return self._engine

    def record(self, at: dt.datetime, result: tuple[bool, float, str]) -> bool:
        """A round made at ``at`` written to ``ops_probe``, stamped with the moment it began: a round
        answered in time says the service was up from when its probes went out, as the platform's
        monitor counts it. Stamped when it ended instead, every round slower than the one before (a
        busy machine) would leave a gap the report counts as down."""
        ok, seconds, detail = result
        row = {"at": at, "service": self.settings.service, "node": self.node,
               "ok": ok, "ms": round(seconds * 1000, 1), "detail": detail or None}  # fmt: skip
        try:
            from sqlalchemy import insert

            from ntjp_producer.ops.models import ops_probe

            with self.engine.begin() as conn:
                conn.execute(insert(ops_probe), [row])
        except Exception as exc:  # the database is down: the interval stays without a row, i.e. down
            log.error("probe result not written", extra={"error": str(exc)[:200]})
        if not ok:
            log.warning("probe failed", extra={"event": "probe_failed", "url": self.url, "detail": detail})
        return ok

    def _write(self, rounds: queue.SimpleQueue) -> None:
        """The writer's thread: the engine made (SQLAlchemy imported) while the first rounds still
        wait for the workers, then each round written as it comes, until ``None``."""
        try:
            self.engine  # noqa: B018 - made now, not on the first round
        except Exception as exc:
            log.error("probe results cannot be written yet", extra={"error": str(exc)[:200]})
        while (made := rounds.get()) is not None:
            self.record(*made)

    def run(self, stop: threading.Event) -> None:
        """One round every ``probe_seconds`` on a fixed schedule; a round that overran its interval is
        not made up for (the intervals it spanned were not answered). The master starts this before
        its workers are up: the first round is the first moment they answer (tried every 0.2 s for
        up to one interval), so a node is seen up from the interval it came up in.

        Rounds are written by a thread of their own: a slow write (the first imports SQLAlchemy and
        connects, seconds on a busy machine; a database that hangs) must not push the next round
        back, or the time between would be counted as down."""
        step = self.settings.probe_seconds
        rounds: queue.SimpleQueue = queue.SimpleQueue()
        writer = threading.Thread(target=self._write, args=(rounds,), name="ntjp-probe-writer", daemon=True)
        writer.start()
        try:
            until = due = time.monotonic() + step
            while not stop.is_set() and time.monotonic() < until:
                started, at = time.monotonic(), dt.datetime.now(dt.UTC)
                first = self.round(timeout=min(1.0, step))
                if first[0]:  # the first answer is the first round, recorded as every round is
                    rounds.put((at, first))
                    due = started + step
                    break
                stop.wait(0.2)
            else:
                due = time.monotonic()
            while not stop.wait(max(0.0, due - time.monotonic())):
                at = dt.datetime.now(dt.UTC)
                try:
                    rounds.put((at, self.round()))
                except Exception:
                    log.exception("probe round failed")
                due += step
                if due < time.monotonic():
                    due = time.monotonic() + step
        finally:
            rounds.put(None)
            writer.join(timeout=max(_FLUSH_SECONDS, step))


def start(settings: Settings) -> subprocess.Popen:
    """The prober's process, given its settings over a pipe; stopped (SIGTERM, then waited for while
    it writes the rounds it has made) when this process exits, and by nobody else."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from ntjp_producer.ops.prober import child; child()"], stdin=subprocess.PIPE
    )
    process.stdin.write(pickle.dumps((settings, os.getpid())))
    process.stdin.close()
    atexit.register(_stop, process, os.getpid())
    return process


def _stop(process: subprocess.Popen, master: int) -> None:
    if os.getpid() != master:  # a worker forked from the master has this handler too: not its child
        return
    process.terminate()
    try:
        process.wait(timeout=_FLUSH_SECONDS + 5)
    except subprocess.TimeoutExpired:
        process.kill()


def child() -> None:
    """The prober process's entry: its settings and its master's pid from the pipe, from the master."""
    settings, master = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by our own master, above
    _main(settings, master)


def _engine(url: str) -> Engine:
    from ntjp_producer.storage import db

    return db.engine_for(url)


def _main(settings: Settings, master: int) -> None:
    from ntjp_producer import logs

    logs.setup(settings.log_level)
    # A Ctrl-C reaches every process of the terminal's group; the prober stops with its master (the
    # watch below, or the master's exit), not with a KeyboardInterrupt traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    # The master's exit stops the prober with SIGTERM (``_stop``): without this handler the rounds
    # made but not yet written (all of them, while a busy machine's writer is still importing
    # SQLAlchemy) were lost with the process, and the report counted that time as down.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def watch_master() -> None:  # the master gone (even killed): so is its prober
        while not stop.wait(1.0):
            if os.getppid() != master:
                stop.set()

    threading.Thread(target=watch_master, daemon=True).start()
    Prober(settings, lambda: _engine(settings.db)).run(stop)
