"""The topology's promises, under steady load through HAProxy (issue 12's acceptance).

The tests share one cluster and run in this order, each leaving it whole for the next: the status
document, a rolling restart, a release imported under load, two nodes killed, the database primary
lost. Each prints its figures (pytest -s, or in the failure report).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import subprocess
import time
from pathlib import Path

from tests.cluster.load import FMB, HOSP, Job, Load, envelope, figures

REPO = Path(__file__).resolve().parents[2]
LATEST = Path(os.environ.get("NTJP_SHARED", REPO.parent / "shared")) / "data" / "fmb" / "releases" / "latest"
PRODUCER = REPO / ".venv" / "bin" / "ntjp-producer"


def persons(cluster, n: int = 200) -> list[dict]:
    with open(cluster.root / "hosp-register.jsonl") as f:
        return [json.loads(next(f)) for _ in range(n)]


def jobs(cluster, status: dict, *, fmb_all: bool = False) -> list[Job]:
    people = persons(cluster)
    k40 = envelope(FMB, "GetFmb", "<r:diagnosKod><c:code>K40</c:code></r:diagnosKod>")
    fmb = [envelope(FMB, "GetFmb")] if fmb_all else [k40]
    gets = [envelope(HOSP, "GetHealthcareProfessional",
                     f"<r:personalIdentityNumber>{p['personnummer']}</r:personalIdentityNumber>") for p in people]
    searches = [envelope(HOSP, "SearchHealthcareProfessionals",
                         f"<r:birthDate>{p['personnummer'][:8]}</r:birthDate><r:surname>{p['efternamn']}</r:surname>")
                for p in people if int(p["personnummer"][6:8]) <= 31]  # fmt: skip (coordination numbers: no birth date)
    urls = status["urls"]
    return [
        Job("fmb", urls["fmb"], "GetFmb", fmb),
        Job("fmb", urls["fmb"], "GetFmb", fmb),
        Job("hosp-get", urls["hosp"], "GetHealthcareProfessional", gets),
        Job("hosp-get", urls["hosp"], "GetHealthcareProfessional", gets[100:] + gets[:100]),
        Job("hosp-search", urls["hosp"], "SearchHealthcareProfessionals", searches),
    ]


def test_status_lists_every_component(cluster):
    status = cluster.status()
    kinds = {}
    for c in status["components"]:
        kinds.setdefault(c["kind"], []).append(c)
        assert c["running"], c
        assert c["pid"], c
    assert len(kinds["haproxy"]) == 1 and len(kinds["etcd"]) == 1
    assert len(kinds["patroni"]) == 2
    assert sorted(c["role"] for c in kinds["postgresql"]) == ["leader", "sync_standby"]
    assert sorted(c["name"] for c in kinds["producer"]) == ["fmb1", "fmb2", "hosp1", "hosp2"]
    assert all(c["health"] == "ok" for c in kinds["producer"])
    for c in kinds["postgresql"]:
        assert Path(c["data_dir"], "PG_VERSION").exists()
    assert Path(status["tls_dir"], "ca.pem").exists()
    assert Path(status["client_certificates"], "region.pem").exists()
    assert status["urls"]["fmb"].startswith("https://127.0.0.1:")


def test_rolling_restart_of_all_four_nodes_loses_no_call(cluster):
    status = cluster.status()
    with Load(jobs(cluster, status), Path(status["tls_dir"])) as load:
        load.wait_for_calls(50)
        started = time.monotonic()
        pids = {}
        for node in ("fmb1", "fmb2", "hosp1", "hosp2"):
            before = cluster.component(node)["pid"]
            cluster.run("node", node, "restart")
            pids[node] = (before, cluster.component(node)["pid"])
            time.sleep(1)  # HAProxy sees the new node healthy (rise 2 x 500 ms) before the next goes
        ended = time.monotonic()
        time.sleep(1)
    during = load.between(started, ended)
    print(f"\nrolling restart, {ended - started:.1f} s:\n{figures(during)}")
    assert all(old != new for old, new in pids.values()), pids
    assert {r.kind for r in during} == {"fmb", "hosp-get", "hosp-search"}
    assert len(during) > 200
    failed = [r for r in load.results if not r.ok]
    assert failed == [], failed[:5]


def test_a_release_imported_under_load_is_answered_wholly_from_one_release(cluster):
    status = cluster.status()
    fmb_jobs = [j for j in jobs(cluster, status, fmb_all=True) if j.kind == "fmb"]
    url = status["database_urls"]["fmb"]
    with Load(fmb_jobs, Path(status["tls_dir"])) as load:
        load.wait_for_calls(10)
        before = {r.digest for r in load.results if r.ok}
        imported = subprocess.run([str(PRODUCER), "fmb", "import", str(LATEST), "--db", url],
                                  capture_output=True, text=True)  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        mark = time.monotonic()
        load.wait_for_calls(len(load.results) + 20)
        time.sleep(1)
    after = {r.digest for r in load.between(mark + 0.5, time.monotonic()) if r.ok}
    seen = {r.digest for r in load.results if r.ok}
    print(f"\nimport under load:\n{figures(load.results)}\n{len(seen)} distinct answers")
    assert len(before) == 1 and len(after) == 1 and before != after, (before, after)
    assert seen == before | after, "an answer that is neither the old release nor the new one"
    assert all(r.ok for r in load.results)


def _answered(url: str, tls_dir: Path, client: str) -> bool:
    """One call on a new connection through HAProxy as ``client``: answered, or refused."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
    ctx.load_cert_chain(str(tls_dir / "clients" / f"{client}.pem"), str(tls_dir / "clients" / f"{client}-key.pem"))
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
    try:
        conn.request("POST", "/GetVersions/1/rivtabp21", body=envelope(FMB, "GetVersions"),
                     headers={"Content-Type": "text/xml; charset=utf-8"})  # fmt: skip
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def test_a_revoked_client_is_refused_and_let_in_again_without_a_restart(cluster):
    status = cluster.status()
    tls_dir, url = Path(status["tls_dir"]), status["urls"]["fmb"]
    pids = {c["name"]: c["pid"] for c in status["components"] if c["kind"] == "producer"}

    def all_(client: str, expected: bool) -> bool:  # several calls, so both FMB nodes answer
        return all(_answered(url, tls_dir, client) is expected for _ in range(6))

    assert all_("socialnamnd", True)
    subprocess.run([str(PRODUCER), "certs", "crl", str(tls_dir), "--revoke", "socialnamnd"], check=True)
    time.sleep(1.5)  # each worker looks at the TLS files at most once a second
    assert all_("socialnamnd", False), "the revoked certificate is still let in"
    assert all_("region", True)
    subprocess.run([str(PRODUCER), "certs", "crl", str(tls_dir)], check=True)
    time.sleep(1.5)
    assert all_("socialnamnd", True), "not let in again after the new list"
    assert {c["name"]: c["pid"] for c in cluster.status()["components"] if c["kind"] == "producer"} == pids


