"""Development certificates: a CA, a server certificate and one client certificate per kind of
caller, each with its organisation's HSA-id in the subject's serialNumber, as RIV-TA has it.

The HSA-ids are made up for development and tests; they are not the organisations' real ids.
Tests also get an expired client certificate and one from a different CA. The dev CA also signs a
certificate revocation list (``crl.pem``), empty at first; ``certs crl --revoke NAME`` lists clients.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# name -> (organisation, HSA-id)
CLIENTS: dict[str, tuple[str, str]] = {
    "ntjp": ("Inera AB (NTJP, dev)", "SE165565594230-DEV1"),
    "ivo": ("Inspektionen för vård och omsorg (dev)", "SE2021006297-DEV1"),
    "region": ("Region Dev", "SE2321000016-DEV1"),
    "transportstyrelsen": ("Transportstyrelsen (dev)", "SE2021005638-DEV1"),
    "socialnamnd": ("Socialnämnden Devkommun", "SE2120000001-DEV1"),
    "private-provider": ("Privat Vård Dev AB", "SE5560000001-DEV1"),
    "unknown": ("Okänd Organisation", "SE0000000000-DEV1"),
}
EXPIRED = "expired"
OTHER_CA = "other-ca"
# Signed by the dev CA but unfit for a TLS client: the producer must refuse both.
SERVER_ONLY = "server-only"  # extended key usage serverAuth, no clientAuth
NO_EKU = "no-eku"  # no extended key usage at all
CA_AS_CLIENT = "ca-as-client"  # BasicConstraints CA=true


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organisation: str, hsaid: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if hsaid:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, hsaid))
    return x509.Name(attrs)


def _write(path: Path, cert: x509.Certificate, key, key_path: Path | None = None) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key_path is not None:
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)


def _ca(common_name: str, now: dt.datetime):
    key = _key()
    name = _name(common_name, "Socialstyrelsen (dev)")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    ca_cert, ca_key, subject: x509.Name, *, server: bool, not_before, not_after, san=None, ca: bool = False, eku=True
):
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
    )
    if eku:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


# Dev certificate -> HoSp consumer type (förordning 2006:196 § 7 a); "platform" is the NTJP peer.
CONSUMER_TYPES = {
    "ivo": "ivo",
    "region": "public_provider",
    "transportstyrelsen": "transportstyrelsen",
    "socialnamnd": "social_services",
    "ntjp": "platform",
}
CONSUMERS_FILE = "consumers.toml"


def write_consumers(directory: str | Path) -> Path | None:
    """The HoSp consumer registry for the dev certificates, unless one is there already.

    ``private-provider`` and ``unknown`` are left out on purpose: they must be refused.
    """
    path = Path(directory) / CONSUMERS_FILE
    if path.exists():
        return None
    platform = [CLIENTS[n][1] for n, t in CONSUMER_TYPES.items() if t == "platform"]
    lines = [
        "# HoSp consumer registry (dev): who may call, and as which consumer type (förordning 2006:196 § 7 a).",
        "# Types: ivo, public_provider, social_services, transportstyrelsen. Anyone not listed is refused,",
        "# and so is every private care provider (type private_provider, or simply not listed).",
        "",
        "# TLS peers that are the national platform; for them the consumer is the",
        "# x-rivta-original-serviceconsumer-hsaid header.",
        "platform = [" + ", ".join(f'"{h}"' for h in platform) + "]",
        "",
        "[consumers]",
    ]
    for name, kind in CONSUMER_TYPES.items():
        if kind != "platform":
            org, hsaid = CLIENTS[name]
            lines.append(f'"{hsaid}" = {{ type = "{kind}", name = "{org}" }}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def init(directory: str | Path, *, force: bool = False) -> list[Path]:
    """Write the dev CA, server and client certificates, and the HoSp consumer registry for them;
    keeps an existing set unless forced."""
    out = Path(directory)
    if (out / "ca.pem").exists() and not force:
        write_consumers(out)
        if not (out / "crl.pem").exists() and (out / "ca-key.pem").exists():
            write_crl(out)  # a folder made before the CRL existed
        return []
    if force and (out / CONSUMERS_FILE).exists():
        (out / CONSUMERS_FILE).unlink()
    clients = out / "clients"
    clients.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_cert, ca_key = _ca("ntjp-producer dev CA", now)
    _write(out / "ca.pem", ca_cert, ca_key, out / "ca-key.pem")
    server, server_key = _leaf(
        ca_cert,
        ca_key,
        _name("localhost", "Socialstyrelsen (dev)", "SE2021000555-DEV1"),
        server=True,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=825),
        san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    _write(out / "server.pem", server, server_key, out / "server-key.pem")
    written = [out / "ca.pem", out / "server.pem"]
    for name, (org, hsaid) in CLIENTS.items():
        cert, key = _leaf(
            ca_cert,
            ca_key,
            _name(name, org, hsaid),
            server=False,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=825),
        )
        _write(clients / f"{name}.pem", cert, key, clients / f"{name}-key.pem")
        written.append(clients / f"{name}.pem")
    cert, key = _leaf(
        ca_cert,
        ca_key,
        _name(EXPIRED, "Region Dev", "SE2321000016-DEV2"),
        server=False,
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    _write(clients / f"{EXPIRED}.pem", cert, key, clients / f"{EXPIRED}-key.pem")
    other_cert, other_key = _ca("some other CA", now)
    cert, key = _leaf(
        other_cert,
        other_key,
        _name(OTHER_CA, "Region Dev", "SE2321000016-DEV3"),
        server=False,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=825),
    )
    _write(clients / f"{OTHER_CA}.pem", cert, key, clients / f"{OTHER_CA}-key.pem")
    written += [clients / f"{EXPIRED}.pem", clients / f"{OTHER_CA}.pem"]
    for name, server_eku, is_ca, eku in (
        (SERVER_ONLY, True, False, True),
        (NO_EKU, False, False, False),
        (CA_AS_CLIENT, False, True, True),
    ):
        cert, key = _leaf(
            ca_cert,
            ca_key,
            _name(name, "Region Dev", "SE2321000016-DEV4"),
            server=server_eku,
            ca=is_ca,
            eku=eku,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=825),
        )
        _write(clients / f"{name}.pem", cert, key, clients / f"{name}-key.pem")
        written.append(clients / f"{name}.pem")
    write_consumers(out)
    write_crl(out)
    return written


def write_crl(directory: str | Path, revoke: list[str] | tuple[str, ...] = (), *, days: int = 30) -> Path:
    """The dev CA's revocation list, listing exactly the client certificates named (``clients/NAME.pem``).

    Written to a new file and renamed into place, so a worker never reads half a list. ``days``
    until its next update (a negative number makes an expired list, for tests)."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    out = Path(directory)
    ca_cert = x509.load_pem_x509_certificate((out / "ca.pem").read_bytes())
    ca_key = load_pem_private_key((out / "ca-key.pem").read_bytes(), password=None)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(min(now, now + dt.timedelta(days=days)) - dt.timedelta(days=1))
        .next_update(now + dt.timedelta(days=days))
    )
    for name in revoke:
        path = out / "clients" / f"{name}.pem"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: no such client certificate to revoke")
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(now).build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    target = out / "crl.pem"
    tmp = out / "crl.pem.new"
    tmp.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    tmp.replace(target)
    return target
