"""The embedded default's backup and restore (``ntjp-producer db backup`` / ``db restore``): a backup
taken while HoSp answers under load is consistent, comes back, and is served; a damaged or missing
backup is refused with one clear line and nothing changes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from ntjp_producer.hosp.importer import import_extract
from ntjp_producer.storage import db
from tests.helpers import start_server, stop_server
from tests.hosp_client import HospClient, persons
from tests.runbook import argv

pytestmark = [pytest.mark.slow, pytest.mark.once]  # SQLite's own backup: the PostgreSQL one is test_pitr.py


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ntjp_producer", *args], capture_output=True, text=True, timeout=300)


def _ids(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT correlation_id FROM hosp_audit")}


def _people(path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT pnr, CAST(record AS TEXT) FROM hosp_person ORDER BY pnr").fetchall()


@pytest.fixture
def serving(hosp_extract, tls_dir, tmp_path):
    path = tmp_path / "live.db"
    url = f"sqlite:///{path}"
    db.migrate(url)
    import_extract(db.session_factory(url), str(hosp_extract))
    server = start_server(url, tls_dir, tmp_path / "server.log", service="hosp")
    yield server, path
    stop_server(server)


def test_backup_under_load_restores_and_serves(serving, hosp_extract, tls_dir, tmp_path):
    server, live = serving
    pnrs = [line.split('"personnummer": "')[1][:12] for line in hosp_extract.read_text().splitlines()[:50]]
    acknowledged: list[tuple[float, str]] = []  # (when the answer arrived, its correlation id)
    stop, errors = threading.Event(), []

    def consumer() -> None:
        try:
            hosp, i = HospClient(server), 0
            while not stop.is_set():
                response = hosp.get(pnrs[i % len(pnrs)], client="ivo")
                assert response.status_code == 200, response.text[:300]
                acknowledged.append((time.monotonic(), response.headers["x-skltp-correlation-id"]))
                i += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=consumer) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    dest = tmp_path / "backups" / "ntjp.db"
    began = time.monotonic()
    result = _cli(*argv("backup SQLite", db=f"sqlite:///{live}", dest=str(dest)))
    ended = time.monotonic()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert result.returncode == 0, result.stderr
    assert f"written to {dest}" in result.stdout
    before = {cid for at, cid in acknowledged if at < began}
    during = {cid for at, cid in acknowledged if began <= at <= ended}
    after = {cid for at, cid in acknowledged if at > ended}
    assert len(before) > 20 and after, (len(before), len(after))

    restored = tmp_path / "restored.db"
    result = _cli(*argv("restore SQLite", backup=str(dest), db=f"sqlite:///{restored}"))
    assert result.returncode == 0, result.stderr
    in_backup = _ids(restored)
    # Consistent: every call answered before the backup began is in it; nothing answered after it is.
    assert before <= in_backup and not (in_backup & after)
    assert in_backup <= before | during
    assert _people(restored) == _people(live)
    with sqlite3.connect(restored) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    again = start_server(f"sqlite:///{restored}", tls_dir, tmp_path / "restored.log", service="hosp")
    try:
        assert len(persons(HospClient(again).get(pnrs[0], client="ivo"))) == 1
    finally:
        stop_server(again)
    assert len(_ids(restored)) == len(in_backup) + 1, "the restored producer audits again"


def test_a_damaged_or_missing_backup_is_refused_with_one_line(tmp_path):
    source = tmp_path / "src.db"
    url = f"sqlite:///{source}"
    db.migrate(url)
    with sqlite3.connect(source) as conn:  # a few pages of content, so a truncation cuts into them
        conn.execute("CREATE TABLE filler (x TEXT)")
        conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,) for _ in range(400)])
    good = tmp_path / "good.db"
    assert _cli(*argv("backup SQLite", db=url, dest=str(good))).returncode == 0
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all\n" * 50)
    target = tmp_path / "target.db"
    cases = {
        truncated: "is truncated",
        garbage: "is not an SQLite backup",
        tmp_path / "missing.db": "no such backup file",
    }
    for backup_file, reason in cases.items():
        result = _cli(*argv("restore SQLite", backup=str(backup_file), db=f"sqlite:///{target}"))
        assert result.returncode == 3, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and reason in lines[0] and "nothing was restored" in lines[0], result.stderr
        assert "Traceback" not in result.stderr and not target.exists()

    # An existing database is overwritten only when asked, and never while a producer holds it.
    target.write_bytes(b"")
    db.migrate(f"sqlite:///{target}")
    refused = _cli(*argv("restore SQLite", backup=str(good), db=f"sqlite:///{target}"))
    assert refused.returncode == 3 and "give --replace" in refused.stderr
    holder = sqlite3.connect(target)
    holder.execute("BEGIN IMMEDIATE")
    try:
        busy = _cli(*argv("restore SQLite over the old file", backup=str(good), db=f"sqlite:///{target}"))
    finally:
        holder.rollback()
        holder.close()
    assert busy.returncode == 3 and "is in use" in busy.stderr
    done = _cli(*argv("restore SQLite over the old file", backup=str(good), db=f"sqlite:///{target}"))
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM filler").fetchone()[0] == 400
