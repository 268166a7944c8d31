"""``ntjp-producer``: serve, import, certificates and database, from one command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from ntjp_producer import __version__
from ntjp_producer import settings as settings_mod

EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_REFUSED = 1, 2, 3


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="database URL, e.g. sqlite:///var/ntjp.db or postgresql://user@host/db")
    p.add_argument("--config", help="settings file (TOML, section [producer])")


def _settings(args: argparse.Namespace, **overrides) -> settings_mod.Settings:
    base = settings_mod.load(getattr(args, "config", None))
    return base.with_overrides(db=getattr(args, "db", None), **overrides)


def cmd_certs_init(args: argparse.Namespace) -> int:
    from ntjp_producer.transport import certs

    written = certs.init(args.dir, force=args.force)
    if not written:
        print(f"{args.dir}: certificates exist already (use --force to make new ones)")
    else:
        print(f"wrote a dev CA, server and {len(written) - 2} client certificates to {args.dir}")
    return 0


def cmd_certs_crl(args: argparse.Namespace) -> int:
    from ntjp_producer.transport import certs

    try:
        path = certs.write_crl(args.dir, args.revoke)
    except FileNotFoundError as exc:
        print(f"ntjp-producer: {exc}", file=sys.stderr)
        return EXIT_USAGE
    listed = ", ".join(args.revoke) or "no certificates"
    print(f"wrote {path}: revokes {listed}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from ntjp_producer.storage import db

    s = _settings(args)
    db.migrate(s.db)
    print(f"database at newest schema: {s.db}")
    return 0


def _backup_command(work) -> int:
    """Run a backup or restore step: its one line on success, or its refusal (exit code 3)."""
    from ntjp_producer.storage import backup

    try:
        done = work(backup)
    except backup.BackupError as exc:
        print(f"ntjp-producer: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"{done.what} in {done.seconds:.1f} s")
    return 0


def cmd_db_backup(args: argparse.Namespace) -> int:
    return _backup_command(lambda backup: backup.backup(_settings(args), args.dest, args.type))


def cmd_db_restore(args: argparse.Namespace) -> int:
    def restore(backup):
        s = _settings(args)
        if args.pg_data:
            return backup.restore_postgres(s, args.pg_data, args.to)
        if not args.backup_file:
            raise backup.BackupError("give the backup file (SQLite) or --pg-data FOLDER (PostgreSQL)")
        if args.to:
            raise backup.BackupError("--to is for PostgreSQL (--pg-data); an SQLite backup is one moment")
        return backup.restore_sqlite(s, args.backup_file, replace=args.replace)

    return _backup_command(restore)


def cmd_fmb_import(args: argparse.Namespace) -> int:
    from ntjp_producer.fmb.importer import import_release
    from ntjp_producer.fmb.release import ReleaseError
    from ntjp_producer.storage import db

    s = _settings(args)
    _ensure_sqlite_dir(s.db)
    db.migrate(s.db)
    if args.release_dir.startswith(("https://", "http://")):
        return _fmb_import_url(s, args.release_dir)
    try:
        report = import_release(db.session_factory(s.db), args.release_dir)
    except ReleaseError as exc:
        print(f"import refused, nothing changed: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    _print_fmb_report(report)
    return 0


def _fmb_import_url(s: settings_mod.Settings, url: str) -> int:
    """Fetch both collections from an open-API base URL, then import them as a folder would be."""
    import tempfile

    from ntjp_producer.fmb import fetch
    from ntjp_producer.fmb.importer import import_release
    from ntjp_producer.fmb.release import ReleaseError
    from ntjp_producer.storage import db

    state = Path(s.fmb_source_state)
    with tempfile.TemporaryDirectory(prefix="ntjp-fmb-") as tmp:
        try:
            fetched = fetch.fetch_release(url, Path(tmp) / "release", validators=fetch.load_validators(state),
                                          timeout=s.fmb_fetch_timeout, attempts=s.fmb_fetch_attempts)  # fmt: skip
        except fetch.FetchError as exc:
            print(f"fetch failed, nothing changed: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        if fetched.folder is None:
            print(f"{url}: not modified since the last fetch; nothing to import")
            return 0
        try:
            report = import_release(db.session_factory(s.db), fetched.folder)
        except ReleaseError as exc:
            print(f"import refused, nothing changed: {exc}", file=sys.stderr)
            return EXIT_REFUSED
    fetch.save_validators(state, fetched.validators)  # only once imported: a refused release is fetched again
    _print_fmb_report(report)
    return 0


def _print_fmb_report(report) -> None:
    summary = {k: c.summary() for k, c in report.changes.items()}
    if report.changed:
        print(f"imported FMB release {report.release_version} (version stamp {report.stamp})")
    else:
        print(f"FMB release {report.release_version} is already imported; nothing changed")
    print(json.dumps(summary, indent=2))


def cmd_hosp_import(args: argparse.Namespace) -> int:
    from ntjp_producer.hosp.extract import ExtractError
    from ntjp_producer.hosp.importer import import_extract
    from ntjp_producer.storage import db

    s = _settings(args)
    _ensure_sqlite_dir(s.db)
    db.migrate(s.db)
    if not Path(args.extract).is_file():
        print(f"import refused, nothing changed: {args.extract}: no such file", file=sys.stderr)
        return EXIT_REFUSED
    try:
        report = import_extract(db.session_factory(s.db), args.extract, delta=args.delta)
    except ExtractError as exc:
        print(f"import refused, nothing changed: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(
        f"imported {report.kind} extract {args.extract}: {report.lines} lines, {report.upserted} persons written, "
        f"{report.deleted} removed; the register holds {report.persons} persons ({report.seconds} s)"
    )
    return 0


def cmd_hosp_generate(args: argparse.Namespace) -> int:
    from ntjp_producer.hosp.generate import write

    if args.count < 0:
        raise ValueError("--count must be 0 or more")
    write(args.count, args.seed, sys.stdout)
    sys.stdout.flush()
    return 0


def cmd_hosp_audit(args: argparse.Namespace) -> int:
    from ntjp_producer.hosp import personnummer
    from ntjp_producer.hosp.audit import AuditTrail
    from ntjp_producer.storage import db

    s = _settings(args)
    db.migrate(s.db)
    trail = AuditTrail(db.session_factory(s.db))
    if args.person is not None:
        personnummer.validate(args.person)  # InvalidPersonnummer is a ValueError: one clear line
        entries = trail.about_person(args.person)
    else:
        entries = trail.by_consumer(args.consumer)
    for e in entries:
        if args.json:
            print(json.dumps(e, ensure_ascii=False))
            continue
        route = f"via platform {e['platform_hsaid']}" if e["via_platform"] else "direct"
        line = (
            f"{e['at']}  {e['consumer_hsaid'] or '-'} ({e['consumer_type'] or 'unregistered'}, {route})  "
            f"{e['contract']}  {e['outcome']}  criteria={json.dumps(e['criteria'], ensure_ascii=False)}"
        )
        if args.consumer is not None:
            line += f"  returned={len(e['returned'])}: {' '.join(e['returned'])}"
        print(line + f"  correlation={e['correlation_id']}")
    print(f"{len(entries)} audit record(s)", file=sys.stderr)
    return 0


def cmd_sla_report(args: argparse.Namespace) -> int:
    import datetime as dt

    from ntjp_producer.ops.report import report
    from ntjp_producer.storage import db

    s = _settings(args, service=args.service)
    if args.month:
        if args.from_ or args.to:
            raise ValueError("give --month, or --from and --to, not both")
        try:
            first = dt.date.fromisoformat(args.month + "-01")
        except ValueError:
            raise ValueError("--month is YYYY-MM, e.g. 2026-11") from None
        last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    else:
        if not (args.from_ and args.to):
            raise ValueError("give --month YYYY-MM, or --from and --to")
        try:
            first, last = dt.date.fromisoformat(args.from_), dt.date.fromisoformat(args.to)
        except ValueError:
            raise ValueError("--from and --to are dates, YYYY-MM-DD") from None
    if last < first:
        raise ValueError("--to is before --from")
    db.migrate(s.db)
    print(report(db.engine_for(s.db), args.service, first, last, s, args.format))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from ntjp_producer.conformance import probe
    from ntjp_producer.transport.tls import client_context

    s = _settings(args, tls_dir=args.tls_dir)
    if args.timeout <= 0:
        raise ValueError("--timeout must be more than 0 seconds")
    context = client_context(s.tls_path, args.client)  # a missing file: one clear line, exit 2
    logical_address = args.logical_address or s.logical_addresses[0]
    ok = probe.run(args.url, context, logical_address=logical_address, timeout=args.timeout)
    return 0 if ok else EXIT_CHECK_FAILED


def cmd_serve(args: argparse.Namespace) -> int:
    from ntjp_producer import app
    from ntjp_producer.storage import db

    s = _settings(
        args,
        service=args.service,
        bind=args.bind,
        tls_dir=args.tls_dir,
        logical_addresses=args.logical_address,
        workers=args.workers,
        max_body_bytes=args.max_body_bytes,
        base_url=args.base_url,
        consumers=args.consumers,
        ops_bind=args.ops_bind,
    )
    _check_bind(s.bind)
    if s.ops_bind:
        _check_bind(s.ops_bind)
    db.configure_timeouts(s.db_lock_timeout, s.db_statement_timeout)
    try:
        server = app.server(s)  # checks the certificates before anything is printed
    except FileNotFoundError as exc:
        print(f"ntjp-producer: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if s.service == "hosp":
        from ntjp_producer.hosp.access import load_registry

        registry = load_registry(s.consumers_path)  # RegistryError (a ValueError): one clear line
        print(f"HoSp consumers from {s.consumers_path}: {len(registry.consumers)} registered, "
              f"{len(registry.platform)} platform certificate(s)")
    _ensure_sqlite_dir(s.db)
    db.migrate(s.db)
    db.engine_for(s.db).dispose()  # the workers fork from here; none may inherit a connection
    _print_howto(s)
    server.run()
    return 0


def _check_bind(bind: str) -> None:
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--bind must be HOST:PORT, e.g. 127.0.0.1:8443, not '{bind}'")


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


_GETVERSIONS = (
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
    '<LogicalAddress xmlns="urn:riv:itintegration:registry:1">{la}</LogicalAddress></s:Header><s:Body>'
    '<GetVersions xmlns="urn:riv:processmanagement:decisionsupport:insurancemedicinedecisionsupport:'
    'GetVersionsResponder:1"/></s:Body></s:Envelope>'
)


_HOSP_SEARCH = (
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
    '<LogicalAddress xmlns="urn:riv:itintegration:registry:1">{la}</LogicalAddress></s:Header><s:Body>'
    '<SearchHealthcareProfessionals xmlns="urn:riv:strategicresourcemanagement:persons:healthcareprofessional:'
    'SearchHealthcareProfessionalsResponder:1"><surname>öst</surname><maxResults>3</maxResults>'
    "</SearchHealthcareProfessionals></s:Body></s:Envelope>"
)


def _print_howto(s: settings_mod.Settings) -> None:
    host, _, port = s.bind.rpartition(":")
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    if s.service == "hosp":
        t = s.tls_path
        la = s.logical_addresses[0]
        print(
            f"""
