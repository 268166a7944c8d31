"""Measuring every call: Prometheus metrics and per-minute figures in the database.

The RIV-TA plumbing (and the FMB JSON API) hand each finished call to ``Recorder.observe``. The
recorder counts it in Prometheus (multi-process mode: each gunicorn worker writes its own file,
the operations listener in the master sums them) and in an in-memory per-minute table that a
background thread adds to ``ops_minute`` every few seconds. A failing database write is logged and
retried with the next flush; it never fails a call.
"""

from __future__ import annotations

import atexit
import bisect
import datetime as dt
import logging
import os
import threading
import time

from sqlalchemy import Engine

from ntjp_producer.logs import describe_error
from ntjp_producer.ops.models import BUCKET_COLUMNS, BUCKETS_MS, fine_bucket, ops_minute, ops_minute_latency
from ntjp_producer.rivta.observation import Observation

log = logging.getLogger(__name__)

# Prometheus' own buckets: the coarse ones and more around the usual targets (a query's
# histogram_quantile is only as good as these); the SLA figures come from the fine histogram.
PROMETHEUS_BUCKETS = sorted({b / 1000 for b in BUCKETS_MS} | {0.75, 1.5, 2, 3, 4, 6, 7, 8, 9, 12, 15, 20, 60, 120})


def bucket_index(ms: float) -> int:
    """The first bucket whose upper bound (inclusive) holds ``ms``; past the last, the overflow."""
    return bisect.bisect_left(BUCKETS_MS, ms)


class _Prometheus:
    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.calls = Counter("ntjp_calls_total", "Calls answered, by contract and outcome",
                             ["service", "contract", "outcome"])  # fmt: skip
        self.by_consumer = Counter("ntjp_calls_by_consumer_total", "Calls by consumer type and route",
                                   ["service", "contract", "consumer_type", "route"])  # fmt: skip
        self.latency = Histogram("ntjp_call_duration_seconds", "From request read to response written",
                                 ["service", "contract", "outcome"],
                                 buckets=PROMETHEUS_BUCKETS)  # fmt: skip
        self.harvest = Counter("ntjp_harvest_refusals_total",
                               "HoSp calls refused by harvest protection, by consumer and reason",
                               ["consumer_hsaid", "consumer_type", "reason"])  # fmt: skip


_prometheus: _Prometheus | None = None
_prometheus_lock = threading.Lock()


def prometheus() -> _Prometheus:
    global _prometheus
    with _prometheus_lock:
        if _prometheus is None:
            _prometheus = _Prometheus()
        return _prometheus


class Recorder:
    def __init__(self, engine: Engine | None, *, flush_seconds: float = 5.0) -> None:
        self.engine = engine
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._pending: dict[tuple, list[float]] = {}
        self._fine: dict[tuple, int] = {}
        self._thread_pid: int | None = None
        self._stop = threading.Event()
        self._children: dict[tuple, tuple] = {}
        self._minute: tuple[int, dt.datetime] = (-1, dt.datetime.min)

    def observe(self, o: Observation) -> None:
        route = "platform" if o.via_platform else "direct"
        series = (o.service, o.contract, o.outcome, o.consumer_type or "none", route)
        children = self._children.get(series)
        if children is None:  # labels() looks its child up under a lock on every call; keep them
            p = prometheus()
            children = self._children[series] = (
                p.calls.labels(o.service, o.contract, o.outcome),
                p.by_consumer.labels(o.service, o.contract, o.consumer_type or "none", route),
                p.latency.labels(o.service, o.contract, o.outcome),
            )
        calls, by_consumer, latency = children
        calls.inc()
        by_consumer.inc()
        latency.observe(o.seconds)
        if self.engine is None:
            return
        ms = o.seconds * 1000
        number = int(time.time() // 60)
        if number != self._minute[0]:  # one datetime a minute, not one a call
            self._minute = (number, dt.datetime.fromtimestamp(number * 60, dt.UTC))
        minute = self._minute[1]
        key = (minute, o.service, o.contract, o.outcome)
        with self._lock:
            row = self._pending.get(key)
            if row is None:
                row = self._pending[key] = [0, 0.0] + [0] * len(BUCKET_COLUMNS)
            row[0] += 1
            row[1] += ms
            row[2 + bucket_index(ms)] += 1
            fine = (*key, fine_bucket(ms))
            self._fine[fine] = self._fine.get(fine, 0) + 1
            if self._thread_pid != os.getpid():  # first call in this (forked) process
                self._thread_pid = os.getpid()
                threading.Thread(target=self._run, name="ops-flush", daemon=True).start()
                atexit.register(self.flush)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            fine, self._fine = self._fine, {}
        if not pending or self.engine is None:
            return
        rows = [
            {"minute": k[0], "service": k[1], "contract": k[2], "outcome": k[3], "count": int(v[0]), "sum_ms": v[1],
             **{name: int(v[2 + i]) for i, name in enumerate(BUCKET_COLUMNS)}}
            for k, v in pending.items()
        ]  # fmt: skip
        try:
            fine_rows = [{"minute": k[0], "service": k[1], "contract": k[2], "outcome": k[3], "bucket": k[4],
                          "count": n} for k, n in fine.items()]  # fmt: skip
            with self.engine.begin() as conn:  # one transaction: the coarse and fine figures agree
                conn.execute(_upsert(conn.dialect.name), rows)
                conn.execute(_upsert_fine(conn.dialect.name), fine_rows)
        except Exception as exc:  # a locked or unreachable database: say so in one line, try again
            log.error("per-minute figures not written; kept for the next flush", extra={"error": describe_error(exc)})
            with self._lock:
                for k, v in pending.items():
                    row = self._pending.setdefault(k, [0, 0.0] + [0] * len(BUCKET_COLUMNS))
                    for i, x in enumerate(v):
                        row[i] += x
                for k, n in fine.items():
                    self._fine[k] = self._fine.get(k, 0) + n


def _adding(dialect: str, table, keys: list[str], added: list[str]):
    """INSERT ... ON CONFLICT (keys) DO UPDATE adding ``added``: rows from every worker and node sum."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table)
    return stmt.on_conflict_do_update(index_elements=keys, set_={c: table.c[c] + stmt.excluded[c] for c in added})


_KEYS = ["minute", "service", "contract", "outcome"]


def _upsert(dialect: str):
    return _adding(dialect, ops_minute, _KEYS, ["count", "sum_ms", *BUCKET_COLUMNS])


def _upsert_fine(dialect: str):
    return _adding(dialect, ops_minute_latency, [*_KEYS, "bucket"], ["count"])
