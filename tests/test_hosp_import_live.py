"""A full import while consumers call: they are answered from the register as it was until the
import commits, and from the new one after; nothing in between.

On PostgreSQL nobody waits: the import loads shadow tables and swaps them in at the commit. On
SQLite one transaction at a time may write to the database file, and the import's holds the audit
trail too, so an audited call fails closed, quickly (the lock timeout), while an import runs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from ntjp_producer.hosp.importer import import_extract
from ntjp_producer.storage import db
from tests.helpers import fault_of, new_database, start_server, stop_server
from tests.hosp_client import HospClient, persons


@pytest.mark.slow
def test_consumers_are_answered_throughout_a_full_import(hosp_extract, tls_dir, tmp_path):
    url, drop = new_database(tmp_path)
    db.migrate(url)
    import_extract(db.session_factory(url), str(hosp_extract))
    old = [json.loads(line) for line in hosp_extract.read_text().splitlines()][:20]
    bigger = tmp_path / "bigger.jsonl"
    with open(bigger, "wb") as out:
        subprocess.run([sys.executable, "-m", "ntjp_producer", "hosp", "generate", "--count", "40000", "--seed", "11"],
                       stdout=out, check=True)  # fmt: skip
    new = json.loads(bigger.read_text().splitlines()[0])
    server = start_server(url, tls_dir, tmp_path / "server.log", service="hosp")
    outcomes: list[tuple[float, int, int, str]] = []  # (seconds, HTTP status, persons answered, fault)
    importing = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []

    def consumer() -> None:
        hosp = HospClient(server)
        i = 0
        while not done.is_set():
            started = time.monotonic()
            response = hosp.get(old[i % len(old)]["personnummer"], client="ivo")
            i += 1
            if importing.is_set():
                ok = response.status_code == 200  # on SQLite a call may fail closed (see above): a fault, no persons
                fault = "" if ok else fault_of(response)[1]
                answered = len(persons(response)) if ok else 0
                outcomes.append((time.monotonic() - started, response.status_code, answered, fault))

    def consumer_noting_errors() -> None:
        try:
            consumer()
        except BaseException as exc:  # a consumer that died would hide the calls it did not make
            errors.append(exc)
            raise

    try:
        clients = [threading.Thread(target=consumer_noting_errors) for _ in range(2)]
        for t in clients:
            t.start()
        time.sleep(0.5)
        importing.set()
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "ntjp_producer", "hosp", "import", str(bigger), "--db", url],
                                capture_output=True, text=True)  # fmt: skip
        took = time.monotonic() - started
        done.set()
        for t in clients:
            t.join()
        after = HospClient(server)
        found_new = persons(after.get(new["personnummer"], client="ivo"))
        found_old = persons(after.get(old[0]["personnummer"], client="ivo"))
    finally:
        stop_server(server)
        drop()
    assert result.returncode == 0, result.stderr[-2000:]
    assert not errors, errors
    slowest = max(o[0] for o in outcomes)
    answered = [o for o in outcomes if o[1] == 200]
    print(f"\nimport of 40,000 persons took {took:.1f} s; {len(outcomes)} Get calls meanwhile, "
          f"{len(answered)} answered, slowest {slowest:.2f} s")  # fmt: skip
    assert len(outcomes) > 20
    if url.startswith("postgresql"):
        assert len(answered) == len(outcomes), [o for o in outcomes if o[1] != 200][:3]
        assert slowest < 2.0, "a call waited for the import"
    else:
        refused = [o for o in outcomes if o[1] != 200]
        assert all("could not be audited" in o[3] for o in refused), refused[:3]
        # A call that arrives while its worker's audit commit waits out the lock timeout (2 s) waits
        # for that one, then for its own (group commit, storage/group_commit.py): two timeouts at most.
        assert slowest < 2 * 2.0 + 1.0, "a call waited longer than two lock timeouts"
    # Each answer held the old register's person (before the commit) or nobody (after: the new
    # register does not hold them); never anything else, and never the old after the new.
    found = [o[2] for o in answered]
    assert set(found) <= {0, 1}
    assert found == sorted(found, reverse=True), "a call saw the old register after one saw the new"
    assert len(found_new) == 1 and found_old == []