ntjp-producer {__version__}: serving HOSP at https://{shown}:{port} (mutual TLS, logical address {la})
  WSDLs:  https://{shown}:{port}/GetHealthcareProfessional/1/rivtabp21?wsdl
          (also SearchHealthcareProfessionals, PingForConfiguration)
  Each call is audited; `ntjp-producer hosp audit --consumer HSAID --db ...` shows them.
  Operations: http://{s.ops_bind}/ (status page), /metrics (Prometheus), /health
  Search as IVO:
  curl --cacert {t}/ca.pem --cert {t}/clients/ivo.pem --key {t}/clients/ivo-key.pem \\
    -H 'Content-Type: text/xml; charset=utf-8' https://{shown}:{port}/SearchHealthcareProfessionals/1/rivtabp21 \\
    --data '{_HOSP_SEARCH.format(la=la)}'
""",
            flush=True,
        )
        return
    if s.service == "fmb-public":
        print(
            f"""
ntjp-producer {__version__}: serving the FMB JSON API read-only at http://{shown}:{port}/fmb/ (plain HTTP)
  curl http://{shown}:{port}/fmb/typfall?inlinehtmlmarkup=true   (OpenAPI: /fmb/openapi.json)
""",
            flush=True,
        )
        return
    base = f"https://{shown}:{port}"
    t = s.tls_path
    la = s.logical_addresses[0]
    print(
        f"""
