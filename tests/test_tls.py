"""Mutual TLS: a client without a certificate, with an expired one, or with one from another CA is
refused in the handshake and never gets an HTTP answer; so is a certificate not meant for a client
(no clientAuth, or a CA certificate). TLS below 1.2 is refused, and TLS 1.2 offers AEAD suites only."""

from __future__ import annotations

import socket
import ssl

import pytest
import requests

pytestmark = [pytest.mark.slow, pytest.mark.once]


def _handshake(server, client: str | None, *, max_version=ssl.TLSVersion.TLSv1_2, min_version=None, ciphers=None):
    ctx = ssl.create_default_context(cafile=str(server.tls_dir / "ca.pem"))
    ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    if min_version:
        ctx.minimum_version = min_version
    if client:
        ctx.load_cert_chain(
            str(server.tls_dir / "clients" / f"{client}.pem"), str(server.tls_dir / "clients" / f"{client}-key.pem")
        )
    host, port = server.base_url.removeprefix("https://").split(":")
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(b"GET /GetVersions/1/rivtabp21 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return tls.recv(100)


def test_a_valid_client_certificate_gets_through(server):
    assert _handshake(server, "region").startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("client", [None, "expired", "other-ca"])
def test_refused_at_the_handshake_over_tls12(server, client):
    # Under TLS 1.2 the server's verdict on the client certificate is part of the handshake itself.
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        _handshake(server, client)


@pytest.mark.parametrize("client", [None, "expired", "other-ca", "server-only", "no-eku", "ca-as-client"])
def test_refused_with_default_tls_client(server, client):
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.tls_dir / "ca.pem")
    if client:
        session.cert = (
            str(server.tls_dir / "clients" / f"{client}.pem"),
            str(server.tls_dir / "clients" / f"{client}-key.pem"),
        )
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{server.base_url}/GetVersions/1/rivtabp21", timeout=10)


def test_tls_below_1_2_is_refused(server):
    with pytest.raises(ssl.SSLError):
        _handshake(server, "region", max_version=ssl.TLSVersion.TLSv1_1, min_version=ssl.TLSVersion.MINIMUM_SUPPORTED)


def test_the_server_certificate_is_checked_by_clients(server, tmp_path):
    """A client that trusts only the system CAs must refuse our dev server: no silent trust."""
    session = requests.Session()
    session.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"{server.base_url}/GetVersions/1/rivtabp21", timeout=10)


@pytest.mark.parametrize("client", ["server-only", "no-eku", "ca-as-client"])
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_a_certificate_not_meant_for_a_client_gets_no_http_answer(server, client, version):
    """Signed by the right CA, within its validity, but without clientAuth or marked as a CA: the
    producer closes the connection right after the handshake, before reading a request."""
    try:
        answer = _handshake(server, client, max_version=version)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        answer = b""
    assert answer == b""
    assert "client certificate refused after the handshake" in server.log_path.read_text()


@pytest.mark.parametrize("cbc", ["ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-SHA256", "AES256-SHA"])
def test_tls12_cbc_suites_are_refused(server, cbc):
    with pytest.raises(ssl.SSLError):
        _handshake(server, "region", ciphers=cbc)


def test_tls12_offers_only_aead_suites(server):
    from ntjp_producer.transport.tls import server_context

    suites = [c for c in server_context(server.tls_dir).get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert suites and all(c["aead"] for c in suites), [c["name"] for c in suites if not c["aead"]]
    assert _handshake(server, "region", ciphers="ECDHE+AESGCM").startswith(b"HTTP/1.1 200")
