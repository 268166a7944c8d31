"""A locked audit trail: HoSp calls fail fast with a Server fault instead of hanging, the health
check says ``degraded`` (and /health answers 503), and once the lock is gone everything answers
again. The service log holds no personal identity number or searched name throughout."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ntjp_producer.storage import db
from tests.helpers import fault_of
from tests.hosp_client import HospClient, persons

pytestmark = pytest.mark.slow
LOCK_SECONDS = 20
LOCK_TIMEOUT = 2.0  # the producer's default db_lock_timeout


def _hold_lock(db_url: str, locked: threading.Event, release: threading.Event, seconds: float) -> None:
    """Lock the audit trail until ``release`` is set (``seconds`` at most)."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(db_url).database, timeout=1, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")  # in WAL mode: readers go on, no writer gets in
        locked.set()
        release.wait(seconds)
        conn.execute("ROLLBACK")
        conn.close()
        return
    engine = db.engine_for(db_url)
    with engine.connect() as conn:
        conn.execute(text("LOCK TABLE hosp_audit IN ACCESS EXCLUSIVE MODE"))
        locked.set()
        release.wait(seconds)
        conn.rollback()


def test_a_locked_audit_trail_fails_calls_fast_and_health_says_degraded(hosp_server, hosp_extract):
    first = json.loads(hosp_extract.read_text().splitlines()[0])
    pnr, surname = first["personnummer"], first["efternamn"]
    client = HospClient(hosp_server)
    health = f"{hosp_server.ops_url}/health"
    assert requests.get(health, timeout=10).json()["status"] == "ok"

    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(hosp_server.db_url, locked, release, LOCK_SECONDS))
    started = time.monotonic()
    holder.start()
    assert locked.wait(10)
    durations = []
    for call in (lambda: client.get(pnr, client="ivo"), lambda: client.search({"surname": surname}, client="ivo")):
        t = time.monotonic()
        response = call()
        durations.append(time.monotonic() - t)
        code, message = fault_of(response)
        assert code == "Server" and "could not be audited" in message
        assert pnr not in response.text and surname not in response.text
    state = requests.get(health, timeout=30)
    assert state.status_code == 503 and state.json()["status"] == "degraded", state.text
    print(
        f"\nwith the audit trail locked: calls failed in {', '.join(f'{d:.2f}' for d in durations)} s; "
        f"/health {state.status_code} {state.json()['auditStatus']}"
    )
    assert all(d < LOCK_TIMEOUT + 3 for d in durations), durations
    assert time.monotonic() - started < LOCK_SECONDS, "the checks ran while the lock was held"

    release.set()
    holder.join(LOCK_SECONDS + 10)
    (person,) = persons(client.get(pnr, client="ivo"))
    assert person is not None
    assert requests.get(health, timeout=10).json()["status"] == "ok"

    log = hosp_server.log_path.read_text(encoding="utf-8")
    assert "could not be written" in log, "the failure is logged"
    assert pnr not in log and surname not in log and first["fornamn"] not in log
    assert "[personnummer]" not in log, "no code path even tried to log an identity number (redaction is a last guard)"
