"""A revoked client certificate is refused at the handshake, and a new revocation list is taken up
by the running producer, without a restart, both ways."""

from __future__ import annotations

import functools
import http.client
import http.server
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ntjp_producer.transport import certs
from tests.helpers import envelope, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.once]
BODY = envelope("GetVersions").encode()


def _connect(server, client: str) -> http.client.HTTPSConnection:
    t = server.tls_dir
    ctx = ssl.create_default_context(cafile=str(t / "ca.pem"))
    ctx.load_cert_chain(str(t / "clients" / f"{client}.pem"), str(t / "clients" / f"{client}-key.pem"))
    host, port = server.base_url.removeprefix("https://").split(":")
    return http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)


def _call(conn) -> http.client.HTTPResponse:
    conn.request("POST", "/GetVersions/1/rivtabp21", body=BODY, headers={"Content-Type": "text/xml; charset=utf-8"})
    reply = conn.getresponse()
    reply.read()
    return reply


def _answered(server, client: str) -> bool:
    """A new connection as ``client``: answered, or refused in the handshake."""
    conn = _connect(server, client)
    try:
        return _call(conn).status == 200
    except (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected):
        return False
    finally:
        conn.close()


def _crl(tls_dir, *revoke: str) -> None:
    args = [a for name in revoke for a in ("--revoke", name)]
    done = subprocess.run([sys.executable, "-m", "ntjp_producer", "certs", "crl", str(tls_dir), *args],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr


def _eventually(check, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def test_revocation_list_is_enforced_and_reloaded(latest_db, tmp_path):
    tls_dir = tmp_path / "tls"
    certs.init(tls_dir)
    assert (tls_dir / "crl.pem").is_file(), "certs init writes an (empty) revocation list"
    server = start_server(latest_db, tls_dir, tmp_path / "server.log")
    try:
        pid = server.process.pid
        assert _answered(server, "socialnamnd") and _answered(server, "region")
        kept = _connect(server, "socialnamnd")
        assert _call(kept).getheader("Connection") != "close"

        _crl(tls_dir, "socialnamnd")
        # Every worker takes the new list up within a second or so; several calls reach both workers.
        assert _eventually(lambda: not any(_answered(server, "socialnamnd") for _ in range(4)))
        assert all(_answered(server, "region") for _ in range(4)), "only the revoked certificate is refused"
        # A connection made before the new list is told to close with its next answer, and cannot come back
        # (its worker looks at the files at most once a second).
        time.sleep(1.2)
        reply = _call(kept)
        assert reply.status == 200 and reply.getheader("Connection") == "close"
        kept.close()
        assert not _answered(server, "socialnamnd")

        _crl(tls_dir)  # a list that no longer names it
        assert _eventually(lambda: all(_answered(server, "socialnamnd") for _ in range(4)))
        # Fail closed: a list past its next update cannot say who is revoked, so nobody gets in.
        certs.write_crl(tls_dir, days=-1)
        assert _eventually(lambda: not any(_answered(server, "region") for _ in range(4)))
        _crl(tls_dir)
        assert _eventually(lambda: all(_answered(server, "region") for _ in range(4)))
        # A list that does not load (half-written, not PEM) leaves the trust in force that was. Every
        # worker has taken the good list up first: each looks at the files once a second, even idle.
        time.sleep(2.5)
        (tls_dir / "crl.pem").write_text("-----BEGIN X509 CRL-----\nnot a list\n")
        time.sleep(1.2)
        assert all(_answered(server, "region") for _ in range(4)), "a broken file does not lock everyone out"
        assert "could not be loaded; the previous ones stay in force" in (tmp_path / "server.log").read_text()
        _crl(tls_dir)
        assert server.process.pid == pid and server.process.poll() is None, "no restart"
        log = (tmp_path / "server.log").read_text()
        assert "TLS trust reloaded" in log
    finally:
        stop_server(server)



def test_refresh_crl_fetches_checks_and_replaces_the_lists(tmp_path):
    """certs/refresh-crl, as the timer runs it: a list from the CA's distribution point replaces
    crl.pem; one the CA did not sign leaves the old list in force."""
    tls_dir, served = tmp_path / "tls", tmp_path / "served"
    certs.init(tls_dir)
    served.mkdir()
    certs.write_crl(tls_dir, ["socialnamnd"])
    # The CA's distribution point serves DER, as SITHS does.
    der = x509.load_pem_x509_crl((tls_dir / "crl.pem").read_bytes()).public_bytes(Encoding.DER)
    (served / "ca.crl").write_bytes(der)
    certs.write_crl(tls_dir)  # the folder's list revokes nothing until the refresh
    other = tmp_path / "other"
    certs.init(other)
    (served / "other.crl").write_bytes((other / "crl.pem").read_bytes())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    script = Path(__file__).parents[1] / "certs" / "refresh-crl"
    serial = x509.load_pem_x509_certificate((tls_dir / "clients" / "socialnamnd.pem").read_bytes()).serial_number
    try:
        urls = tmp_path / "urls"
        urls.write_text(f"# the dev CA\n{base}/ca.crl\n")
        done = subprocess.run([str(script), str(tls_dir), str(urls)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        crl = x509.load_pem_x509_crl((tls_dir / "crl.pem").read_bytes())
        assert crl.get_revoked_certificate_by_serial_number(serial) is not None

        before = (tls_dir / "crl.pem").read_bytes()
        urls.write_text(f"{base}/other.crl\n")
        done = subprocess.run([str(script), str(tls_dir), str(urls)], capture_output=True, text=True)
        assert done.returncode != 0 and "not signed by a CA" in done.stderr
        assert (tls_dir / "crl.pem").read_bytes() == before
    finally:
        httpd.shutdown()
