"""The operations listener, run by the gunicorn master beside the workers: Prometheus metrics,
the status page, a health document, and the SLA alert check.

It listens on plain HTTP on its own address (default 127.0.0.1:9100), never on the TLS port: it
is for the operations network, and it shows no personal data. Metrics are summed over every
worker's multi-process files; figures for the status page and the alerts come from the per-minute
table, which every worker and node writes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ntjp_producer import clock
from ntjp_producer.ops import sla, status
from ntjp_producer.settings import Settings

log = logging.getLogger("ntjp_producer.ops")

WINDOW = dt.timedelta(minutes=5)


def _collectors(settings: Settings, health: Callable[[], dict[str, str]]):
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)

    class DataCollector:
        """Import times and data versions, read from the database at scrape time."""

        def collect(self):
            info = GaugeMetricFamily("ntjp_data_info", "What data is served (1 = current)",
                                     labels=["service", "item", "value"])  # fmt: skip
            last = GaugeMetricFamily("ntjp_last_import_timestamp_seconds", "When data was last imported",
                                     labels=["service"])  # fmt: skip
            try:
                state = health()
            except Exception:
                state = {"dbStatus": "error"}
            for key, value in state.items():
                info.add_metric([settings.service, key, value], 1)
            stamp = state.get("lastImport")
            if stamp:
                last.add_metric([settings.service], clock.parse_stamp(stamp).timestamp())
            yield info
            yield last

    registry.register(DataCollector())
    return registry


class Alerts:
    """One sla_breach event when a contract's rolling 5-minute figures cross a limit, one
    sla_recovered when they are back: never one per request."""

    def __init__(self, settings: Settings, engine) -> None:
        self.settings = settings
        self.engine = engine
        self.breached: dict[tuple[str, str], bool] = {}

    def check(self, now: dt.datetime | None = None) -> None:
        now = now or dt.datetime.now(dt.UTC)
        s = self.settings
        target_ms = s.sla_seconds(s.service) * 1000
        if not sla.in_service_hours(now, s):
            return  # the SLA holds in service hours only; a night's figures page nobody
        figures = sla.by_contract(self.engine, s.service, now - WINDOW, now + dt.timedelta(minutes=1), s)
        for contract in set(figures) | {c for c, _ in self.breached}:
            f = figures.get(contract, sla.Figures())
            if f.calls < s.alert_min_calls and not self.breached.get((contract, "within_target")) \
                    and not self.breached.get((contract, "error_rate")):
                continue  # too few calls to say anything (a breach on two calls is noise)
            within, errors = f.within(target_ms), f.error_share()
            states = {
                # The share of calls within the target fell below sla_share (95 %): what the SLA says.
                "within_target": within is not None and within < s.sla_share,
                "error_rate": errors is not None and errors > s.alert_error_share,
            }
            for kind, breached in states.items():
                was = self.breached.get((contract, kind), False)
                if breached == was:
                    continue
                self.breached[(contract, kind)] = breached
                log.warning(
                    "sla_breach" if breached else "sla_recovered",
                    extra={
                        "event": "sla_breach" if breached else "sla_recovered",
                        "service": s.service,
                        "contract": contract,
                        "kind": kind,
                        "window_minutes": 5,
                        "calls": f.calls,
                        "p95_ms": f.percentile_ms(95),
                        "within_target": within,
                        "target_ms": target_ms,
                        "error_share": errors,
                        "error_share_limit": s.alert_error_share,
                    },
                )

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.settings.alert_check_seconds):
            try:
                self.check()
            except Exception:
                log.exception("SLA alert check failed")


class _Listener(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A connection that failed outside a handler's own care (a client resetting it while its
        request is read): one structured line, not http.server's traceback on stderr."""
        error = sys.exc_info()[1]
        log.warning("operations listener: a connection failed", extra={"error": type(error).__name__})


def start(
    settings: Settings,
    contracts: list[str],
    health: Callable[[], dict[str, str]],
    draining: Callable[[], bool] = lambda: False,
) -> threading.Event:
    """Start the listener and the alert check in background threads of this (master) process.

    ``health`` is the product's own check (PingForConfiguration's), given by whoever assembles the
    producer; ``draining`` says the node is stopping: /health answers 503 from then on."""
    from ntjp_producer.storage import db

    engine = db.engine_for(settings.db)
    host, _, port = settings.ops_bind.rpartition(":")
    registry = _collectors(settings, health)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # the http.server API's name
            try:
                if self.path == "/metrics":
                    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                elif self.path in ("/", "/status"):
                    body = status.page(engine, settings.service, contracts, health(), settings)
                    self._send(200, "text/html; charset=utf-8", body.encode())
                elif self.path == "/health" and draining():
                    self._send(503, "application/json", json.dumps({"status": "draining"}).encode())
                elif self.path == "/health":
                    state = health()
                    # 503 for a database that does not answer and for "degraded" (HoSp's audit trail
                    # cannot be written): a load balancer must send no calls to either.
                    code = 200 if state.get("dbStatus") == "ok" and state.get("status", "ok") == "ok" else 503
                    self._send(code, "application/json", json.dumps(state).encode())
                else:
                    self._send(404, "text/plain", b"/ (status), /metrics, /health\n")
            except ConnectionError:
                return  # the scraper or checker hung up before its answer was written: nothing to answer
            except Exception:
                log.exception("operations listener error")
                with contextlib.suppress(ConnectionError):
                    self._send(500, "text/plain", b"internal error, see the producer's log\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # quiet: scrapes every 15 s are not news
            pass

    httpd = _Listener((host, int(port)), Handler)
    stop = threading.Event()
    threading.Thread(target=httpd.serve_forever, name="ops-listener", daemon=True).start()
    threading.Thread(target=Alerts(settings, engine).run, args=(stop,), name="ops-alerts", daemon=True).start()
    if settings.probe_seconds > 0:
        from ntjp_producer.ops import prober

        prober.start(settings)
    log.info("operations listener", extra={"url": f"http://{settings.ops_bind}/"})
    return stop
