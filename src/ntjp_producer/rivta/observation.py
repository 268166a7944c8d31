"""What the plumbing hands its observer about each finished call. The observer (``ops/measure.py``:
Prometheus and the per-minute table) is given to the plumbing where the application is assembled
(``app.py``); the plumbing knows only this shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

OUTCOMES = ("ok", "client_fault", "server_fault", "refused")


class Observation(NamedTuple):
    service: str
    contract: str
    outcome: str  # one of OUTCOMES
    seconds: float
    consumer_hsaid: str | None = None
    consumer_type: str | None = None
    via_platform: bool = False


Observer = Callable[[Observation], None]
