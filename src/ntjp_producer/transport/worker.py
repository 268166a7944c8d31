"""The gunicorn worker: gthread, with deadlines, so slow or stalled clients cannot starve the rest.

gthread hands every accepted connection to a pool thread, which does the TLS handshake and reads
the request with blocking calls and no deadline; a few connections that stop half-way hold every
thread. This worker changes three things and leaves the rest of gthread as it is:

- The TLS handshake runs in the worker's event loop, non-blocking: a connection costs no thread
  until its handshake is complete and its first request bytes have arrived. A handshake not done
  within ``handshake_timeout`` seconds of the accept is dropped. So is a client certificate that is
  not meant for a client (``tls.client_certificate_problem``).
- Reading a request (head and body) has one deadline, ``request_timeout`` seconds from the moment a
  thread takes it up, enforced on every read by the socket class itself (``DeadlineSSLSocket``).
  A client that trickles its body is cut off at the deadline; the plumbing answers it a Client
  fault if it got as far as the body.
- Writing an answer has its own timeout, so a client that never reads cannot hold a thread either.

Two more things a running node needs: a new CRL, CA bundle or server certificate in the TLS folder
is taken up without a restart (each worker looks at the files once a second in its event loop, busy
or idle, builds a new context for new handshakes, and tells connections made under the old one to close after their next
answer, so every client is checked against the new trust within one call); and while the node
drains (``transport/server.py``) every answer closes its connection.

With those bounds, a thread is held by a slow client for ``request_timeout`` at most, and the
thread count (``threads``) is sized so that a handful of such clients leave most threads free.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import signal
import ssl
import time
from functools import partial

from gunicorn import http
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.base import Worker
from gunicorn.workers.gthread import TConn, ThreadWorker

from ntjp_producer.transport import tls

log = logging.getLogger(__name__)


class RequestTooSlow(NoMoreData):
    """The request was not received within its deadline. gunicorn treats it like a client that went
    away (the connection is closed, nothing is logged as an error); inside the application, reading
    the body raises it, and the plumbing answers a Client fault."""

    def __str__(self) -> str:
        return "the request was not received within its deadline"


class DeadlineSSLSocket(ssl.SSLSocket):
    """An SSL socket whose reads stop at the current request's deadline and whose writes time out."""

    request_deadline: float | None = None
    write_timeout: float = 30.0

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        deadline = self.request_deadline
        if deadline is None:
            return super().recv(buflen, flags)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RequestTooSlow()
        self.settimeout(remaining)
        try:
            return super().recv(buflen, flags)
        except TimeoutError:
            raise RequestTooSlow() from None

    def sendall(self, data, flags: int = 0) -> None:
        self.settimeout(self.write_timeout)
        super().sendall(data, flags)


class _Conn(TConn):
    handshaken = False
    trust = 0  # the generation of the worker's TLS context this connection was accepted under

    def init(self) -> None:
        if self.handshaken and not self.initialized:
            # The worker already did the handshake; gthread would wrap the socket a second time.
            self.initialized = True
            self.sock.setblocking(True)
            self.parser = http.get_parser(self.cfg, self.sock, self.client)
            return
        super().init()


