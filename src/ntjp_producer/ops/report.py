"""``ntjp-producer sla report``: per contract and day, as text, JSON or HTML."""

from __future__ import annotations

import datetime as dt
import html
import json

from sqlalchemy import Engine

from ntjp_producer.ops import sla
from ntjp_producer.settings import Settings

_ms = sla.format_ms


def _share(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f} %"


class _Report:
    """The figures of one report, ready for any of its formats."""

    def __init__(self, engine: Engine, service: str, first: dt.date, last: dt.date, settings: Settings) -> None:
        self.service, self.first, self.last, self.settings = service, first, last, settings
        self.lines = sla.daily(engine, service, first, last, settings)
        self.uptime = sla.uptime_days(engine, service, first, last, settings)
        self.period: dict[str, sla.Figures] = {}  # per contract, the whole period: the days added up
        for line in self.lines:
            self.period.setdefault(line.contract, sla.Figures()).merge(line.figures)
        self.target = settings.sla_seconds(service)
        self.head = (
            f"SLA report, {service.upper()}, {first} to {last} (Swedish days). Target: {settings.sla_share:.0%} of "
            f"calls within {self.target:g} s; availability {settings.availability_target:.1%} on ISO weekdays "
            f"{settings.service_days}, {settings.service_hours} Swedish time. Uptime: a probe round every "
            f"{settings.probe_seconds:g} s, as the platform's monitor; call success: calls in service hours that "
            f"were not Server faults. Percentiles are within 2 %."
        )
        self.columns = ["contract", "day", "calls", "p50", "p95", "p99", f"≤{self.target:g} s", "svc-hour calls",
                        "call success"]  # fmt: skip
        self.table = [
            [
                line.contract,
                line.day.isoformat(),
                str(line.figures.calls),
                _ms(line.figures.percentile_ms(50)),
                _ms(line.figures.percentile_ms(95)),
                _ms(line.figures.percentile_ms(99)),
                _share(line.figures.within(line.target_ms)),
                str(line.figures.hours_calls),
                _share(line.figures.availability(), 2),
            ]
            for line in self.lines
        ]
        self.breaches = [f"{line.day} {line.contract}: {b}" for line in self.lines for b in line.breaches]
        self.breaches += [f"{u.day} {service.upper()}: {u.breach}" for u in self.uptime if u.breach]
        self.summary_columns = ["contract", "calls", "call success", f"≤{self.target:g} s", "p95", "p99"]
        self.summary_table = [
            [contract, str(f.calls), _share(f.availability(), 2), _share(f.within(self.target * 1000)),
             _ms(f.percentile_ms(95)), _ms(f.percentile_ms(99))]
            for contract, f in sorted(self.period.items())
        ]  # fmt: skip
        watched = sum(u.uptime.seconds for u in self.uptime)
        up = sum(u.uptime.up_seconds for u in self.uptime)
        self.period_uptime = up / watched if watched else None
        self.uptime_columns = ["day", "watched in service hours", "uptime", "down"]
        self.uptime_table = [
            [u.day.isoformat(), f"{u.uptime.seconds:.0f} s", _share(u.uptime.share, 2),
             f"{u.uptime.down_seconds:.0f} s"]
            for u in self.uptime
        ]


def _json(r: _Report) -> str:
    s = r.settings
    return json.dumps(
        {
            "service": r.service,
            "from": r.first.isoformat(),
            "to": r.last.isoformat(),
            "target_seconds": r.target,
            "target_share": s.sla_share,
            "availability_target": s.availability_target,
            "service_hours": s.service_hours,
            "service_days": s.service_days,
            "probe_seconds": s.probe_seconds,
            "period": {
                "uptime": r.period_uptime,
                "contracts": [
                    {"contract": c, "calls": f.calls, "call_success": f.availability(),
                     "within_target": f.within(r.target * 1000), "p95_ms": f.percentile_ms(95),
                     "p99_ms": f.percentile_ms(99)}
                    for c, f in sorted(r.period.items())
                ],
            },
            "uptime": [
                {"day": u.day.isoformat(), "seconds": round(u.uptime.seconds, 1),
                 "uptime": u.uptime.share, "down_seconds": round(u.uptime.down_seconds, 1)}
                for u in r.uptime
            ],
            "days": [line.as_dict() for line in r.lines],
            "breaches": [
                {"contract": line.contract, "day": line.day.isoformat(), "breach": b}
                for line in r.lines
                for b in line.breaches
            ]
            + [{"contract": None, "day": u.day.isoformat(), "breach": u.breach} for u in r.uptime if u.breach],
        },
        ensure_ascii=False,
        indent=2,
    )


def _table(columns: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html(r: _Report) -> str:
    items = "".join(f"<li>{html.escape(b)}</li>" for b in r.breaches) or "<li>none</li>"
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>SLA report</title>"
        "<style>body{font:12px system-ui,sans-serif;margin:1.5em}td,th{padding:.2em .6em;text-align:right}"
        "@page{size:A4;margin:12mm}@media print{body{margin:0}}"
        "td:first-child,th:first-child{text-align:left}table{border-collapse:collapse}"
        "tr:nth-child(even){background:#f3f3f3}</style>"
        f"<h1>SLA report: {r.service.upper()}</h1><p>{html.escape(r.head)}</p>"
        f"<h2>The period</h2><p>Uptime in service hours: <b>{_share(r.period_uptime, 2)}</b> "
        f"(target {r.settings.availability_target:.1%})</p>{_table(r.summary_columns, r.summary_table)}"
        f"<h2>Uptime per day</h2>{_table(r.uptime_columns, r.uptime_table)}"
        f"<h2>Calls</h2>{_table(r.columns, r.table)}"
        f"<h2>Breaches</h2><ul>{items}</ul></html>"
    )


def _text(r: _Report) -> str:
    widths = [max(len(c), *(len(row[i]) for row in r.table)) if r.table else len(c) for i, c in enumerate(r.columns)]
    out = [r.head, "", f"The period: uptime {_share(r.period_uptime, 2)} in service hours"]
    out += ["  " + "  ".join(row) for row in [r.summary_columns, *r.summary_table]]
    out += ["", "Uptime per day:"]
    out += [f"  {'  '.join(row)}" for row in r.uptime_table] or ["  (not monitored in this period)"]
    out += ["", "  ".join(c.ljust(w) for c, w in zip(r.columns, widths, strict=True))]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in r.table]
    if not r.table:
        out.append("(no calls recorded in this period)")
    out += ["", "Breaches:" if r.breaches else "Breaches: none"]
    out += [f"  {b}" for b in r.breaches]
    return "\n".join(out)


FORMATS = {"text": _text, "json": _json, "html": _html}


def report(engine: Engine, service: str, first: dt.date, last: dt.date, settings: Settings, fmt: str) -> str:
    return FORMATS[fmt](_Report(engine, service, first, last, settings))