ntjp-producer {__version__}: serving {s.service.upper()} at {base} (mutual TLS, logical address {la})
  WSDLs:  {base}/GetFmb/1/rivtabp21?wsdl  (also GetDiagnosInformation, GetVersions, PingForConfiguration)
  Operations: http://{s.ops_bind}/ (status page), /metrics (Prometheus), /health

Call it with curl and the dev client certificate:
  curl --cacert {t}/ca.pem --cert {t}/clients/region.pem --key {t}/clients/region-key.pem \\
    -H 'Content-Type: text/xml; charset=utf-8' {base}/GetVersions/1/rivtabp21 --data \\
    '{_GETVERSIONS.format(la=la)}'

Or with zeep:
  import requests, zeep
  session = requests.Session()
  session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify
  session.verify = "{t}/ca.pem"
  session.cert = ("{t}/clients/region.pem", "{t}/clients/region-key.pem")
  client = zeep.Client("{base}/GetFmb/1/rivtabp21?wsdl", transport=zeep.Transport(session=session))
  print(client.service.GetFmb(_soapheaders={{"LogicalAddress": "{la}"}}, diagnosKod=[{{"code": "J20"}}]))

Check it as a generated consumer reads it (the deployed wire shape, docs/fmb-wire-format.md):
  ntjp-producer check {base} --tls-dir {t}

