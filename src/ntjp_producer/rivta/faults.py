"""SOAP 1.1 faults, the way RIV-TA carries technical errors.

The fault string says what the caller did wrong, in words an integrator can act on; nothing of the
producer's inside (stack traces, SQL, file paths) ever goes into it. Server faults carry the
correlation id so the caller can quote it to operations.
"""

from __future__ import annotations

from typing import NamedTuple
from xml.sax.saxutils import escape

from ntjp_producer import refusals

CLIENT = "Client"
SERVER = "Server"
VERSION_MISMATCH = "VersionMismatch"


class RivtaFault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def envelope(code: str, message: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>soapenv:{code}</faultcode>"
        f"<faultstring>{escape(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()


class Answer(NamedTuple):
    """How one kind of domain refusal is answered: on SOAP, in the JSON API, in metrics and audit."""

    fault: str  # the SOAP faultcode
    outcome: str  # what the call is measured and audited as
    status: int  # the JSON API's HTTP status
    title: str
    headers: tuple[tuple[str, str], ...] = ()


# The one table from domain refusals to answers; every contract and the JSON API read it.
ANSWERS: dict[type[refusals.Refused], Answer] = {
    refusals.BadQuestion: Answer(CLIENT, "client_fault", 400, "Bad Request"),
    refusals.NotPermitted: Answer(CLIENT, "refused", 403, "Forbidden"),
    refusals.NotAvailable: Answer(SERVER, "server_fault", 503, "Service Unavailable", (("Retry-After", "300"),)),
}


def answer_for(refusal: refusals.Refused) -> Answer:
    """The nearest kind's answer; a refusal of no listed kind is the producer's fault."""
    for kind in type(refusal).__mro__:
        if kind in ANSWERS:
            return ANSWERS[kind]
    return Answer(SERVER, "server_fault", 500, "Internal Server Error")
