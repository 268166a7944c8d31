"""``ntjp-producer check`` against producers that conform, are down, have no data, or answer the
old shape. Each runs the real command in a subprocess, as an operator would, and reads its lines.

The wrong-shape producer is a small mutual-TLS proxy in front of the real one that rewrites its
answers into the shape this producer used to send (the one issue 9 found): a stand-in for "another
producer of these contracts", since no second implementation exists here.
"""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from lxml import etree

from ntjp_producer.transport.tls import server_context
from tests.helpers import FMB_NS, LOGICAL_ADDRESS, free_port, start_server, stop_server

pytestmark = pytest.mark.slow
CORE = f"{FMB_NS}:1"
CHECKS = 10


def check(url: str, tls_dir, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ntjp_producer", "check", url, "--tls-dir", str(tls_dir), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def lines(result: subprocess.CompletedProcess, mark: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(mark + "  ")]


def test_check_passes_against_this_producer(server):
    result = check(server.base_url, server.tls_dir, "--logical-address", LOGICAL_ADDRESS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(lines(result, "PASS")) == CHECKS and not lines(result, "FAIL") and not lines(result, "SKIP")
    assert f"verdict: CONFORMS ({CHECKS} of {CHECKS} checks passed)" in result.stdout
    assert "GetFmb without parameters: 439 beslutsunderlag in the deployed shape" in result.stdout
    assert "GetDiagnosInformation without parameters: 116 diagnosInformation in the deployed shape" in result.stdout
    assert "PingForConfiguration with LogicalAddress 'LogicalAddress': the deployed shape" in result.stdout


def test_check_against_a_producer_that_is_down(tls_dir):
    result = check(f"https://127.0.0.1:{free_port()}", tls_dir)
    assert result.returncode == 1
    assert lines(result, "FAIL")[0].startswith("FAIL  mutual TLS to 127.0.0.1:") and "cannot connect" in result.stdout
    assert len(lines(result, "SKIP")) == CHECKS - 1
    assert "verdict: DOES NOT CONFORM (0 of 10 checks passed)" in result.stdout


def test_check_with_a_certificate_the_producer_refuses(server):
    result = check(server.base_url, server.tls_dir, "--client", "other-ca")
    assert result.returncode == 1
    assert "the TLS handshake failed" in lines(result, "FAIL")[0]


def test_check_against_a_producer_without_data(db_url, tls_dir, tmp_path):
    empty = start_server(db_url, tls_dir, tmp_path / "empty.log", workers=1)
    try:
        result = check(empty.base_url, tls_dir)
    finally:
        stop_server(empty)
    assert result.returncode == 1
    failed = "\n".join(lines(result, "FAIL"))
    for contract in ("GetVersions", "GetFmb without parameters", "GetDiagnosInformation without parameters"):
        assert f"FAIL  {contract}: answered a SOAP Fault (Server): No FMB data has been imported" in failed
    passed = "\n".join(lines(result, "PASS"))
    assert "PingForConfiguration with LogicalAddress 'LogicalAddress'" in passed and "dataStatus=no release" in passed
    assert "DOES NOT CONFORM" in result.stdout


# -- a producer answering the old shape -------------------------------------------------------------


def _old_shape(body: bytes) -> bytes:
    """This producer's answers before issue 9: villkor after huvuddiagnos, funktionsnedsattningsBeskrivning,
    Ping's configuration children in the core monitoring namespace."""
    root = etree.fromstring(body)
    for item in root.iter("{*}beslutsunderlag"):
        villkor = item.find(f"{{{CORE}}}villkor")
        if villkor is not None:
            item.remove(villkor)
            item.append(villkor)
    for el in root.iter(f"{{{CORE}}}funktionsnedsattningBeskrivning"):
        el.tag = f"{{{CORE}}}funktionsnedsattningsBeskrivning"
    for el in root.iter("{urn:riv:itintegration:monitoring:PingForConfigurationResponder:1}name"):
        el.tag = "{urn:riv:itintegration:monitoring:1}name"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.fixture
def old_shape_producer(server):
    upstream = server.session()

    class Rewriting(BaseHTTPRequestHandler):
        def _forward(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            answer = upstream.request(
                method,
                server.base_url + self.path,
                data=self.rfile.read(length) if length else None,
                headers={k: v for k, v in self.headers.items() if k.lower() in ("content-type", "soapaction")},
                timeout=60,
            )
            body = _old_shape(answer.content) if method == "POST" else answer.content
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("Content-Type", "text/xml"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._forward("GET")

        def do_POST(self):
            self._forward("POST")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Rewriting)
    context: ssl.SSLContext = server_context(server.tls_dir)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_check_against_a_producer_answering_the_old_shape(old_shape_producer, server):
    result = check(old_shape_producer, server.tls_dir)
    assert result.returncode == 1, result.stdout
    out = result.stdout
    assert "FAIL  GetFmb without parameters: " in out and "difference(s) from the deployed shape" in out
    assert re.search(
        r"GetFmbResponse/beslutsunderlag\[underlagsId \d+\]: 'villkor' comes after 'huvuddiagnos'; "
        r"deployed it comes before it",
        out,
    )
    assert "'funktionsnedsattningsBeskrivning' is not an element of the deployed shape" in out
    assert "'name' is in namespace urn:riv:itintegration:monitoring:1; deployed in " in out
    assert "… and " in out, "long lists of differences are cut, with the rest counted"
    assert "PASS  GetVersions: the deployed shape" in out, "what is still right is said so"
    assert "DOES NOT CONFORM" in out


def test_check_usage_errors_are_one_line(tmp_path, server):
    result = check(server.base_url, tmp_path / "nowhere")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("ntjp-producer: ") and "ca.pem is missing" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    plain = check(server.base_url.replace("https", "http"), server.tls_dir)
    assert plain.returncode == 2 and "must be https://" in plain.stderr
