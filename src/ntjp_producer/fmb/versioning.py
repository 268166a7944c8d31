"""Time as FMB consumers see it.

The version timestamps are strings (``YYYYMMDDhhmmss``, Swedish time) that consumers store and
compare for equality; a validity day is a Swedish calendar day. Both are decided here only.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SWEDEN = ZoneInfo("Europe/Stockholm")
STAMP_FORMAT = "%Y%m%d%H%M%S"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back without a zone (the producer writes them in UTC); PostgreSQL in
    the session's zone. Either way: the same instant, in UTC."""
    return value.astimezone(dt.UTC) if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def today(at: dt.datetime | None = None) -> dt.date:
    return (at or now()).astimezone(SWEDEN).date()


def stamp(at: dt.datetime) -> str:
    return at.astimezone(SWEDEN).strftime(STAMP_FORMAT)


def parse_stamp(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, STAMP_FORMAT).replace(tzinfo=SWEDEN)


def next_stamp(at: dt.datetime, previous: list[str]) -> str:
    """A stamp for ``at`` that is strictly later than every previous one.

    Two imports within one second must still move the timestamp, or a consumer polling
    GetVersions would never see the second one.
    """
    candidate = at
    for prev in previous:
        floor = parse_stamp(prev) + dt.timedelta(seconds=1)
        candidate = max(candidate, floor)
    return stamp(candidate)
