"""``ntjp-producer sla report``: per contract and day, as text, JSON or HTML."""

from __future__ import annotations

import datetime as dt
import html
import json

from sqlalchemy import Engine

from ntjp_producer.ops import sla
from ntjp_producer.settings import Settings


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value == float("inf"):
        return f">{sla.BUCKETS_MS[-1] / 1000:g} s"
    return f"≤{value:g} ms" if value < 1000 else f"≤{value / 1000:g} s"


def _share(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f} %"


class _Report:
    """The figures of one report, ready for any of its formats."""

    def __init__(self, engine: Engine, service: str, first: dt.date, last: dt.date, settings: Settings) -> None:
        self.service, self.first, self.last, self.settings = service, first, last, settings
        self.lines = sla.daily(engine, service, first, last, settings)
        self.target = settings.sla_seconds(service)
        self.head = (
            f"SLA report, {service.upper()}, {first} to {last} (Swedish days). Target: {settings.sla_share:.0%} of "
            f"calls within {self.target:g} s; availability {settings.availability_target:.1%} on ISO weekdays "
            f"{settings.service_days}, {settings.service_hours} Swedish time. Percentiles are bucket upper bounds."
        )
        self.columns = ["contract", "day", "calls", "p50", "p95", "p99", f"≤{self.target:g} s", "svc-hour calls",
                        "availability"]  # fmt: skip
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
            "days": [line.as_dict() for line in r.lines],
            "breaches": [
                {"contract": line.contract, "day": line.day.isoformat(), "breach": b}
                for line in r.lines
                for b in line.breaches
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


def _html(r: _Report) -> str:
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in r.table)
    items = "".join(f"<li>{html.escape(b)}</li>" for b in r.breaches) or "<li>none</li>"
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>SLA report</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}table{border-collapse:collapse}"
        "tr:nth-child(even){background:#f3f3f3}</style>"
        f"<h1>SLA report: {r.service.upper()}</h1><p>{html.escape(r.head)}</p>"
        "<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in r.columns) + f"</tr>{rows}</table>"
        f"<h2>Breaches</h2><ul>{items}</ul></html>"
    )


def _text(r: _Report) -> str:
    widths = [max(len(c), *(len(row[i]) for row in r.table)) if r.table else len(c) for i, c in enumerate(r.columns)]
    out = [r.head, "", "  ".join(c.ljust(w) for c, w in zip(r.columns, widths, strict=True))]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in r.table]
    if not r.table:
        out.append("(no calls recorded in this period)")
    out += ["", "Breaches:" if r.breaches else "Breaches: none"]
    out += [f"  {b}" for b in r.breaches]
    return "\n".join(out)


FORMATS = {"text": _text, "json": _json, "html": _html}


def report(engine: Engine, service: str, first: dt.date, last: dt.date, settings: Settings, fmt: str) -> str:
    return FORMATS[fmt](_Report(engine, service, first, last, settings))
