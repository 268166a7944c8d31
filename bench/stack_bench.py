"""FMB and HoSp against the floor of their own server stack: calls/s, p50/p95/p99 and the ratio.

For each scenario the producer answers one request first; that answer becomes the floor's canned
body (bench/floor.py: the same gunicorn worker, threads, TLS and certificate rules). Then the same
keep-alive mutual-TLS clients (one process each) drive the producer and the floor in turns,
interleaved, ``--rounds`` times each, for ``--seconds`` a turn, after an uncounted ``--warmup`` turn
of each. Absolute figures drift on a 2-core machine shared by clients and servers; the ratios hold.

    .venv/bin/python bench/stack_bench.py [--persons 50000] [--seconds 8] [--rounds 2] [--db URL]
    make bench     # SQLite, then a PostgreSQL server it starts (scripts/with-postgres.sh)
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.helpers import LATEST, free_port, new_database, start_server, stop_server  # noqa: E402

FMB = "urn:riv:processmanagement:decisionsupport:insurancemedicinedecisionsupport"
HOSP = "urn:riv:strategicresourcemanagement:persons:healthcareprofessional"


def envelope(responder: str, contract: str, inner: str = "") -> bytes:
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
        '<LogicalAddress xmlns="urn:riv:itintegration:registry:1">SE2021000555</LogicalAddress></s:Header>'
        f'<s:Body><r:{contract} xmlns:r="{responder}:{contract}Responder:1" xmlns:c="{responder}:1">{inner}'
        f"</r:{contract}></s:Body></s:Envelope>"
    ).encode()


def _drive(job: tuple) -> list[float]:
    """One client: a keep-alive mutual-TLS connection, calls back to back until the deadline."""
    port, tls_dir, client, path, bodies, until = job
    ctx = ssl.create_default_context(cafile=f"{tls_dir}/ca.pem")
    ctx.load_cert_chain(f"{tls_dir}/clients/{client}.pem", f"{tls_dir}/clients/{client}-key.pem")
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    latencies, i = [], 0
    while time.monotonic() < until:
        body = bodies[i % len(bodies)]
        i += 1
        started = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
            ok = False
        if ok:
            latencies.append(time.perf_counter() - started)
    conn.close()
    return latencies


def _turn(port: int, tls_dir: Path, client: str, path: str, bodies: list[bytes], clients: int, seconds: float):
    until = time.monotonic() + seconds
    jobs = [(port, str(tls_dir), client, path, bodies[i::clients] or bodies, until) for i in range(clients)]
    with multiprocessing.Pool(clients) as pool:
        return [lat for result in pool.map(_drive, jobs) for lat in result]


def _figures(latencies: list[float], seconds: float) -> dict:
    if not latencies:
        return {"rate": 0.0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"rate": len(latencies) / seconds, "p50": q[49] * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000}


def _floor(tls_dir: Path, body: bytes, work: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    path = work / f"canned-{port}.xml"
    path.write_bytes(body)
    process = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "floor.py"), "--tls-dir", str(tls_dir), "--bind", f"127.0.0.1:{port}",
         "--body", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    ctx = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
    ctx.load_cert_chain(str(tls_dir / "clients" / "region.pem"), str(tls_dir / "clients" / "region-key.pem"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
            conn.request("POST", "/x", body=b"x")
            conn.getresponse().read()
            conn.close()
            return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the floor server did not start")


def scenario(name, server, client, contract, bodies, clients, args, work) -> dict:
    path = f"/{contract}/1/rivtabp21"
    port = int(server.base_url.rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=str(server.tls_dir / "ca.pem"))
    ctx.load_cert_chain(str(server.tls_dir / "clients" / f"{client}.pem"),
                        str(server.tls_dir / "clients" / f"{client}-key.pem"))  # fmt: skip
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
    conn.request("POST", path, body=bodies[0], headers={"Content-Type": "text/xml; charset=utf-8"})
    reply = conn.getresponse()
    canned = reply.read()
    conn.close()
    assert reply.status == 200, canned[:300]
    floor, floor_port = _floor(server.tls_dir, canned, work)
    producer_lat, floor_lat = [], []
    try:
        # A turn of each, not counted: both servers' workers have answered, their caches are warm,
        # and the database has settled after the import, before the first turn that counts.
        _turn(port, server.tls_dir, client, path, bodies, clients, args.warmup)
        _turn(floor_port, server.tls_dir, client, path, bodies[:1], clients, args.warmup)
        for _ in range(args.rounds):
            producer_lat += _turn(port, server.tls_dir, client, path, bodies, clients, args.seconds)
            floor_lat += _turn(floor_port, server.tls_dir, client, path, bodies[:1], clients, args.seconds)
    finally:
        floor.terminate()
        floor.wait(timeout=15)
    total = args.seconds * args.rounds
    p, f = _figures(producer_lat, total), _figures(floor_lat, total)
    row = {"scenario": name, "clients": clients, "bytes": len(canned), "producer": p, "floor": f,
           "ratio": p["rate"] / f["rate"] if f["rate"] else float("nan")}  # fmt: skip
    print(f"{name:58s} {clients:3d} {len(canned):>9,d} {p['rate']:9.1f} {f['rate']:9.1f} {row['ratio']:7.1%} "
          f"{p['p50']:8.1f} {p['p95']:8.1f} {p['p99']:8.1f}", flush=True)  # fmt: skip
    return row


def resident_mb(server) -> list[float]:
    """Resident memory of each of the producer's workers (the gunicorn master's children)."""
    pids = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout.split()
    sizes = []
    for pid in pids:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(status.split("VmRSS:")[1].split()[0]) / 1024)
    return sizes


def run_fmb(url: str, args, work: Path) -> list[dict]:
    server = start_server(url, work / "tls", work / "fmb.log")
    try:
        k40 = "<r:diagnosKod><c:code>K40</c:code></r:diagnosKod>"
        rows = [
            scenario("FMB GetFmb without parameters (all 439)", server, "region", "GetFmb",
                     [envelope(FMB, "GetFmb")], 4, args, work),
            scenario("FMB GetFmb for K40", server, "region", "GetFmb", [envelope(FMB, "GetFmb", k40)], 8, args, work),
            scenario("FMB GetVersions", server, "region", "GetVersions", [envelope(FMB, "GetVersions")], 8, args, work),
        ]  # fmt: skip
        print(f"{'':58s} FMB workers resident, caches warm: {', '.join(f'{mb:.0f} MB' for mb in resident_mb(server))}")
        return rows
    finally:
        stop_server(server)


def run_hosp(url: str, sample: list[dict], args, work: Path) -> list[dict]:
    server = start_server(url, work / "tls", work / "hosp.log", service="hosp")
    try:
        gets = [envelope(HOSP, "GetHealthcareProfessional",
                         f"<r:personalIdentityNumber>{p['personnummer']}</r:personalIdentityNumber>") for p in sample]
        by_name = [envelope(HOSP, "SearchHealthcareProfessionals",
                            f"<r:birthDate>{p['personnummer'][:8]}</r:birthDate><r:surname>{p['efternamn'][:3]}</r:surname>")
                   for p in sample]
        by_place = [envelope(HOSP, "SearchHealthcareProfessionals",
                             f"<r:professionCode>SJ</r:professionCode><r:municipalityCode>{p['folkbokforing']['kommun']}"
                             "</r:municipalityCode>") for p in sample[:200]]  # fmt: skip
        rows = [
            scenario("HoSp Get (public provider, audited)", server, "region", "GetHealthcareProfessional",
                     gets, 4, args, work),
            scenario("HoSp Search surname + birth date (public provider)", server, "region",
                     "SearchHealthcareProfessionals", by_name, 4, args, work),
            scenario("HoSp Search profession + municipality (IVO)", server, "ivo",
                     "SearchHealthcareProfessionals", by_place, 4, args, work),
        ]  # fmt: skip
        print(f"{'':58s} HoSp workers resident: {', '.join(f'{mb:.0f} MB' for mb in resident_mb(server))}")
        return rows
    finally:
        stop_server(server)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=50_000, help="HoSp register size (synthetic)")
    ap.add_argument("--seconds", type=float, default=8.0, help="seconds per turn")
    ap.add_argument("--rounds", type=int, default=2, help="producer/floor turns per scenario")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of an uncounted turn of each first")
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite",
                    help="postgres: NTJP_TEST_DATABASE_URL (scripts/with-postgres.sh sets it)")  # fmt: skip
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--only", choices=["fmb", "hosp"], help="run one product's scenarios")
    args = ap.parse_args()
    if args.db == "postgres" and not os.environ.get("NTJP_TEST_DATABASE_URL"):
        print("stack_bench: --db postgres needs NTJP_TEST_DATABASE_URL (run under scripts/with-postgres.sh)")
        return 2
    if args.db == "sqlite":
        os.environ.pop("NTJP_TEST_DATABASE_URL", None)
    # Harvest protection stays on (its check is part of each call's cost) with a quota no run reaches.
    os.environ["NTJP_HARVEST_QUOTA_PERSONS"] = "100000000"

    from ntjp_producer.fmb.importer import import_release
    from ntjp_producer.storage import db
    from ntjp_producer.transport import certs

    work = Path(tempfile.mkdtemp(prefix="stack-bench-"))
    certs.init(work / "tls")
    fmb_url, drop_fmb = new_database(work)
    db.migrate(fmb_url)
    import_release(db.session_factory(fmb_url), LATEST)
    hosp_url, drop_hosp = new_database(work)
    extract = work / "register.jsonl"
    cli = [sys.executable, "-m", "ntjp_producer"]
    with open(extract, "wb") as out:
        subprocess.run([*cli, "hosp", "generate", "--count", str(args.persons), "--seed", "7"], stdout=out, check=True)
    subprocess.run([*cli, "hosp", "import", str(extract), "--db", hosp_url], check=True, stdout=subprocess.DEVNULL)
    people = [json.loads(line) for line in extract.read_text().splitlines()]
    rng = random.Random(7)  # noqa: S311 - a repeatable sample, not a secret
    sample = rng.sample(people, min(2000, len(people)))

    print(f"database {args.db}; HoSp register {args.persons:,} persons; {args.rounds} x {args.seconds:g} s turns, "
          "producer and floor interleaved; 2 gunicorn workers each, mutual TLS, keep-alive\n")  # fmt: skip
    print(f"{'scenario':58s} {'cl':>3s} {'bytes':>9s} {'prod/s':>9s} {'floor/s':>9s} {'ratio':>7s} "
          f"{'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s}")  # fmt: skip
    rows = []
    if args.only != "hosp":
        rows += run_fmb(fmb_url, args, work)
    if args.only != "fmb":
        rows += run_hosp(hosp_url, sample, args, work)
    drop_fmb()
    drop_hosp()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
