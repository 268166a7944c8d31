"""SLA figures from the per-minute table: per contract and day, and over rolling windows.

Percentiles come from the fine latency histogram (``ops_minute_latency``, buckets about 4 % wide),
each the middle of its bucket: within 2 % of the truth, at any latency. The share of calls within
the target counts only answered calls (a fast Server fault is not a call served in time), for any
target value. Availability counts the calls made within service hours (Swedish time; ranges may
wrap) that did not end in a server fault: a client fault or a refusal is the producer working as
it should.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select

from ntjp_producer import clock
from ntjp_producer.ops.models import (
    BUCKET_COLUMNS,
    BUCKETS_MS,
    LOG_RATIO,
    fine_bucket,
    fine_upper_ms,
    ops_minute,
    ops_minute_latency,
    ops_probe,
)
from ntjp_producer.settings import Settings

# A coarse bucket as the fine bucket of its upper bound; the overflow as 60 s.
_COARSE_AS_FINE = [fine_bucket(b) for b in BUCKETS_MS] + [fine_bucket(60_000)]


@dataclass
class Figures:
    """Calls over some span: counts per outcome, the fine latency histogram of all calls and of the
    answered ones (not server faults), and the service-hours subset."""

    calls: int = 0
    server_faults: int = 0
    by_outcome: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fine: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    answered: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    hours_calls: int = 0
    hours_server_faults: int = 0

    def add(self, outcome: str, count: int, fine: dict[int, int], in_hours: bool) -> None:
        self.calls += count
        self.by_outcome[outcome] += count
        for bucket, n in fine.items():
            self.fine[bucket] += n
            if outcome != "server_fault":
                self.answered[bucket] += n
        faults = count if outcome == "server_fault" else 0
        self.server_faults += faults
        if in_hours:
            self.hours_calls += count
            self.hours_server_faults += faults

    def merge(self, other: Figures) -> None:
        for outcome, n in other.by_outcome.items():
            self.by_outcome[outcome] += n
        for mine, theirs in ((self.fine, other.fine), (self.answered, other.answered)):
            for bucket, n in theirs.items():
                mine[bucket] += n
        self.calls += other.calls
        self.server_faults += other.server_faults
        self.hours_calls += other.hours_calls
        self.hours_server_faults += other.hours_server_faults

    def percentile_ms(self, q: float) -> float | None:
        """The q-th percentile: the geometric middle of its fine bucket, within 2 % of the truth."""
        if not self.calls or not self.fine:
            return None
        rank, seen = q / 100 * self.calls, 0
        buckets = sorted(b for b, n in self.fine.items() if n)
        for bucket in buckets:
            seen += self.fine[bucket]
            if seen >= rank:
                break
        return 1.0 if bucket == 0 else round(fine_upper_ms(bucket - 0.5), 1)

    def within(self, target_ms: float) -> float | None:
        """Share of all calls answered (not a server fault) within ``target_ms``, any value; the one
        bucket the target falls in is split in proportion (log scale), an error of a fraction of it."""
        if not self.calls:
            return None
        inside = 0.0
        for bucket, n in self.answered.items():
            if fine_upper_ms(bucket) <= target_ms:
                inside += n
            elif bucket > 0 and fine_upper_ms(bucket - 1) < target_ms:
                inside += n * (math.log(target_ms) / LOG_RATIO - (bucket - 1))  # the target's place in it
        return inside / self.calls

    def availability(self) -> float | None:
        if not self.hours_calls:
            return None
        return 1 - self.hours_server_faults / self.hours_calls

    def error_share(self) -> float | None:
        return self.server_faults / self.calls if self.calls else None


def in_service_hours(minute_utc: dt.datetime, settings: Settings) -> bool:
    """Swedish local time; a range that wraps ("22-06", "6-1") runs past midnight or Sunday. The
    weekday is the minute's own: with "22-06" on "1-5", Saturday 00-06 is outside."""
    local = minute_utc.astimezone(clock.SWEDEN)
    start, end = settings.service_hour_range
    first_day, last_day = settings.service_day_range
    day, hour = local.isoweekday(), local.hour
    in_days = first_day <= day <= last_day if first_day <= last_day else (day >= first_day or day <= last_day)
    in_hours = start <= hour < end if start < end else (hour >= start or hour < end)
    return in_days and in_hours


def rows(engine: Engine, service: str, start: dt.datetime, end: dt.datetime):
    """(minute UTC, contract, outcome, count, fine histogram) for start <= minute < end. Minutes
    recorded before the fine histogram existed get one from their coarse buckets (upper bounds)."""
    t, f = ops_minute, ops_minute_latency
    q = (
        select(t.c.minute, t.c.contract, t.c.outcome, t.c["count"], *(t.c[c] for c in BUCKET_COLUMNS))
        .where(t.c.service == service, t.c.minute >= start, t.c.minute < end)
        .order_by(t.c.minute)
    )
    fq = select(f.c.minute, f.c.contract, f.c.outcome, f.c.bucket, f.c["count"]).where(
        f.c.service == service, f.c.minute >= start, f.c.minute < end
    )
    with engine.connect() as conn:
        fine: dict[tuple, dict[int, int]] = defaultdict(dict)
        for minute, contract, outcome, bucket, n in conn.execute(fq):
            fine[(clock.as_utc(minute), contract, outcome)][bucket] = n
        for r in conn.execute(q):
            minute = clock.as_utc(r[0])
            histogram = fine.get((minute, r[1], r[2]))
            if histogram is None:
                histogram = {}
                for i, n in enumerate(r[4:]):
                    if n:
                        histogram[_COARSE_AS_FINE[i]] = histogram.get(_COARSE_AS_FINE[i], 0) + n
            yield minute, r[1], r[2], r[3], histogram


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
        """JSON-ready."""
        f = self.figures
        return {
            "contract": self.contract,
            "day": self.day.isoformat(),
            "calls": f.calls,
            "outcomes": dict(f.by_outcome),
            "p50_ms": (f.percentile_ms(50)),
            "p95_ms": (f.percentile_ms(95)),
            "p99_ms": (f.percentile_ms(99)),
            "target_ms": self.target_ms,
            "within_target": f.within(self.target_ms),
            "service_hours_calls": f.hours_calls,
            "call_success": f.availability(),
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
                f"call success: {availability:.2%} in service hours, target {settings.availability_target:.1%}"
            )
        lines.append(DayLine(contract, day, f, target_ms, breaches))
    return lines


