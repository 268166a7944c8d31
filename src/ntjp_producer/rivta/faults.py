"""SOAP 1.1 faults, the way RIV-TA carries technical errors.

The fault string says what the caller did wrong, in words an integrator can act on; nothing of the
producer's inside (stack traces, SQL, file paths) ever goes into it. Server faults carry the
correlation id so the caller can quote it to operations.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

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
