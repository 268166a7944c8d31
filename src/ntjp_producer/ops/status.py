"""The status page: is it up, is it fast enough, is it within the SLA this month. Drawn on the
server as HTML and SVG; the page loads nothing else, so it works on an isolated operations network.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections import defaultdict

from sqlalchemy import Engine

from ntjp_producer import __version__, clock
from ntjp_producer.ops import sla
from ntjp_producer.settings import Settings

SLOT = dt.timedelta(minutes=15)
SLOTS = 96  # 24 hours
W, H, BAR_H = 720, 150, 40
_LOG_MAX = math.log10(30_000)


def _y(ms: float) -> float:
    return H - max(0.0, min(1.0, math.log10(max(ms, 1.0)) / _LOG_MAX)) * H


_ms = sla.format_ms


def _chart(slots: list[sla.Figures], target_ms: float, now: dt.datetime) -> str:
    step = W / SLOTS
    points, bars = [], []
    for i, f in enumerate(slots):
        p95 = f.percentile_ms(95)
        x = i * step + step / 2
        if p95 is not None:
            points.append((x, _y(min(p95, 30_000))))
        share = f.error_share()
        if share:
            bh = max(1.0, share * BAR_H)
            bars.append(f'<rect x="{i * step:.1f}" y="{BAR_H - bh:.1f}" width="{step - 1:.1f}" height="{bh:.1f}" '
                        f'fill="#c62828"><title>{share:.1%} server faults</title></rect>')  # fmt: skip
    grid = "".join(
        f'<line x1="0" x2="{W}" y1="{_y(ms):.1f}" y2="{_y(ms):.1f}" stroke="#e0e0e0"/>'
        f'<text x="{W - 4}" y="{_y(ms) - 3:.1f}" text-anchor="end" font-size="10" fill="#777">{label}</text>'
        for ms, label in ((10, "10 ms"), (100, "100 ms"), (1000, "1 s"), (10_000, "10 s"))
    )
    target = (
        f'<line x1="0" x2="{W}" y1="{_y(target_ms):.1f}" y2="{_y(target_ms):.1f}" stroke="#c62828" '
        f'stroke-dasharray="6 4" stroke-width="1.5"/><text x="4" y="{_y(target_ms) - 4:.1f}" font-size="11" '
        f'fill="#c62828">target p95 {target_ms / 1000:g} s</text>'
    )
    segments, current = [], []
    for i, f in enumerate(slots):
        if f.calls:
            current.append(i)
        elif current:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    lines, k = [], 0
    for seg in segments:
        pts = points[k : k + len(seg)]
        k += len(seg)
        if len(pts) == 1:
            lines.append(f'<circle cx="{pts[0][0]:.1f}" cy="{pts[0][1]:.1f}" r="3" fill="#1565c0"/>')
        else:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            lines.append(f'<polyline points="{path}" fill="none" stroke="#1565c0" stroke-width="2"/>')
    hours = "".join(
        f'<text x="{(i * 4) * step:.1f}" y="{BAR_H + 12}" font-size="10" fill="#777">'
        f"{(now - SLOT * (SLOTS - i * 4)).astimezone(clock.SWEDEN):%H:%M}</text>"
        for i in range(0, SLOTS // 4, 3)
    )
    return (
        f'<svg class="p95" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
        f'aria-label="p95 latency, last 24 hours"><rect width="{W}" height="{H}" fill="#fafafa"/>{grid}{target}'
        f'{"".join(lines)}</svg>'
        f'<svg class="errors" width="{W}" height="{BAR_H + 14}" role="img" aria-label="server fault rate">'
        f'<rect width="{W}" height="{BAR_H}" fill="#fafafa"/>{"".join(bars)}{hours}</svg>'
    )


def page(engine: Engine, service: str, contracts: list[str], health: dict[str, str], settings: Settings,
         now: dt.datetime | None = None) -> str:  # fmt: skip
    now = (now or dt.datetime.now(dt.UTC)).replace(second=0, microsecond=0)
    start = now - SLOT * SLOTS
    target_ms = settings.sla_seconds(service) * 1000
    slots: dict[str, list[sla.Figures]] = defaultdict(lambda: [sla.Figures() for _ in range(SLOTS)])
    for minute, contract, outcome, count, buckets in sla.rows(engine, service, start, now + SLOT):
        i = min(SLOTS - 1, int((minute - start) / SLOT))
        slots[contract][i].add(outcome, count, buckets, sla.in_service_hours(minute, settings))
    month_start = dt.datetime.combine(now.astimezone(clock.SWEDEN).date().replace(day=1), dt.time(), clock.SWEDEN)
    month = sla.by_contract(engine, service, month_start.astimezone(dt.UTC), now + SLOT, settings)

    up = health.get("dbStatus") == "ok"
    checks = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in health.items()
    )
    cards = []
    for contract in [*contracts, *sorted(set(slots) - set(contracts))]:
        day = sla.Figures()
        for f in slots[contract]:
            day.merge(f)
        m = month.get(contract, sla.Figures())
        within, avail = m.within(target_ms), m.availability()
        ok_time = within is None or within >= settings.sla_share
        ok_avail = avail is None or avail >= settings.availability_target
        verdict = "within SLA" if ok_time and ok_avail else "SLA BREACHED"
        p95 = day.percentile_ms(95)
        cards.append(
            f'<section class="contract" data-contract="{html.escape(contract)}">'
            f'<h2>{html.escape(contract)} <span class="badge {"ok" if ok_time and ok_avail else "bad"}">'
            f"{verdict} this month</span></h2>"
            f"<p class='figures'>Last 24 h: <b>{day.calls}</b> calls · p95 "
            f"<b>{_ms(p95)}</b> · "
            f"server faults <b>{'-' if day.error_share() is None else f'{day.error_share():.1%}'}</b>. "
            f"This month: <b>{'-' if within is None else f'{within:.2%}'}</b> within {target_ms / 1000:g} s "
            f"(target {settings.sla_share:.0%}), call success "
            f"<b>{'-' if avail is None else f'{avail:.2%}'}</b> (target {settings.availability_target:.1%}).</p>"
            f"{_chart(slots[contract], target_ms, now)}</section>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{service.upper()} status</title><meta http-equiv='refresh' content='60'>"
        "<style>body{font:15px system-ui,sans-serif;margin:1.5em 2em;color:#222;max-width:780px}"
        "h1{margin:.2em 0}.badge{font-size:13px;padding:.2em .6em;border-radius:1em;color:#fff;vertical-align:middle}"
        ".ok{background:#2e7d32}.bad{background:#c62828}section{border-top:1px solid #ddd;padding-top:.5em}"
        "table{border-collapse:collapse}th{text-align:left;padding-right:1em;font-weight:normal;color:#555}"
        "</style></head><body>"
        f"<h1>{service.upper()} producer <span class='badge {'ok' if up else 'bad'}' id='health'>"
        f"{'UP' if up else 'DOWN'}</span></h1>"
        f"<p>ntjp-producer {__version__} · {now.astimezone(clock.SWEDEN):%Y-%m-%d %H:%M} Swedish time · "
        "p95 per 15 minutes (blue) against the target (red dashes); red bars: share of server faults.</p>"
        f"<table class='health'>{checks}</table>{_harvest(engine, now) if service == 'hosp' else ''}"
        f"{''.join(cards)}</body></html>"
    )


def _harvest(engine: Engine, now: dt.datetime) -> str:
    """HoSp: calls refused by harvest protection in the last 24 hours, per consumer and reason,
    from the audit trail (every worker and node)."""
    from sqlalchemy import func, select

    from ntjp_producer.hosp.models import HospAudit

    q = (
        select(HospAudit.consumer_hsaid, HospAudit.consumer_type, HospAudit.refusal, func.count())
        .where(HospAudit.refusal.is_not(None), HospAudit.at >= now - dt.timedelta(hours=24))
        .group_by(HospAudit.consumer_hsaid, HospAudit.consumer_type, HospAudit.refusal)
    )
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    if not rows:
        return "<section id='harvest'><h2>Harvest protection</h2><p>No call refused in the last 24 h.</p></section>"
    lines = "".join(
        f"<tr><th>{html.escape(h or '-')} ({html.escape(t or '-')})</th><td>{html.escape(r)}: {n} refused</td></tr>"
        for h, t, r, n in rows
    )
    badge = "<span class='badge bad'>HARVEST SUSPECTED</span>" if any(r == "quota" for _, _, r, _ in rows) else ""
    return f"<section id='harvest'><h2>Harvest protection {badge}</h2><p>Last 24 h:</p><table>{lines}</table></section>"