@dataclass
class Uptime:
    """Seconds in service hours since monitoring began, and how many of them were covered by a
    successful probe round (each stands for the interval that follows it)."""

    seconds: float = 0.0
    up_seconds: float = 0.0
    interval_seconds: float = 0.0

    @property
    def share(self) -> float | None:
        return self.up_seconds / self.seconds if self.seconds else None

    @property
    def down_seconds(self) -> float:
        return self.seconds - self.up_seconds


def _service_seconds(start: dt.datetime, end: dt.datetime, settings: Settings, memo: dict) -> float:
    """Seconds of [start, end) inside service hours, minute by minute."""
    total, t = 0.0, start
    while t < end:
        minute = t.replace(second=0, microsecond=0)
        nxt = min(end, minute + dt.timedelta(minutes=1))
        if minute not in memo:
            memo[minute] = in_service_hours(minute, settings)
        if memo[minute]:
            total += (nxt - t).total_seconds()
        t = nxt
    return total


def _probe_rounds(engine: Engine, service: str, start: dt.datetime, end: dt.datetime, step: float):
    """(when monitoring began, the successful rounds that can cover [start, end)), in one read."""
    p = ops_probe
    with engine.connect() as conn:
        first = conn.execute(select(func.min(p.c.at)).where(p.c.service == service)).scalar_one()
        oks = conn.execute(
            select(p.c.at).where(p.c.service == service, p.c.ok.is_(True),
                                 p.c.at >= start - dt.timedelta(seconds=step), p.c.at < end)
        )  # fmt: skip
        return (clock.as_utc(first) if first else None), sorted(clock.as_utc(r[0]) for r in oks)


def _covered(first: dt.datetime | None, oks: list[dt.datetime], start: dt.datetime, end: dt.datetime,
             settings: Settings, memo: dict) -> Uptime:  # fmt: skip
    """From when monitoring began (before it nothing was watched) to ``end``. A successful round
    covers the ``probe_seconds`` after it; time no successful round of any node covers (every node
    down, or none probing) is down: nothing is taken as up unless it was seen up."""
    step = settings.probe_seconds
    result = Uptime(interval_seconds=step)
    if first is None or end <= max(start, first):
        return result
    begin = max(start, first)
    result.seconds = _service_seconds(begin, end, settings, memo)
    reach = dt.timedelta(seconds=step)
    covered_from = covered_to = None
    for at in oks:
        lo, hi = max(at, begin), min(at + reach, end)
        if hi <= lo:
            continue
        if covered_to is not None and lo <= covered_to:
            covered_to = max(covered_to, hi)
            continue
        if covered_to is not None:
            result.up_seconds += _service_seconds(covered_from, covered_to, settings, memo)
        covered_from, covered_to = lo, hi
    if covered_to is not None:
        result.up_seconds += _service_seconds(covered_from, covered_to, settings, memo)
    return result


def uptime(engine: Engine, service: str, start: dt.datetime, end: dt.datetime, settings: Settings,
           now: dt.datetime | None = None) -> Uptime:  # fmt: skip
    """Uptime over [start, end), up to now."""
    if settings.probe_seconds <= 0:
        return Uptime()
    end = min(end, now or dt.datetime.now(dt.UTC))
    first, oks = _probe_rounds(engine, service, start, end, settings.probe_seconds)
    return _covered(first, oks, start, end, settings, {})


@dataclass
class UptimeDay:
    day: dt.date
    uptime: Uptime
    breach: str | None


def uptime_days(engine: Engine, service: str, first: dt.date, last: dt.date, settings: Settings,
                now: dt.datetime | None = None) -> list[UptimeDay]:  # fmt: skip
    """Uptime per Swedish day, the days monitoring had begun by (one read for the whole span); a
    breach below availability_target."""
    if settings.probe_seconds <= 0:
        return []
    now = now or dt.datetime.now(dt.UTC)
    bounds = [dt.datetime.combine(first + dt.timedelta(days=i), dt.time(), clock.SWEDEN).astimezone(dt.UTC)
              for i in range((last - first).days + 2)]  # fmt: skip
    began, oks = _probe_rounds(engine, service, bounds[0], min(bounds[-1], now), settings.probe_seconds)
    days, memo = [], {}
    for i, (start, end) in enumerate(itertools.pairwise(bounds)):
        u = _covered(began, oks, start, min(end, now), settings, memo)
        if not u.seconds:
            continue
        breach = None
        if u.share < settings.availability_target:
            breach = (f"uptime: {u.share:.2%} in service hours ({u.down_seconds:.0f} s down), target "
                      f"{settings.availability_target:.1%}")  # fmt: skip
        days.append(UptimeDay(first + dt.timedelta(days=i), u, breach))
    return days


def format_ms(value: float | None) -> str:
    """A latency for people: ``713 ms``, ``7.1 s``; ``-`` for none."""
    if value is None:
        return "-"
    return f"{value:g} ms" if value < 1000 else f"{value / 1000:.3g} s"