The same data as JSON (Socialstyrelsen's open FMB API; OpenAPI at {base}/fmb/openapi.json):
  curl --cacert {t}/ca.pem --cert {t}/clients/region.pem --key {t}/clients/region-key.pem \
    '{base}/fmb/typfall?diagnoskod=J20&inlinehtmlmarkup=true'
""",
        flush=True,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ntjp-producer",
        description="Socialstyrelsen's RIV-TA producer: serve, import, certificates and database.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve a product with gunicorn: mutual TLS (plain HTTP for fmb-public)")
    p.add_argument(
        "--service",
        choices=["fmb", "fmb-public", "hosp"],
        help="which product (default fmb); fmb-public: FMB's JSON API alone, read-only, plain HTTP",
    )
    _add_db(p)
    p.add_argument("--bind", help="HOST:PORT (default 127.0.0.1:8443)")
    p.add_argument("--tls-dir", help="folder with ca.pem, server.pem, server-key.pem (default var/tls)")
    p.add_argument("--logical-address", action="append", help="logical address to answer (repeatable)")
    p.add_argument("--workers", type=int, help="gunicorn worker processes (default 2)")
    p.add_argument("--max-body-bytes", type=int, help="largest request accepted (default 1 MiB)")
    p.add_argument("--base-url", help="own base URL in JSON API links (default: from the request's Host)")
    p.add_argument("--consumers", help="HoSp consumer registry, TOML (default: consumers.toml in the TLS dir)")
    p.add_argument("--ops-bind", help="metrics and status page, plain HTTP (default 127.0.0.1:9100; '' for none)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "check",
        help="call a running FMB producer as a consumer would and check its answers against the deployed shapes",
        description="Calls GetFmb, GetDiagnosInformation, GetVersions and PingForConfiguration over mutual TLS at "
        "the standard RIV-TA paths under URL, holds every answer against the shape Socialstyrelsen's deployed "
        "producer answered, and prints one line per check and a verdict. Exit code 0 only when every check "
        "passes, 1 when one fails, 2 for a usage error.",
    )
    p.add_argument("url", help="the producer's base URL, e.g. https://127.0.0.1:8443")
    p.add_argument("--tls-dir", help="folder with ca.pem and clients/NAME.pem, NAME-key.pem (default var/tls)")
    p.add_argument("--client", default="region", help="the client certificate clients/NAME.pem (default region)")
    p.add_argument("--logical-address", help="the producer's logical address (default SE2021000555)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per call (default 60)")
    p.add_argument("--config", help="settings file (TOML, section [producer])")
    p.set_defaults(func=cmd_check)

    certs = sub.add_parser("certs", help="development certificates").add_subparsers(dest="sub", required=True)
    p = certs.add_parser("init", help="write a dev CA, server and client certificates")
    p.add_argument("dir")
    p.add_argument("--force", action="store_true", help="replace an existing set")
    p.set_defaults(func=cmd_certs_init)
    p = certs.add_parser("crl", help="sign a new revocation list for the dev CA (serving producers take it up)")
    p.add_argument("dir")
    p.add_argument("--revoke", action="append", default=[], metavar="NAME", help="a client (clients/NAME.pem)")
    p.set_defaults(func=cmd_certs_crl)

    dbp = sub.add_parser("db", help="database schema, backup and restore").add_subparsers(dest="sub", required=True)
    p = dbp.add_parser("upgrade", help="migrate the database to the newest schema")
    _add_db(p)
    p.set_defaults(func=cmd_db_upgrade)
    p = dbp.add_parser("backup", help="back the database up: SQLite to a file, PostgreSQL with pgBackRest")
    p.add_argument("dest", nargs="?", metavar="DEST", help="SQLite: the backup file to write")
    p.add_argument("--type", choices=("full", "diff", "incr"), default="full", help="PostgreSQL: pgBackRest's type")
    _add_db(p)
    p.set_defaults(func=cmd_db_backup)
    p = dbp.add_parser("restore", help="bring a backup back: an SQLite file, or PostgreSQL to a moment")
    p.add_argument("backup_file", nargs="?", metavar="BACKUP", help="SQLite: the backup file")
    p.add_argument("--replace", action="store_true", help="SQLite: overwrite the existing database file")
    p.add_argument("--pg-data", metavar="FOLDER", help="PostgreSQL: a new, empty data folder to restore into")
    p.add_argument("--to", metavar="TIME", help="PostgreSQL: the moment, e.g. '2026-12-01 14:03:00+01'")
    _add_db(p)
    p.set_defaults(func=cmd_db_restore)

    fmb = sub.add_parser("fmb", help="FMB data").add_subparsers(dest="sub", required=True)
    p = fmb.add_parser("import", help="import a release: a folder in the open API's format, or the open API's URL")
    p.add_argument("release_dir", metavar="FOLDER_OR_URL",
                   help="a release folder, or an open-API base URL (https://api.socialstyrelsen.se/fmb)")  # fmt: skip
    _add_db(p)
    p.set_defaults(func=cmd_fmb_import)

    hosp = sub.add_parser("hosp", help="HoSp register").add_subparsers(dest="sub", required=True)
    p = hosp.add_parser("import", help="load an extract (JSON Lines) into the register, all or nothing")
    p.add_argument("extract", help="JSON Lines file, one person a line (docs/hosp-contract.md)")
    p.add_argument("--delta", action="store_true", help="upsert and delete persons instead of replacing all")
    _add_db(p)
    p.set_defaults(func=cmd_hosp_import)
    p = hosp.add_parser("generate", help="write a synthetic register extract to standard output")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_hosp_generate)
    p = hosp.add_parser("audit", help="who looked at a person, or what a consumer looked at")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--person", metavar="PNR", help="personal identity number, 12 digits")
    who.add_argument("--consumer", metavar="HSAID", help="the consumer's HSA-id")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_db(p)
    p.set_defaults(func=cmd_hosp_audit)

    sla = sub.add_parser("sla", help="service level figures").add_subparsers(dest="sub", required=True)
    p = sla.add_parser("report", help="per contract and day: calls, p50/p95/p99, share within target, availability")
    p.add_argument("--service", choices=["fmb", "hosp"], required=True)
    p.add_argument("--month", metavar="YYYY-MM", help="the calendar month (the SLA's period)")
    p.add_argument("--from", dest="from_", metavar="DATE", help="first day, YYYY-MM-DD")
    p.add_argument("--to", metavar="DATE", help="last day, YYYY-MM-DD (inclusive)")
    p.add_argument("--format", choices=["text", "json", "html"], default="text")
    _add_db(p)
    p.set_defaults(func=cmd_sla_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError) as exc:
        print(f"ntjp-producer: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SQLAlchemyError as exc:
        # The driver's first line says what is wrong (bad URL, refused, bad password) without a trace.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"ntjp-producer: database not usable: {reason}", file=sys.stderr)
        return EXIT_USAGE
