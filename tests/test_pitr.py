"""Point-in-time restore on PostgreSQL with pgBackRest, the operator's mistake undone.

HoSp answers under load on a server that archives its WAL; a full backup is taken while it does; the
calls go on; the moment T is noted; then a broken-but-accepted delta is imported (the mistake). The
database is restored to T into a new data folder, PostgreSQL started on it, the producer pointed at
it: every audit record of a call answered before T is there, none of a call made after T, and the
register is as it was at T. The commands are the runbook's (tests/runbook.py).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from ntjp_producer.hosp.importer import import_extract
from ntjp_producer.storage import db
from tests.helpers import start_server, stop_server
from tests.hosp_client import HospClient, persons
from tests.runbook import argv

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ntjp_producer", *args], capture_output=True, text=True,
                          timeout=900)  # fmt: skip


def _register(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT pnr, record::text FROM hosp_person ORDER BY pnr").fetchall()


def _audited(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT correlation_id FROM hosp_audit")}


def test_restore_to_the_moment_before_a_bad_import(archive, hosp_extract, tls_dir, tmp_path):
    url = archive.server.url
    db.migrate(url)
    import_extract(db.session_factory(url), str(hosp_extract))
    config = archive.producer_config(url)
    pnrs = [line.split('"personnummer": "')[1][:12] for line in hosp_extract.read_text().splitlines()[:50]]
    server = start_server(url, tls_dir, tmp_path / "server.log", service="hosp")
    calls: list[tuple[float, float, str]] = []  # (sent, answered: wall clock, correlation id)
    stop, errors = threading.Event(), []

    def consumer() -> None:
        try:
            hosp, i = HospClient(server), 0
            while not stop.is_set():
                sent = time.time()
                response = hosp.get(pnrs[i % len(pnrs)], client="ivo")
                assert response.status_code == 200, response.text[:300]
                calls.append((sent, time.time(), response.headers["x-skltp-correlation-id"]))
                i += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=consumer) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)
        backed_up = _cli(*argv("backup PostgreSQL, full", config=str(config)))
        assert backed_up.returncode == 0, backed_up.stderr
        time.sleep(1.0)  # writing goes on after the backup: these records come back from the WAL
        register_at_t = _register(url)
        t_moment = dt.datetime.now(dt.UTC)
        time.sleep(0.5)
        mistake = tmp_path / "wrong.jsonl"
        with open(mistake, "wb") as out:
            subprocess.run([sys.executable, "-m", "ntjp_producer", "hosp", "generate", "--count", "300", "--seed",
                            "99"], stdout=out, check=True)  # fmt: skip
        imported = _cli(*argv("import a HoSp delta", extract=str(mistake), config=str(config)))
        assert imported.returncode == 0, imported.stderr
        assert len(_register(url)) == len(register_at_t) + 300, "the mistake took"
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
        stop_server(server)
    assert not errors, errors
    archive.pgbackrest("check")  # the WAL up to now is archived (the segment holding T included)
    archive.server.stop()  # the incident: the damaged database is taken out of service

    restored = archive.new_server("restored")
    to = t_moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")
    began = time.monotonic()
    result = _cli(*argv("restore PostgreSQL to a moment", config=str(config), pg_data=str(restored.data), to=to))
    assert result.returncode == 0, result.stderr
    restored.start()
    answered = None
    again = start_server(restored.url, tls_dir, tmp_path / "restored.log", service="hosp")
    try:
        answered = persons(HospClient(again).get(pnrs[0], client="ivo"))
        first_call = time.monotonic() - began
    finally:
        stop_server(again)
    assert len(answered) == 1
    print(f"\nrestore to T: {first_call:.1f} s from 'restore begins' to 'first call answered'")

    t = t_moment.timestamp()
    before = {cid for sent, done, cid in calls if done < t}
    after = {cid for sent, done, cid in calls if sent > t}
    audited = _audited(restored.url)
    assert len(before) > 50 and len(after) > 5, (len(before), len(after))
    assert before <= audited, f"{len(before - audited)} acknowledged calls lost"
    assert not audited & after, f"{len(audited & after)} calls made after T came back"
    assert _register(restored.url) == register_at_t, "the register is as it was at T"
