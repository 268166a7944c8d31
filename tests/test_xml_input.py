"""What a consumer sends, in any encoding and framing, is judged as the consumer's: a DOCTYPE gets one
fault text and opens nothing, whatever the encoding; a valid request in UTF-16 or UTF-32 is answered;
broken chunking, a short body or a trickled one is a Client fault; the envelope's shape is strict."""

from __future__ import annotations

import errno
import os
import socket
import ssl

import pytest

from ntjp_producer.rivta.loader import DTD_REFUSED
from tests.helpers import SOAP, envelope, fault_of, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.once]
REQUEST_TIMEOUT = 4.0  # the request deadline for this module's server (default 10 s): a trickle fits, a stall ends


@pytest.fixture(scope="module")
def server(latest_db, tls_dir, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("NTJP_REQUEST_TIMEOUT", str(REQUEST_TIMEOUT))
    srv = start_server(latest_db, tls_dir, tmp_path_factory.mktemp("xml-input") / "server.log")
    mp.undo()
    yield srv
    stop_server(srv)

ENCODINGS = {
    "UTF-8": lambda t: t.encode("utf-8"),
    "UTF-16 LE with BOM": lambda t: b"\xff\xfe" + t.encode("utf-16-le"),
    "UTF-16 BE with BOM": lambda t: b"\xfe\xff" + t.encode("utf-16-be"),
    "UTF-16 LE without BOM": lambda t: t.encode("utf-16-le"),
    "UTF-32": lambda t: t.encode("utf-32"),
    "UTF-32 BE without BOM": lambda t: t.encode("utf-32-be"),
}
DECLARED = {"UTF-8": "UTF-8", "UTF-32": "UTF-32", "UTF-32 BE without BOM": "UTF-32"}


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("doctype-targets")
    existing = folder / "exists.txt"
    existing.write_text("secret")
    fifo = folder / "fifo"
    os.mkfifo(fifo)
    return {"an existing file": existing, "a missing file": folder / "missing", "a directory": folder, "a FIFO": fifo}


def _nobody_opened(fifo) -> bool:
    """A FIFO's write end opens without blocking only if somebody holds its read end."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        return exc.errno == errno.ENXIO
    os.close(fd)
    return False


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("form", ["external DTD", "external entity"])
def test_a_doctype_gets_one_fault_text_and_nothing_is_opened(server, targets, encoding, form):
    texts = set()
    for what, path in targets.items():
        decl = f'<?xml version="1.0" encoding="{DECLARED.get(encoding, "UTF-16")}"?>'
        doctype = (
            f'<!DOCTYPE s:Envelope SYSTEM "{path}">'
            if form == "external DTD"
            else f'<!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file://{path}">]>'
        )
        body = ENCODINGS[encoding](decl + doctype + envelope("GetVersions"))
        code, message = fault_of(server.post("GetVersions", body))
        assert code == "Client", (what, message)
        texts.add(message)
        assert _nobody_opened(targets["a FIFO"]), f"the parser opened the FIFO ({what}, {encoding})"
    assert texts == {DTD_REFUSED}, "the same text whatever exists on the server"


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_a_valid_request_in_any_unicode_encoding_is_answered(server, encoding):
    decl = f'<?xml version="1.0" encoding="{DECLARED.get(encoding, "UTF-16")}"?>'
    inner = "<r:diagnosKod><c:code>J20</c:code></r:diagnosKod>"
    r = server.post("GetFmb", ENCODINGS[encoding](decl + envelope("GetFmb", inner)))
    assert r.status_code == 200, r.text[:300]
    assert b"beslutsunderlag" in r.content


def test_bytes_that_are_not_their_declared_encoding_are_a_client_fault(server):
    body = b'<?xml version="1.0" encoding="UTF-8"?>' + envelope("GetVersions").encode("utf-16-le")[2:]
    code, message = fault_of(server.post("GetVersions", body))
    assert code == "Client" and "Malformed XML" in message


def _raw(server, request: bytes) -> bytes:
    ctx = ssl.create_default_context(cafile=str(server.tls_dir / "ca.pem"))
    ctx.load_cert_chain(
        str(server.tls_dir / "clients" / "region.pem"), str(server.tls_dir / "clients" / "region-key.pem")
    )
    port = int(server.base_url.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


HEAD = (
    "POST /GetVersions/1/rivtabp21 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    "Content-Type: text/xml; charset=utf-8\r\n"
)


@pytest.mark.parametrize(
    ("case", "request_bytes", "words"),
    [
        ("chunk size not hex", (HEAD + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n").encode(), "chunked"),
        ("chunk without terminator", (HEAD + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcXY").encode(), "chunked"),
        # The client stops sending but keeps the connection: the request deadline ends it.
        ("body shorter than its length", (HEAD + "Content-Length: 500\r\n\r\n<s:Envelope").encode(), "deadline"),
    ],
)
def test_broken_framing_is_the_consumers_fault(server, case, request_bytes, words):
    answer = _raw(server, request_bytes)
    assert answer.startswith((b"HTTP/1.1 500", b"HTTP/1.1 400")), answer[:200]
    if answer.startswith(b"HTTP/1.1 500"):
        assert b"<faultcode>soapenv:Client</faultcode>" in answer and words.encode() in answer
    assert b"Traceback" not in answer and b"Internal error" not in answer
    assert "Traceback" not in server.log_path.read_text()


ENV = f'<s:Envelope xmlns:s="{SOAP}">'
GOOD = envelope("GetVersions")
HEADER = GOOD[GOOD.index("<s:Header>") : GOOD.index("</s:Header>") + len("</s:Header>")]
BODY = GOOD[GOOD.index("<s:Body>") : GOOD.index("</s:Body>") + len("</s:Body>")]


@pytest.mark.parametrize(
    ("case", "document"),
    [
        ("two Bodies", ENV + HEADER + BODY + BODY + "</s:Envelope>"),
        ("Body before Header", ENV + BODY + HEADER + "</s:Envelope>"),
        ("content after Body", ENV + HEADER + BODY + f'<x xmlns="{SOAP}"/></s:Envelope>'),
        ("two Headers", ENV + HEADER + HEADER + BODY + "</s:Envelope>"),
        ("text after Body", ENV + HEADER + BODY + "surprise</s:Envelope>"),
    ],
)
def test_the_envelope_shape_is_strict(server, case, document):
    code, message = fault_of(server.post("GetVersions", document))
    assert code == "Client" and "SOAP envelope holds" in message, message


def test_upload_time_is_the_consumers_not_the_producers(server):
    """A body trickled over about 2 s is measured from its end: the call lands in the 0.5 s bucket, far
    below the 2 s it took to send (a worker's first call also builds the data version's answers, so
    the workers are asked once first)."""
    import time

    import requests

    from tests.helpers import metric_sum, metrics_once

    labels = {"contract": "GetDiagnosInformation", "outcome": "ok"}

    def figures(text: str) -> tuple[float, float]:
        return (
            metric_sum(text, "ntjp_call_duration_seconds_count", **labels),
            metric_sum(text, "ntjp_call_duration_seconds_bucket", le="0.5", **labels),
        )

    def counted(calls: float) -> tuple[float, float]:
        """The figures once ``calls`` calls are counted (each is, just after its answer is read)."""
        return figures(metrics_once(server.ops_url, "ntjp_call_duration_seconds_count", calls, **labels))

    body = envelope("GetDiagnosInformation", "<r:diagnosKod><c:code>J20</c:code></r:diagnosKod>").encode()

    def slowly():
        for i in range(0, len(body), len(body) // 8 + 1):
            time.sleep(0.25)
            yield body[i : i + len(body) // 8 + 1]

    before = figures(requests.get(f"{server.ops_url}/metrics", timeout=10).text)[0]
    for _ in range(4):  # new connections, so both workers have built their answers
        session = server.session()
        session.headers["Connection"] = "close"
        session.post(f"{server.base_url}/GetDiagnosInformation/1/rivtabp21", data=body,
                     headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)  # fmt: skip
    count, fast = counted(before + 4)
    started = time.monotonic()
    r = server.session().post(
        f"{server.base_url}/GetDiagnosInformation/1/rivtabp21",
        data=slowly(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=30,
    )
    took = time.monotonic() - started
    assert r.status_code == 200 and took >= 1.9
    assert counted(count + 1) == (count + 1, fast + 1), f"the call took {took:.1f} s to send, and is measured as fast"
