"""The server's TLS context: TLS 1.2 or newer with AEAD suites only, and a client certificate
signed by our CA, always.

A client without a certificate, with an expired one, with one from another CA, or with one the
certificate revocation list (``crl.pem``, when the TLS folder has one) lists is refused in the
handshake; one whose certificate is not meant for a TLS client (no clientAuth extended key usage, or
a CA certificate) is refused right after it (``client_certificate_problem``, called by the worker),
before any of its request is read.
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

# TLS 1.2 suites with forward secrecy and authenticated encryption only (no CBC); TLS 1.3's are all AEAD.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
CA = "ca.pem"
SERVER_CERT = "server.pem"
SERVER_KEY = "server-key.pem"
# The CA's certificate revocation list(s), PEM; with it every client certificate is checked against
# its issuer's list, and a missing or expired list for that issuer refuses the client (fail closed).
CRL = "crl.pem"
TRUST_FILES = (CA, CRL, SERVER_CERT, SERVER_KEY)


def trust_stamp(tls_dir: str | Path) -> tuple:
    """What the TLS folder's trust files are now (which file, its inode, size and mtime): a worker
    builds a new context when this moves, so a new CRL, CA bundle or server certificate is taken up
    without a restart."""
    stamp = []
    for name in TRUST_FILES:
        try:
            st = (Path(tls_dir) / name).stat()
        except FileNotFoundError:
            stamp.append((name, None))
            continue
        stamp.append((name, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(stamp)


def server_context(tls_dir: str | Path) -> ssl.SSLContext:
    tls_dir = Path(tls_dir)
    for name in (CA, SERVER_CERT, SERVER_KEY):
        if not (tls_dir / name).is_file():
            raise FileNotFoundError(f"{tls_dir / name} is missing (make one with: ntjp-producer certs init {tls_dir})")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.load_cert_chain(str(tls_dir / SERVER_CERT), str(tls_dir / SERVER_KEY))
    ctx.load_verify_locations(cafile=str(tls_dir / CA))
    if (tls_dir / CRL).is_file():
        ctx.load_verify_locations(cafile=str(tls_dir / CRL))
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
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


@lru_cache(maxsize=1024)
def client_certificate_problem(der: bytes | None) -> str | None:
    """Why a verified client certificate still must not be accepted, or None.

    OpenSSL's chain check does not ask what a certificate is for; RIV-TA clients carry the
    clientAuth extended key usage, and a CA certificate is never a client. Cached: a consumer
    presents the same certificate on every connection.
    """
    if not der:
        return "no client certificate"
    cert = x509.load_der_x509_certificate(der)
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "the client certificate is a CA certificate"
    except x509.ExtensionNotFound:
        pass
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "the client certificate has no extended key usage (clientAuth is required)"
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        return "the client certificate is not for client authentication (no clientAuth)"
    return None
