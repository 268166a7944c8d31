"""Hostile and broken requests, sent as raw bytes to the real server: each gets a SOAP 1.1 fault
(HTTP 500) that says what was wrong, never a stack trace, and the server goes on answering."""

from __future__ import annotations

import pytest

from tests.helpers import RESPONDER, SOAP, envelope, fault_of

pytestmark = [pytest.mark.slow, pytest.mark.once]

XXE = '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + envelope(
    "GetFmb", "<c:x>&xxe;</c:x>"
).replace("<c:x>&xxe;</c:x>", "").replace("<r:GetFmb ", "<r:GetFmb ").replace("</r:GetFmb>", "&xxe;</r:GetFmb>")
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
    + envelope("GetFmb").replace("</r:GetFmb>", "&lol9;</r:GetFmb>")
)
DEEP = envelope("GetFmb").replace("</r:GetFmb>", "<a>" * 5000 + "</a>" * 5000 + "</r:GetFmb>")
# Deeper than the producer's own limit (64) but within libxml2's (256): refused by the loader's check.
NESTED = envelope("GetFmb").replace("</r:GetFmb>", "<a>" * 100 + "</a>" * 100 + "</r:GetFmb>")
SOAP12 = (
    '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>'
    f'<r:GetVersions xmlns:r="{RESPONDER["GetVersions"]}"/></e:Body></e:Envelope>'
)

CASES = {
    "malformed XML": (envelope("GetVersions")[:-20], {}, "Client", "Malformed XML"),
    "not XML at all": (b"\x00\x01 hello, this is not XML", {}, "Client", "Malformed XML"),
    "JSON body": ('{"GetFmb": {}}', {}, "Client", "Malformed XML"),
    "body over the limit": (
        envelope("GetFmb").replace("</r:GetFmb>", "<!--" + "x" * (1024 * 1024 + 10) + "--></r:GetFmb>"),
        {},
        "Client",
        "larger than 1048576 bytes",
    ),
    "external entity to a local file": (XXE, {}, "Client", "DTD"),
    "billion laughs": (LAUGHS, {}, "Client", "DTD"),
    "deep nesting": (DEEP, {}, "Client", "Malformed XML: Excessive depth in document"),
    "nesting past the producer's limit": (NESTED, {}, "Client", "XML nested deeper than 64 levels"),
    "SOAP 1.2 envelope": (SOAP12, {}, "VersionMismatch", "SOAP 1.2"),
    "SOAP 1.2 content type": (
        SOAP12,
        {"Content-Type": "application/soap+xml; charset=utf-8"},
        "VersionMismatch",
        "SOAP 1.2",
    ),
    "unknown operation": (
        envelope("GetFmb").replace("GetFmb", "DeleteEverything"),
        {},
        "Client",
        "Unknown operation 'DeleteEverything'",
    ),
    "another contract's operation": (envelope("GetVersions"), {}, "Client", "Unknown operation 'GetVersions'"),
    "schema-invalid request": (
        envelope("GetFmb", "<r:avenEjAktiva>perhaps</r:avenEjAktiva>"),
        {},
        "Client",
        "does not conform",
    ),
    "unexpected element": (envelope("GetFmb", "<r:dropTables>1</r:dropTables>"), {}, "Client", "does not conform"),
    "wrong Content-Type": (
        envelope("GetFmb"),
        {"Content-Type": "application/json"},
        "Client",
        "Content-Type must be text/xml",
    ),
    "no Body": (f'<s:Envelope xmlns:s="{SOAP}"><s:Header/></s:Envelope>', {}, "Client", "no Body"),
    "not an envelope": (f'<r:GetFmb xmlns:r="{RESPONDER["GetFmb"]}"/>', {}, "VersionMismatch", "SOAP 1.1 envelope"),
    "empty body": (b"", {}, "Client", "Empty request body"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_request_gets_a_clear_fault_and_the_server_keeps_answering(server, case):
    body, headers, code, fragment = CASES[case]
    contract = "GetFmb"
    response = server.post(contract, body, headers=headers)
    fault_code, message = fault_of(response)
    assert fault_code == code, message
    assert fragment in message
    assert "root:" not in response.text, "no file content may leak"
    # and the server is still there
    ok = server.post("GetVersions", envelope("GetVersions"))
    assert ok.status_code == 200 and b"GetVersionsResponse" in ok.content


def test_get_on_unknown_path_is_404(server):
    r = server.session().get(f"{server.base_url}/NoSuchService/1/rivtabp21", timeout=10)
    assert r.status_code == 404 and "GetFmb" in r.text


def test_put_is_a_fault(server):
    r = server.session().put(f"{server.base_url}/GetFmb/1/rivtabp21", data=b"x", timeout=10)
    code, message = fault_of(r)
    assert code == "Client" and "PUT" in message
