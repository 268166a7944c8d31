"""One RIV-TA call as the plumbing records it: who called, as what, asking what, answered with what.

The plumbing opens a Call for every SOAP request and keeps it in a context variable for the
duration of the call, so a contract adapter can note the criteria and the persons it answered with,
and the plumbing can audit the call, whatever its outcome, before the response leaves.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

from ntjp_producer import refusals


@dataclass
class Call:
    contract: str
    correlation_id: str
    consumer_hsaid: str | None  # the consumer the call is made for (the original one via the platform)
    via_platform: bool
    platform_hsaid: str | None
    consumer_type: str | None = None
    consumer_correlation_id: str | None = None  # a direct consumer's own, recorded beside ours
    refusal: str | None = None  # why the adapter refused it, for the audit ("quota", "not specific")
    criteria: dict[str, Any] | None = None
    asked: list[str] = field(default_factory=list)  # persons asked for by identity
    returned: list[str] = field(default_factory=list)  # persons in the answer


current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("rivta_call", default=None)


class AccessDenied(refusals.NotPermitted):
    """The caller may not make this call at all (not a registered consumer); audited as ``refused``."""

    def __init__(self, message: str = "Access denied") -> None:
        super().__init__(message)
