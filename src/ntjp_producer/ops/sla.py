"""SLA figures from the per-minute table: per contract and day, and over rolling windows.

Percentiles come from the latency buckets, so each is the upper bound of the bucket the percentile
falls in (exact to within one bucket). The share of calls within the target is exact, since every
configured target must be a bucket bound (1 s and 10 s are). Availability counts the calls made
within service hours (weekdays, Swedish time) that did not end in a server fault: a client fault or
a refusal is the producer working as it should.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from ntjp_producer import clock
from ntjp_producer.ops.models import BUCKET_COLUMNS, BUCKETS_MS, ops_minute
from ntjp_producer.settings import Settings

_WIDTH = len(BUCKET_COLUMNS)


@dataclass
class Figures:
    """Calls over some span: counts per outcome, latency buckets, and the service-hours subset."""

    calls: int = 0
    server_faults: int = 0
    by_outcome: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    buckets: list[int] = field(default_factory=lambda: [0] * _WIDTH)
    hours_calls: int = 0
    hours_server_faults: int = 0

    def add(self, outcome: str, count: int, buckets: list[int], in_hours: bool) -> None:
        self.calls += count
        self.by_outcome[outcome] += count
        self.buckets = [a + b for a, b in zip(self.buckets, buckets, strict=True)]
        faults = count if outcome == "server_fault" else 0
        self.server_faults += faults
        if in_hours:
            self.hours_calls += count
            self.hours_server_faults += faults

    def merge(self, other: Figures) -> None:
        for outcome, n in other.by_outcome.items():
            self.by_outcome[outcome] += n
        self.calls += other.calls
        self.server_faults += other.server_faults
        self.hours_calls += other.hours_calls
        self.hours_server_faults += other.hours_server_faults
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]

    def percentile_ms(self, q: float) -> float | None:
        """Upper bound of the bucket holding the q-th percentile (inf beyond the last bound)."""
        if not self.calls:
            return None
        rank = q / 100 * self.calls
        seen = 0
        for i, n in enumerate(self.buckets):
            seen += n
            if seen >= rank and n:
                return float(BUCKETS_MS[i]) if i < len(BUCKETS_MS) else float("inf")
        return float("inf")

    def within(self, target_ms: float) -> float | None:
        if not self.calls:
            return None
        if target_ms not in BUCKETS_MS:
            raise ValueError(f"SLA target {target_ms} ms is not a latency bucket bound {BUCKETS_MS}")
        last = BUCKETS_MS.index(target_ms)
        return sum(self.buckets[: last + 1]) / self.calls

    def availability(self) -> float | None:
        if not self.hours_calls:
            return None
        return 1 - self.hours_server_faults / self.hours_calls

    def error_share(self) -> float | None:
        return self.server_faults / self.calls if self.calls else None


def in_service_hours(minute_utc: dt.datetime, settings: Settings) -> bool:
    local = minute_utc.astimezone(clock.SWEDEN)
    start, end = settings.service_hour_range
    first_day, last_day = settings.service_day_range
    return first_day <= local.isoweekday() <= last_day and start <= local.hour < end


def rows(engine: Engine, service: str, start: dt.datetime, end: dt.datetime):
    """(minute UTC, contract, outcome, count, buckets) for start <= minute < end."""
    t = ops_minute
    q = (
        select(t.c.minute, t.c.contract, t.c.outcome, t.c["count"], *(t.c[c] for c in BUCKET_COLUMNS))
        .where(t.c.service == service, t.c.minute >= start, t.c.minute < end)
        .order_by(t.c.minute)
    )
    with engine.connect() as conn:
        for r in conn.execute(q):
            yield clock.as_utc(r[0]), r[1], r[2], r[3], list(r[4:])


def by_contract(engine: Engine, service: str, start: dt.datetime, end: dt.datetime, settings: Settings):
    figures: dict[str, Figures] = defaultdict(Figures)
    for minute, contract, outcome, count, buckets in rows(engine, service, start, end):
        figures[contract].add(outcome, count, buckets, in_service_hours(minute, settings))
    return dict(figures)


@dataclass
class DayLine:
    contract: str
    day: dt.date
    figures: Figures
    target_ms: float
    breaches: list[str]

    def as_dict(self) -> dict:
        """JSON-ready; a percentile beyond the last bucket bound is given as null with p*_beyond."""
        f = self.figures

        def finite(v: float | None) -> float | None:
            return None if v is None or v == float("inf") else v

        return {
            "contract": self.contract,
            "day": self.day.isoformat(),
            "calls": f.calls,
            "outcomes": dict(f.by_outcome),
            "p50_ms": finite(f.percentile_ms(50)),
            "p95_ms": finite(f.percentile_ms(95)),
            "p99_ms": finite(f.percentile_ms(99)),
            "beyond_ms": BUCKETS_MS[-1],
            "target_ms": self.target_ms,
            "within_target": f.within(self.target_ms),
            "service_hours_calls": f.hours_calls,
            "availability": f.availability(),
            "breaches": self.breaches,
        }


def daily(engine: Engine, service: str, first: dt.date, last: dt.date, settings: Settings) -> list[DayLine]:
    """Per contract and Swedish calendar day, first..last inclusive."""
    start = dt.datetime.combine(first, dt.time(), clock.SWEDEN).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), clock.SWEDEN).astimezone(dt.UTC)
    target_ms = settings.sla_seconds(service) * 1000
    days: dict[tuple[str, dt.date], Figures] = defaultdict(Figures)
    for minute, contract, outcome, count, buckets in rows(engine, service, start, end):
        day = minute.astimezone(clock.SWEDEN).date()
        days[(contract, day)].add(outcome, count, buckets, in_service_hours(minute, settings))
    lines = []
    for (contract, day), f in sorted(days.items()):
        breaches = []
        within = f.within(target_ms)
        if within is not None and within < settings.sla_share:
            breaches.append(
                f"response time: {within:.1%} of calls within {target_ms / 1000:g} s, target {settings.sla_share:.0%}"
            )
        availability = f.availability()
        if availability is not None and availability < settings.availability_target:
            breaches.append(
                f"availability: {availability:.2%} in service hours, target {settings.availability_target:.1%}"
            )
        lines.append(DayLine(contract, day, f, target_ms, breaches))
    return lines
