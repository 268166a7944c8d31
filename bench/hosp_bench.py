"""HoSp at register scale: generate, import, then Get and Search under concurrent load over mutual TLS.

    .venv/bin/python bench/hosp_bench.py [--count 500000] [--db URL] [--concurrency 2,4] [--requests 3000]

Prints the generate and import times, then p50/p95/p99 latency and throughput of each scenario:
GetHealthcareProfessional by personal identity number (as a public care provider),
SearchHealthcareProfessionals by surname + birth date (as a public care provider), and by
profession + municipality (as IVO, which answers up to 100 persons with every item). Each call is
a real SOAP request over mutual TLS to a real gunicorn server and is audited like any other; the
target is p95 under 50 ms. The register and audit trail go to a throwaway database unless --db is
given (a PostgreSQL URL measures the production path).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers import start_server, stop_server  # noqa: E402

LA = "SE2021000555"
HOSP = "urn:riv:strategicresourcemanagement:persons:healthcareprofessional"


def envelope(contract: str, inner: str) -> bytes:
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
        f'<LogicalAddress xmlns="urn:riv:itintegration:registry:1">{LA}</LogicalAddress></s:Header><s:Body>'
        f'<{contract} xmlns="{HOSP}:{contract}Responder:1">{inner}</{contract}></s:Body></s:Envelope>'
    ).encode()


def sample(extract: Path, n: int, seed: int) -> list[dict]:
    """n persons spread over the file (reservoir sample), for realistic questions."""
    rng = random.Random(seed)  # noqa: S311
    chosen: list[dict] = []
    with open(extract, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if len(chosen) < n:
                chosen.append(json.loads(line))
            elif (j := rng.randrange(i + 1)) < n:
                chosen[j] = json.loads(line)
    return chosen


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _client(job: tuple[str, str, str, str, list[bytes]]) -> tuple[list[float], int]:
    """One consumer: its own process, TLS session and keep-alive connection."""
    base_url, tls_dir, client, contract, bodies = job
    session = requests.Session()
    session.trust_env = False
    session.verify = f"{tls_dir}/ca.pem"
    session.cert = (f"{tls_dir}/clients/{client}.pem", f"{tls_dir}/clients/{client}-key.pem")
    url = f"{base_url}/{contract}/1/rivtabp21"
    latencies, errors = [], 0
    for body in bodies:
        t0 = time.perf_counter()
        r = session.post(url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
        latencies.append((time.perf_counter() - t0) * 1000)
        errors += r.status_code != 200
    return latencies, errors


def load(server, client: str, contract: str, bodies: list[bytes], concurrency: int) -> dict:
    """``concurrency`` consumers in separate processes, each sending its share back to back."""
    tls = str(server.tls_dir)
    jobs = [(server.base_url, tls, client, contract, bodies[i::concurrency]) for i in range(concurrency)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(concurrency) as pool:
        results = pool.map(_client, jobs)
    wall = time.perf_counter() - started
    latencies = [x for lat, _ in results for x in lat]
    errors = sum(e for _, e in results)
    return {
        "calls": len(latencies),
        "errors": errors,
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "per_s": round(len(latencies) / wall, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", help="database URL (default: a throwaway SQLite file)")
    ap.add_argument("--concurrency", default="2,4", help="concurrent consumers, e.g. 2 or 2,4 (default)")
    ap.add_argument("--requests", type=int, default=3000, help="calls per scenario")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--extract", help="use this extract instead of generating one")
    ap.add_argument("--no-import", action="store_true", help="the database already holds --extract")
    args = ap.parse_args()

    from ntjp_producer.hosp.audit import AuditTrail
    from ntjp_producer.storage import db
    from ntjp_producer.transport import certs

    work = Path(tempfile.mkdtemp(prefix="hosp-bench-"))
    url = args.db or f"sqlite:///{work / 'hosp.db'}"
    certs.init(work / "tls")
    cli = [sys.executable, "-m", "ntjp_producer"]
    extract = Path(args.extract) if args.extract else work / "register.jsonl"

    if not args.extract:
        t0 = time.perf_counter()
        with open(extract, "w", encoding="utf-8") as out:
            subprocess.run([*cli, "hosp", "generate", "--count", str(args.count), "--seed", str(args.seed)],
                           stdout=out, check=True)  # fmt: skip
        generated = time.perf_counter() - t0
        print(f"generate {args.count} persons: {generated:.1f} s ({extract.stat().st_size / 1e6:.0f} MB)")
    if not args.no_import:
        t0 = time.perf_counter()
        subprocess.run([*cli, "hosp", "import", str(extract), "--db", url], check=True)
        imported = time.perf_counter() - t0
        print(f"import (full, one transaction, validated): {imported:.1f} s ({args.count / imported:,.0f} persons/s)")

    people = sample(extract, 2000, args.seed)
    rng = random.Random(args.seed)  # noqa: S311
    gets, by_name, by_place = [], [], []
    for _ in range(args.requests):
        p = rng.choice(people)
        gets.append(envelope("GetHealthcareProfessional", f"<personalIdentityNumber>{p['personnummer']}"
                                                          "</personalIdentityNumber>"))  # fmt: skip
        born = p["personnummer"][:6] + f"{int(p['personnummer'][6:8]) % 60:02d}"
        by_name.append(envelope("SearchHealthcareProfessionals",
                                f"<birthDate>{born}</birthDate><surname>{p['efternamn']}</surname>"))  # fmt: skip
        q = rng.choice([x for x in people if x["legitimationer"]])
        by_place.append(envelope("SearchHealthcareProfessionals",
                                 f"<professionCode>{q['legitimationer'][0]['yrke']}</professionCode>"
                                 f"<municipalityCode>{q['folkbokforing']['kommun']}</municipalityCode>"))  # fmt: skip

    trail = AuditTrail(db.session_factory(url))
    audits_before = trail.count()
    log_path = work / "server.log"
    # Harvest protection stays on (its quota check is part of every call's cost) with a quota no run reaches.
    os.environ["NTJP_HARVEST_QUOTA_PERSONS"] = "100000000"
    server = start_server(url, work / "tls", log_path, workers=args.workers, service="hosp")
    scenarios = [
        ("Get by personnummer (public provider)", "region", "GetHealthcareProfessional", gets),
        ("Search surname + birth date (public provider)", "region", "SearchHealthcareProfessionals", by_name),
        ("Search profession + municipality (IVO)", "ivo", "SearchHealthcareProfessionals", by_place),
    ]
    levels = [int(c) for c in str(args.concurrency).split(",")]
    results: list[tuple[int, str, dict, list[float]]] = []
    calls = 0
    try:
        warm = server.session("region")
        for body in gets[:50]:
            warm.post(f"{server.base_url}/GetHealthcareProfessional/1/rivtabp21", data=body,
                      headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)  # fmt: skip
        calls += 50
        for level in levels:
            for name, client, contract, bodies in scenarios:
                offset = log_path.stat().st_size
                r = load(server, client, contract, bodies, level)
                calls += r["calls"]
                results.append((level, name, r, _server_durations(log_path, offset)))
    finally:
        stop_server(server)
    audited = trail.count() - audits_before
    print(f"\n{args.workers} gunicorn workers, mutual TLS, keep-alive; each consumer a separate process.")
    print("client: latency as the consumer measured it; server: request read to response written (its log)")
    print(f"{'clients':>7}  {'scenario':46} {'calls':>6} {'err':>4} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'calls/s':>8} {'server p95':>10}")  # fmt: skip
    verdicts = {}
    for level, name, r, server_ms in results:
        server_p95 = percentile(server_ms, 95) if server_ms else float("nan")
        verdicts[level] = max(verdicts.get(level, 0.0), r["p95_ms"])
        print(f"{level:>7}  {name:46} {r['calls']:>6} {r['errors']:>4} {r['p50_ms']:>7} {r['p95_ms']:>7} "
              f"{r['p99_ms']:>7} {r['per_s']:>8} {server_p95:>10.1f}")  # fmt: skip
    print(f"\naudit records written: {audited} for {calls} calls")
    for level, worst in verdicts.items():
        print(f"{level} concurrent consumers: worst client p95 {worst} ms (target < 50 ms): "
              f"{'MET' if worst < 50 else 'NOT MET'}")  # fmt: skip
    return 0 if all(w < 50 for w in verdicts.values()) else 1


def _server_durations(log_path: Path, offset: int) -> list[float]:
    durations = []
    with open(log_path, encoding="utf-8", errors="replace") as fh:
        fh.seek(offset)
        for line in fh:
            if '"message": "call"' in line:
                with contextlib.suppress(ValueError, KeyError):
                    durations.append(json.loads(line)["duration_ms"])
    return durations


if __name__ == "__main__":
    raise SystemExit(main())
