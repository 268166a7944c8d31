"""Time as RIV-TA consumers see it, for every product.

Dates on the wire are ``YYYYMMDD`` and timestamps ``YYYYMMDDhhmmss``, in Swedish local time,
which consumers store and compare; a validity day and a service-hour day are Swedish calendar days. The database keeps
instants; SQLite gives them back without a zone (the producer writes UTC), PostgreSQL in the
session's zone. All of that is decided here only.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SWEDEN = ZoneInfo("Europe/Stockholm")
STAMP_FORMAT = "%Y%m%d%H%M%S"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """The same instant in UTC; a value without a zone is taken to be UTC (SQLite)."""
    return value.astimezone(dt.UTC) if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def today(at: dt.datetime | None = None) -> dt.date:
    return (at or now()).astimezone(SWEDEN).date()


def stamp(at: dt.datetime) -> str:
    return as_utc(at).astimezone(SWEDEN).strftime(STAMP_FORMAT)


def wire_date(value: dt.date | str) -> str:
    """RIV-TA's DateType, ``YYYYMMDD``, from a date or the ISO date string a record keeps."""
    return value.replace("-", "") if isinstance(value, str) else value.strftime("%Y%m%d")


def parse_stamp(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, STAMP_FORMAT).replace(tzinfo=SWEDEN)