def test_kill_9_of_one_fmb_and_one_hosp_node(cluster):
    status = cluster.status()
    with Load(jobs(cluster, status), Path(status["tls_dir"])) as load:
        load.wait_for_calls(100)
        time.sleep(2)
        killed_at = time.monotonic()
        for node in ("fmb1", "hosp2"):
            os.killpg(cluster.component(node)["pid"], signal.SIGKILL)  # the master and its workers
        time.sleep(12)
        ended = time.monotonic()
    window = load.between(killed_at - 2, ended)
    failed = [r for r in window if not r.ok]
    late = [r for r in failed if r.started > killed_at + 5]
    print(f"\nkill -9 of fmb1 and hosp2 ({ended - killed_at:.0f} s after):\n{figures(window)}\n"
          f"failed after 5 s: {len(late)}")  # fmt: skip
    assert len(failed) <= 0.01 * len(window), figures(window)
    assert late == []
    assert {r.kind for r in window if r.ok and r.started > killed_at + 5} == {"fmb", "hosp-get", "hosp-search"}
    for node in ("fmb1", "hosp2"):
        cluster.run("node", node, "start")


def test_losing_the_database_primary(cluster):
    status = cluster.status()
    old = status["primary"]
    patroni = cluster.component(f"patroni-{old}")
    member = cluster.component(old)
    with Load(jobs(cluster, status), Path(status["tls_dir"]), timeout=30) as load:
        load.wait_for_calls(100)
        time.sleep(2)
        stopped_at = time.monotonic()
        os.kill(patroni["pid"], signal.SIGKILL)  # the host is gone: its failover agent with it
        os.kill(member["pid"], signal.SIGQUIT)  # and its database server (immediate shutdown)
        deadline = stopped_at + 60
        new = None
        while time.monotonic() < deadline:
            new = cluster.status()["primary"]
            if new not in (None, old):
                break
            time.sleep(0.5)
        promoted_at = time.monotonic()
        time.sleep(12)
        ended = time.monotonic()
    window = load.between(stopped_at, ended)
    failed = [r for r in window if not r.ok]
    last_failure = max((r.ended for r in failed), default=stopped_at)
    print(f"\nprimary {old} stopped; {new} promoted after {promoted_at - stopped_at:.1f} s; "
          f"last failed call ended {last_failure - stopped_at:.1f} s after the stop\n{figures(window)}")
    assert new not in (None, old), "the standby was not promoted"
    # Failing, a call fails fast and as a Server fault, never as a hang or a dropped connection.
    assert all(r.status == 500 and r.fault == "Server" for r in failed), {(r.status, r.fault, r.error) for r in failed}
    assert max((r.ended - r.started for r in window), default=0) < 10
    assert last_failure - stopped_at < 30, "calls did not succeed again within 30 s"
    assert [r for r in window if r.started > last_failure] and all(r.ok for r in window if r.started > last_failure)

    # Every HoSp answer a client received has its audit record on the new primary.
    answered = {r.correlation_id for r in load.results if r.ok and r.kind.startswith("hosp")}
    audited = set(query(cluster, new, "ntjp_hosp", "SELECT correlation_id FROM hosp_audit").split())
    missing = answered - audited
    print(f"HoSp answers received {len(answered)}, audited on {new}: {len(answered) - len(missing)}")
    assert answered and not missing, sorted(missing)[:5]


def query(cluster, member: str, database: str, sql: str) -> str:
    state = json.loads((cluster.root / "state.json").read_text())
    port = cluster.base_port + {"pg1": 432, "pg2": 433}[member]
    dsn = f"host=127.0.0.1 port={port} user=postgres password={state['passwords']['postgres']} dbname={database}"
    pg = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))[-1]
    return subprocess.run([str(pg), dsn, "-tAc", sql], capture_output=True, text=True, check=True).stdout

