"""The restore drill the specification's promise rests on (HoSp back within 1-24 hours): a
500 000-person register with a million-call audit trail, backed up by pgBackRest, the server lost,
restored into a new data folder to a named moment, PostgreSQL started on it, the producer started on
it. Prints the time from "restore begins" to "first call answered". ``make test-drill``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

import psycopg

from ntjp_producer.hosp.importer import import_extract
from ntjp_producer.storage import db
from tests.helpers import start_server, stop_server
from tests.hosp_client import HospClient, persons
from tests.runbook import argv

PERSONS, AUDITED_CALLS = 500_000, 1_000_000
PROMISE_SECONDS = 3600  # the fast end of the promise; the drill must be well inside it


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ntjp_producer", *args], capture_output=True, text=True,
                          timeout=3600)  # fmt: skip


def _counts(url: str) -> tuple[int, int, int]:
    with psycopg.connect(url) as conn:
        return tuple(conn.execute(
            "SELECT (SELECT count(*) FROM hosp_person), (SELECT count(*) FROM hosp_audit),"
            " (SELECT count(*) FROM hosp_audit_person)").fetchone())  # fmt: skip


def test_restore_drill_on_a_500k_register(archive, tls_dir, tmp_path):
    url = archive.server.url
    db.migrate(url)
    extract = tmp_path / "register.jsonl"
    started = time.monotonic()
    with open(extract, "wb") as out:
        subprocess.run([sys.executable, "-m", "ntjp_producer", "hosp", "generate", "--count", str(PERSONS),
                        "--seed", "500"], stdout=out, check=True)  # fmt: skip
    import_extract(db.session_factory(url), str(extract))
    with psycopg.connect(url) as conn:  # an audit trail as a year of lookups leaves it, written in SQL
        conn.execute(
            "INSERT INTO hosp_audit (at, correlation_id, consumer_hsaid, via_platform, consumer_type, contract,"
            " criteria, returned, outcome)"
            " SELECT now() - make_interval(secs => g), md5(g::text), 'SE2321000016-DEV1', g %% 3 = 0,"
            " 'public_provider', 'GetHealthcareProfessional', '{}'::json, '[]'::json, 'ok'"
            " FROM generate_series(1, %s) g",
            (AUDITED_CALLS,),
        )
        conn.execute(
            "INSERT INTO hosp_audit_person (pnr, audit_id, role)"
            " SELECT p.pnr, a.id, 'returned' FROM hosp_audit a"
            " JOIN (SELECT pnr, row_number() OVER () AS n FROM hosp_person) p ON p.n = a.id %% %s + 1",
            (PERSONS,),
        )
    counts = _counts(url)
    assert counts == (PERSONS, AUDITED_CALLS, AUDITED_CALLS)
    with psycopg.connect(url) as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    print(f"\ndrill register: {PERSONS:,} persons, {AUDITED_CALLS:,} audit records, {size / 2**20:,.0f} MiB "
          f"(built in {time.monotonic() - started:.0f} s)")  # fmt: skip

    config = archive.producer_config(url)
    began = time.monotonic()
    backed_up = _cli(*argv("backup PostgreSQL, full", config=str(config)))
    assert backed_up.returncode == 0, backed_up.stderr
    print(f"full backup: {time.monotonic() - began:.1f} s")
    time.sleep(2)  # a moment to restore to lies after the backup's end (pgBackRest keeps that to the second)
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO hosp_audit (at, correlation_id, via_platform, contract, returned, outcome)"
                     " VALUES (now(), 'after-the-backup', false, 'GetHealthcareProfessional', '[]', 'ok')")  # fmt: skip
    moment = dt.datetime.now(dt.UTC)
    time.sleep(0.2)
    with psycopg.connect(url) as conn:  # writing goes on after the moment (the mistake): not restored
        conn.execute("INSERT INTO hosp_audit (at, correlation_id, via_platform, contract, returned, outcome)"
                     " VALUES (now(), 'after-the-moment', false, 'GetHealthcareProfessional', '[]', 'ok')")  # fmt: skip
    archive.pgbackrest("check")
    archive.server.stop()  # the server is lost

    restored = archive.new_server("restored")
    began = time.monotonic()
    to = moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")
    result = _cli(*argv("restore PostgreSQL to a moment", config=str(config), pg_data=str(restored.data), to=to))
    assert result.returncode == 0, result.stderr
    restored_at = time.monotonic() - began
    restored.start()
    started_at = time.monotonic() - began
    server = start_server(restored.url, tls_dir, tmp_path / "restored.log", service="hosp")
    try:
        with psycopg.connect(restored.url) as conn:
            pnr = conn.execute("SELECT pnr FROM hosp_person ORDER BY pnr LIMIT 1").fetchone()[0]
        answered = persons(HospClient(server).get(pnr, client="ivo"))
        first_call = time.monotonic() - began
    finally:
        stop_server(server)
    print(f"restore drill: pgBackRest restore {restored_at:.1f} s, PostgreSQL recovered and up at "
          f"{started_at:.1f} s, first call answered at {first_call:.1f} s after 'restore begins' "
          f"(promise: {PROMISE_SECONDS} s)")
    assert len(answered) == 1
    persons_, audits, audit_persons = _counts(restored.url)
    assert (persons_, audit_persons) == (PERSONS, AUDITED_CALLS + 2)  # + the drill call's person, asked and returned
    # The record written after the backup (replayed from the WAL) and the drill's own call; not the one after T.
    assert audits == AUDITED_CALLS + 1 + 1
    with psycopg.connect(restored.url) as conn:
        ids = {r[0] for r in conn.execute("SELECT correlation_id FROM hosp_audit WHERE correlation_id LIKE 'after-%'")}
    assert ids == {"after-the-backup"}
    assert first_call < PROMISE_SECONDS / 4, "well under the 1-hour end of the promise"
