"""Calling an assembled producer in process: the WSGI application itself, no server, no TLS.

Adapter and plumbing behaviour (what a refusal is answered with, what is audited) does not depend on
gunicorn or the socket, so these tests call the application the way the worker does, with a stand-in
for the one thing the transport adds: the TLS peer's certificate.
"""

from __future__ import annotations

import io
from typing import NamedTuple

from lxml import etree

from tests.helpers import RESPONDER, SOAP, envelope


class PeerSocket:
    """What ``CallerIdentity`` reads off the connection: the client certificate's subject."""

    def __init__(self, hsaid: str) -> None:
        self._cert = {"subject": ((("serialNumber", hsaid),),)}

    def getpeercert(self) -> dict:
        return self._cert


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    def fault(self) -> tuple[str, str]:
        """(faultcode without prefix, faultstring) of a SOAP fault answer."""
        assert self.status == 500, (self.status, self.body[:300])
        fault = etree.fromstring(self.body).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
        assert fault is not None, self.body[:300]
        assert b"Traceback" not in self.body
        return fault.findtext("faultcode").split(":")[-1], fault.findtext("faultstring")


def call(app, path: str, body: bytes = b"", *, method: str = "POST", query: str = "",
         peer: str | None = None, headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": "text/xml; charset=utf-8" if body else "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8443",
        "wsgi.url_scheme": "https",
    }
    if peer is not None:
        environ["gunicorn.socket"] = PeerSocket(peer)
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    seen: dict = {}
    result = app(environ, lambda status, hdrs: seen.update(status=status, headers=hdrs))
    try:
        data = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return Answer(int(seen["status"].split()[0]), dict(seen["headers"]), data)


def soap(app, contract: str, inner: str = "", **kw) -> Answer:
    return call(app, f"/{contract}/1/rivtabp21", envelope(contract, inner).encode(), **kw)


__all__ = ["RESPONDER", "Answer", "PeerSocket", "call", "soap"]
