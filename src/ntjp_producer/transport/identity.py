"""Who is calling, as far as TLS and the platform can tell.

RIV-TA identifies an organisation by the HSA-id in its certificate subject's ``serialNumber``.
When the TLS peer is the national platform (NTJP), the consumer the call is made for is in the
``x-rivta-original-serviceconsumer-hsaid`` header the platform adds; from anyone else that header
is worth nothing and changes nothing (it is logged as a warning, since sending it directly is
either a misconfigured client or an attempt to pass for somebody else).

The environ gets ``ntjp.caller_hsaid`` (the TLS peer), ``ntjp.consumer_hsaid`` (whom the call is
for), ``ntjp.via_platform`` and ``ntjp.platform_hsaid``. What a consumer may do is decided further
in, by the product that cares (HoSp does; FMB is public).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)

ORIGINAL_CONSUMER_HEADER = "x-rivta-original-serviceconsumer-hsaid"
_ORIGINAL_ENV = "HTTP_" + ORIGINAL_CONSUMER_HEADER.upper().replace("-", "_")


def hsaid_from_peer_cert(cert: dict[str, Any] | None) -> str | None:
    """The subject's serialNumber from ``ssl.SSLSocket.getpeercert()``'s dict form."""
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "serialNumber":
                return value
    return None


def _peer_hsaid(sock) -> str | None:
    """The TLS peer's HSA-id, decoded once per connection (the certificate cannot change on it;
    decoding it costs more than the rest of a small call's routing)."""
    cached = getattr(sock, "ntjp_peer_hsaid", _UNKNOWN)
    if cached is not _UNKNOWN:
        return cached
    getpeercert = getattr(sock, "getpeercert", None)
    peer = hsaid_from_peer_cert(getpeercert()) if getpeercert else None
    with contextlib.suppress(AttributeError):  # a socket without instance attributes: decode every time
        sock.ntjp_peer_hsaid = peer
    return peer


_UNKNOWN = object()


class CallerIdentity:
    def __init__(self, app, *, platform_hsaids: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.platform_hsaids = platform_hsaids

    def __call__(self, environ, start_response):
        peer = _peer_hsaid(environ.get("gunicorn.socket"))
        original = (environ.get(_ORIGINAL_ENV) or "").strip()[:64] or None
        environ["ntjp.caller_hsaid"] = peer
        if peer is not None and peer in self.platform_hsaids:
            environ["ntjp.via_platform"] = True
            environ["ntjp.platform_hsaid"] = peer
            environ["ntjp.consumer_hsaid"] = original  # None: the platform did not say; refused later
        else:
            environ["ntjp.via_platform"] = False
            environ["ntjp.platform_hsaid"] = None
            environ["ntjp.consumer_hsaid"] = peer
            if original is not None and original != peer:
                log.warning(
                    "ignored original-consumer header from a caller that is not the platform",
                    extra={"caller_hsaid": peer, "claimed_consumer_hsaid": original},
                )
        return self.app(environ, start_response)
