"""PingForConfiguration when the database does not answer: a quick Server fault that says so,
so the platform's monitor sees the producer as down instead of waiting for a timeout."""

from __future__ import annotations

import io
import time

from lxml import etree

from ntjp_producer.app import create_app
from ntjp_producer.settings import Settings
from tests.helpers import FMB_NS, SOAP, envelope, free_port


def test_ping_with_the_database_down_is_a_quick_server_fault():
    port = free_port()  # nothing listens there
    app = create_app(Settings(db=f"postgresql://nobody@127.0.0.1:{port}/ntjp"))
    inner = (
        f"<r:serviceContractNamespace>{FMB_NS}:GetFmbResponder:1</r:serviceContractNamespace>"
        "<r:logicalAddress>SE2021000555</r:logicalAddress>"
    )
    body = envelope("PingForConfiguration", inner).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/PingForConfiguration/1/rivtabp21",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "text/xml; charset=utf-8",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8443",
        "wsgi.url_scheme": "https",
    }
    seen = {}
    started = time.monotonic()
    out = b"".join(app(environ, lambda status, headers: seen.update(status=status)))
    assert time.monotonic() - started < 5
    assert seen["status"].startswith("500")
    fault = etree.fromstring(out).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert fault.findtext("faultcode").endswith("Server")
    assert "dbStatus=error" in fault.findtext("faultstring")
    assert b"psycopg" not in out and b"Traceback" not in out
