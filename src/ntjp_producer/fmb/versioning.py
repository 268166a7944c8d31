"""FMB's version timestamps: strings (``YYYYMMDDhhmmss``, Swedish time, see ``clock``) that
consumers store and compare for equality, and that must move forward with every change."""

from __future__ import annotations

import datetime as dt

# The shared clock, under the names the FMB code has always used.
from ntjp_producer.clock import STAMP_FORMAT, SWEDEN, as_utc, now, parse_stamp, stamp, today  # noqa: F401


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
