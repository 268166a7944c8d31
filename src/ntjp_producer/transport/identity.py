"""Who is calling, as far as TLS can tell.

RIV-TA identifies an organisation by the HSA-id in its certificate subject's ``serialNumber``.
This middleware puts the TLS peer's HSA-id in the WSGI environ as ``ntjp.caller_hsaid``; what that
caller may do is decided further in, by the product that cares (HoSp does, FMB is public).
"""

from __future__ import annotations

from typing import Any


def hsaid_from_peer_cert(cert: dict[str, Any] | None) -> str | None:
    """The subject's serialNumber from ``ssl.SSLSocket.getpeercert()``'s dict form."""
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "serialNumber":
                return value
    return None


class CallerIdentity:
    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket")
        getpeercert = getattr(sock, "getpeercert", None)
        environ["ntjp.caller_hsaid"] = hsaid_from_peer_cert(getpeercert()) if getpeercert else None
        return self.app(environ, start_response)
