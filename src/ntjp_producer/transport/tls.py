"""The server's TLS context: TLS 1.2 or newer, and a client certificate signed by our CA, always.

A client without a certificate, with an expired one, or with one from another CA is refused in the
handshake; no HTTP request from it is ever read.
"""

from __future__ import annotations

import ssl
from pathlib import Path

CA = "ca.pem"
SERVER_CERT = "server.pem"
SERVER_KEY = "server-key.pem"


def server_context(tls_dir: str | Path) -> ssl.SSLContext:
    tls_dir = Path(tls_dir)
    for name in (CA, SERVER_CERT, SERVER_KEY):
        if not (tls_dir / name).is_file():
            raise FileNotFoundError(f"{tls_dir / name} is missing (make one with: ntjp-producer certs init {tls_dir})")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(tls_dir / SERVER_CERT), str(tls_dir / SERVER_KEY))
    ctx.load_verify_locations(cafile=str(tls_dir / CA))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(tls_dir: str | Path, client: str) -> ssl.SSLContext:
    """A consumer's side of mutual TLS: trust ``ca.pem``, present ``clients/NAME.pem`` (as ``certs init``
    writes them), verify the producer's name. Used by ``ntjp-producer check``."""
    tls_dir = Path(tls_dir)
    cert, key = tls_dir / "clients" / f"{client}.pem", tls_dir / "clients" / f"{client}-key.pem"
    for path in (tls_dir / CA, cert, key):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (a TLS folder holds ca.pem, clients/NAME.pem, NAME-key.pem)")
    ctx = ssl.create_default_context(cafile=str(tls_dir / CA))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
