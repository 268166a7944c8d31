"""Per-minute call figures, persisted so that reports survive restarts and cover every worker and
every node that shares the database.

One row per minute, service, contract and outcome; each worker adds its counts with an upsert, so
rows from several processes and nodes simply sum. Latency is kept as counts per histogram bucket
(``BUCKETS_MS``), from which the report reads percentiles to within one bucket and the share of
calls within an SLA target exactly (the targets, 1 s and 10 s, are bucket bounds).
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Integer, String, Table, UniqueConstraint

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
