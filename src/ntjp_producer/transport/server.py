"""Running a producer under gunicorn with mutual TLS, and stopping it without losing a call.

SIGTERM (systemd's stop, a rolling restart) drains the node before gunicorn's graceful stop: for
``drain_seconds`` the operations ``/health`` answers 503 "draining", so the load balancer takes the
node out, and every answer closes its connection, so keep-alive clients reconnect (to the other
node); then the listeners close and the calls in flight get ``graceful_timeout`` to finish.
SIGINT (Ctrl-C) stops at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from ntjp_producer import logs
from ntjp_producer.settings import Settings
from ntjp_producer.transport import tls

log = logging.getLogger(__name__)


class ProducerServer(BaseApplication):
    """gunicorn with this producer's worker and TLS. What it serves is given: ``load_app`` builds
    the WSGI application in each worker, ``on_ready`` starts the master's companions (the
    operations listener), told how to ask whether the node is draining. ``app.py`` assembles both."""

    def __init__(
        self,
        settings: Settings,
        load_app: Callable[[Settings], Callable],
        *,
        plain: bool = False,
        on_ready: Callable[[Callable[[], bool]], None] | None = None,
        check: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.load_app = load_app
        self.on_ready = on_ready
        self.check = check
        self.plain = plain
        self.check_workers_can_boot()  # fail before forking if the certificates are missing
        # Prometheus multi-process mode: each worker writes its own files here, the operations
        # listener in the master sums them. Must be set before prometheus_client is imported.
        # A folder made here is this run's only (the per-minute figures in the database are what last):
        # removed when the master exits, so restarts leave nothing behind in /tmp.
        self._metrics_dir: str | None = None
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            self._metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ntjp-metrics-")
        # Set by the master when it starts draining; the workers it forks share the page.
        self.draining = multiprocessing.RawValue("b", 0)
        super().__init__()

    def check_workers_can_boot(self) -> None:
        """What every new worker reads, read here first: the TLS files and what ``check`` reads (the
        HoSp consumer registry). Raises what a worker would have failed with."""
        if not self.plain:
            tls.server_context(self.settings.tls_dir)
        if self.check is not None:
            self.check()

    def run(self) -> None:
        master = os.getpid()
        try:
            _DrainingArbiter(self).run()
        except RuntimeError as exc:
            raise SystemExit(f"ntjp-producer: {exc}") from None
        finally:
            if self._metrics_dir is not None and os.getpid() == master:  # not in a worker leaving
                shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def load_config(self) -> None:
        s = self.settings
        tls_dir = s.tls_path

        def ssl_context(_config, _default_factory):
            return tls.server_context(tls_dir)

        def post_fork(_server, worker):
            worker.hold_stop_signals()  # before anything else: see ProducerWorker.hold_stop_signals
            from ntjp_producer.storage import db

            db.after_fork()

        def when_ready(_server):
            logs.setup(s.log_level)
            if self._metrics_dir is not None:
                log.info("metrics folder for this run", extra={"path": self._metrics_dir})
            if self.on_ready is not None:
                self.on_ready(lambda: bool(self.draining.value))

        def child_exit(_server, worker):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(worker.pid)

        options = {
            "post_fork": post_fork,
            "when_ready": when_ready,
            "child_exit": child_exit,
            "bind": s.bind,
            "workers": s.workers,
            "worker_class": "ntjp_producer.transport.worker.ProducerWorker",
            "threads": s.threads,
            "timeout": s.timeout,
            "graceful_timeout": s.graceful_timeout,
            "keepalive": 5,
            "certfile": str(tls_dir / tls.SERVER_CERT),
            "keyfile": str(tls_dir / tls.SERVER_KEY),
            "ca_certs": str(tls_dir / tls.CA),
            "ssl_context": ssl_context,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": f"ntjp-producer-{s.service}",
            "limit_request_line": 8190,
            "limit_request_fields": 100,
        }
        if self.plain:
            for key in ("certfile", "keyfile", "ca_certs", "ssl_context"):
                del options[key]
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        logs.setup(self.settings.log_level)
        return self.load_app(self.settings)


class _DrainingArbiter(Arbiter):
    """gunicorn's master, with SIGTERM starting a drain first (see the module's docstring)."""

    _drain_timer: threading.Timer | None = None

    def handle_hup(self) -> None:
        """SIGHUP (``systemctl reload``): new workers, which read the certificates and the consumer
        registry again, and the old ones retired gracefully; but only if a new worker can boot.
        With a file broken, every new worker failed and gunicorn stopped the whole node, the old
        workers with it. Refused, the node goes on serving with what its workers have."""
        try:
            self.app.check_workers_can_boot()
        except Exception as exc:
            logging.getLogger("ntjp_producer.transport").error(
                "reload refused: a new worker could not boot; the running workers go on as they are",
                extra={"event": "reload_refused", "error": str(exc)[:500]},
            )
            return
        super().handle_hup()

    def handle_term(self) -> None:
        seconds = self.app.settings.drain_seconds
        if self._drain_timer is not None or seconds <= 0:
            raise StopIteration  # the drain is over (or asked for again): gunicorn's graceful stop
        self.app.draining.value = 1
        logging.getLogger("ntjp_producer.transport").warning(
            "draining: no new calls are taken once the load balancer sees /health", extra={"seconds": seconds}
        )
        self._drain_timer = threading.Timer(seconds, self.SIG_QUEUE.put_nowait, (signal.SIGTERM,))
        self._drain_timer.daemon = True
        self._drain_timer.start()
