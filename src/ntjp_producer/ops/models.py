"""Per-minute call figures, persisted so that reports survive restarts and cover every worker and
every node that shares the database.

One row per minute, service, contract and outcome; each worker adds its counts with an upsert, so
rows from several processes and nodes simply sum. Latency is kept twice: coarse buckets in the row
(``BUCKETS_MS``, as Prometheus has them) and, in ``ops_minute_latency``, counts per fine log-linear
bucket (``FINE_RATIO``: each about 4 % wider than the one before, from 1 ms without end), from which
the report reads percentiles to within 2 % and the share within any target.
"""

from __future__ import annotations

import math

from sqlalchemy import Boolean, Column, DateTime, Float, Integer, String, Table, UniqueConstraint

from ntjp_producer.storage.base import Base

# Upper bounds in milliseconds; the last bucket is everything slower.
BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
BUCKET_COLUMNS = [f"b{i}" for i in range(len(BUCKETS_MS) + 1)]

ops_minute = Table(
    "ops_minute",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("minute", DateTime(timezone=True), nullable=False, index=True),  # UTC, start of the minute
    Column("service", String(16), nullable=False),
    Column("contract", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("count", Integer, nullable=False),
    Column("sum_ms", Float, nullable=False),
    *(Column(name, Integer, nullable=False, default=0) for name in BUCKET_COLUMNS),
    UniqueConstraint("minute", "service", "contract", "outcome", name="uq_ops_minute"),
)

# Fine bucket i holds (FINE_RATIO**(i-1), FINE_RATIO**i] ms; bucket 0 everything up to 1 ms.
FINE_RATIO = 1.04
LOG_RATIO = math.log(FINE_RATIO)


def fine_bucket(ms: float) -> int:
    return 0 if ms <= 1 else math.ceil(math.log(ms) / LOG_RATIO - 1e-9)


def fine_upper_ms(bucket: int) -> float:
    return FINE_RATIO**bucket


ops_minute_latency = Table(
    "ops_minute_latency",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("minute", DateTime(timezone=True), nullable=False, index=True),
    Column("service", String(16), nullable=False),
    Column("contract", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("bucket", Integer, nullable=False),
    Column("count", Integer, nullable=False),
    UniqueConstraint("minute", "service", "contract", "outcome", "bucket", name="uq_ops_minute_latency"),
)

# One probe round (ops/prober.py): the service answered its monitor correctly within the target, or not.
ops_probe = Table(
    "ops_probe",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("service", String(16), nullable=False),
    Column("node", String(64), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("ms", Float, nullable=False),
    Column("detail", String(200), nullable=True),
)