class ProducerWorker(ThreadWorker):
    """gunicorn's ``worker_class`` for every producer (``transport/server.py``); its timeouts are
    the settings ``handshake_timeout``, ``request_timeout`` and ``write_timeout``."""

    def init_process(self) -> None:
        s = self.app.settings
        self.handshake_timeout, self.request_timeout, self.write_timeout = (
            s.handshake_timeout,
            s.request_timeout,
            s.write_timeout,
        )
        self.handshakes: list[_Conn] = []
        self.tls_context: ssl.SSLContext | None = None
        self.trust, self._trust_stamp, self._trust_checked = 0, None, 0.0
        if self.cfg.is_ssl:
            # One context until the trust files change; gunicorn would build one per connection.
            self._trust_stamp = tls.trust_stamp(s.tls_dir)
            self.tls_context = self._new_context()
        super().init_process()

    _STOPS = (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT)

    def hold_stop_signals(self) -> None:
        """First thing after the fork (``post_fork``). Until gunicorn's ``init_signals`` a new worker
        still runs the master's signal handlers, which queue a stop for the master, in this process's
        copy of the queue that nobody reads: a worker told to stop while it booted (a Ctrl-C soon
        after the start, the second worker slower than the first) served on until the master killed
        it ``graceful_timeout`` later. Held here, each stop is acted on once the worker's own
        handlers are in place."""
        self._held: list[int] = []
        for sig in self._STOPS:
            signal.signal(sig, lambda sig, _frame: self._held.append(sig))

    def init_signals(self) -> None:
        super().init_signals()
        for sig in getattr(self, "_held", ()):
            os.kill(os.getpid(), sig)  # now handled as it should have been

    def handle_quit(self, sig, frame) -> None:
        """SIGQUIT (the master's quick stop) or SIGINT (a Ctrl-C reaches every process of the
        terminal's group, the workers too): exit from inside the signal handler, without gthread's
        shutting down the thread pool first. That shutdown takes the pool's lock, and a handler
        runs wherever the main thread was: inside the pool's ``submit`` (handing a request over),
        or inside the first signal's shutdown when the second arrives (Ctrl-C gives a worker both).
        Either way it waited for its own lock for ever (CPython issue 121649), and the worker hung
        until the master killed it ``graceful_timeout`` later. The exit stops the pool's threads
        anyway (``concurrent.futures`` does at exit). During a hand-over the exit waits until it is
        done: a pool thread ``submit`` was starting would not be told to stop, and the exit would
        wait for it. A stop signal after the first is let pass: raised inside the exit's own
        clean-up (the last per-minute figures being written), it would cut that short."""
        if self._quitting:
            return
        if self._handing_over:
            self.alive, self._quit_after_hand_over = False, True
            return
        self._quitting = True
        Worker.handle_quit(self, sig, frame)

    def _new_context(self) -> ssl.SSLContext:
        context = self.cfg.ssl_context(self.cfg, None)
        context.sslsocket_class = DeadlineSSLSocket
        return context

    def _check_trust(self) -> None:
        """A new CRL, CA bundle or server certificate: a new context, and a new generation."""
        now = time.monotonic()
        if now - self._trust_checked < 1.0:
            return
        self._trust_checked = now
        stamp = tls.trust_stamp(self.app.settings.tls_dir)
        if stamp == self._trust_stamp:
            return
        try:
            context = self._new_context()
        except (OSError, ValueError) as exc:  # half-written or broken files: keep serving with the old trust
            log.error("TLS files changed but could not be loaded; the previous ones stay in force",
                      extra={"error": type(exc).__name__, "reason": str(exc)[:200]})  # fmt: skip
            return
        self.tls_context, self._trust_stamp = context, stamp
        self.trust += 1
        log.warning("TLS trust reloaded (CA bundle, revocation list or server certificate)",
                    extra={"generation": self.trust})  # fmt: skip

    # -- accepting, and the handshake in the event loop ---------------------------------------------

    def accept(self, listener) -> None:
        try:
            sock, addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = _Conn(self.cfg, sock, addr, listener.getsockname())  # non-blocking from here
        conn.timeout = time.monotonic() + self.handshake_timeout
        if self.tls_context is not None:
            self._check_trust()
        conn.trust = self.trust
        if self.tls_context is None:
            self._wait_for_request(conn, conn.timeout)
            return
        try:
            conn.sock = self.tls_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False, suppress_ragged_eofs=True
            )
        except OSError:
            self._drop(conn)
            return
        conn.sock.write_timeout = self.write_timeout
        self.handshakes.append(conn)
        self._handshake(conn)

    def _handshake(self, conn: _Conn, _fileobj=None) -> None:
        self._unregister(conn)
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._handshake, conn))
            return
        except ssl.SSLWantWriteError:
            self.poller.register(conn.sock, selectors.EVENT_WRITE, partial(self._handshake, conn))
            return
        except OSError:  # ssl.SSLError among them: refused certificate, not TLS, reset
            self.handshakes.remove(conn)
            self._drop(conn)
            return
        self.handshakes.remove(conn)
        problem = tls.client_certificate_problem(conn.sock.getpeercert(binary_form=True))
        if problem is not None:
            log.warning("client certificate refused after the handshake", extra={"reason": problem})
            self._drop(conn)
            return
        conn.handshaken = True
        if conn.sock.pending():  # the request's first bytes came with the handshake's last flight
            conn.data_ready = True
            self.enqueue_req(conn)
            return
        self._wait_for_request(conn, time.monotonic() + self.cfg.keepalive)

    def _wait_for_request(self, conn: _Conn, until: float) -> None:
        """Park the connection in the poller until its request arrives (gthread's pending list)."""
        conn.timeout = until
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))

    def murder_pending(self) -> None:
        if self.tls_context is not None:
            self._check_trust()  # every loop (at most a second apart): an idle worker takes new trust up too
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c in self.handshakes if c.timeout <= now]:
            self.handshakes.remove(conn)
            self._unregister(conn)
            self._drop(conn)

    def _unregister(self, conn: _Conn) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _drop(self, conn: _Conn) -> None:
        self.nr_conns -= 1
        conn.close()

    # -- one request, with its deadline -------------------------------------------------------------

    def handle_request(self, req, conn: _Conn):
        draining = getattr(self.app, "draining", None)
        if (draining is not None and draining.value) or conn.trust != self.trust:
            req.must_close = True  # this answer says Connection: close, and the connection ends with it
        return super().handle_request(req, conn)

    _handing_over = _quit_after_hand_over = _quitting = False

    def enqueue_req(self, conn: _Conn) -> None:
        # The request's bytes are here: from now until a thread takes it up, the caller waits on us.
        conn.queued_at = time.perf_counter()
        self._handing_over = True  # a quick stop meanwhile waits for the end of it (handle_quit)
        try:
            super().enqueue_req(conn)
        finally:
            self._handing_over = False
            if self._quit_after_hand_over:
                self.handle_quit(signal.SIGQUIT, None)

    def handle(self, conn: _Conn):
        if self.tls_context is not None:
            self._check_trust()
        sock = conn.sock
        with contextlib.suppress(AttributeError):  # read by the plumbing's measurement (rivta/wsgi.measured_since)
            sock.ntjp_waited = time.perf_counter() - getattr(conn, "queued_at", time.perf_counter())
        if isinstance(sock, DeadlineSSLSocket):
            sock.request_deadline = time.monotonic() + self.request_timeout
        try:
            return super().handle(conn)
        finally:
            if isinstance(sock, DeadlineSSLSocket):
                sock.request_deadline = None
