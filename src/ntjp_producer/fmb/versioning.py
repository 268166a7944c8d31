"""FMB's rule for version timestamps: strings (``YYYYMMDDhhmmss``, Swedish time, ``clock``) that
consumers store and compare for equality, and that must move forward with every change."""

from __future__ import annotations

import datetime as dt

from ntjp_producer.clock import parse_stamp, stamp


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
