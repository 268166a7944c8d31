"""Loading the register: broken extracts are refused whole, deltas show at once, and a call whose
audit record cannot be written gets a fault and no personal data."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from sqlalchemy import text

from ntjp_producer.storage import db
from tests.helpers import fault_of, new_database, start_server, stop_server
from tests.hosp_client import HospClient, items_in, persons, pnr_of
from tests.hosp_data import FULL, OSTBERG, records, write_extract

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "ntjp_producer", "hosp"]


@pytest.fixture(scope="module")
def register(tls_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("hosp-import")
    url, drop = new_database(work)
    extract = write_extract(work / "register.jsonl")
    subprocess.run([*CLI, "import", str(extract), "--db", url], check=True, capture_output=True)
    server = start_server(url, tls_dir, work / "server.log", service="hosp")
    yield server, extract, work
    stop_server(server)
    drop()


def _dump(url: str) -> str:
    with db.engine_for(url).connect() as conn:
        rows = conn.execute(text("SELECT pnr, record FROM hosp_person ORDER BY pnr")).all()
        search = conn.execute(text("SELECT count(*) FROM hosp_search")).scalar()
    return hashlib.sha256(json.dumps([[r[0], r[1]] for r in rows], default=str).encode()).hexdigest() + str(search)


def _broken(extract, work, line: int, change) -> str:
    lines = extract.read_text(encoding="utf-8").splitlines()
    lines[line - 1] = change(lines[line - 1])
    path = work / f"broken-{line}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _bad_check_digit(line: str) -> str:
    record = json.loads(line)
    pnr = record["personnummer"]
    record["personnummer"] = pnr[:11] + str((int(pnr[11]) + 1) % 10)
    return json.dumps(record, ensure_ascii=False)


def _unknown_profession(line: str) -> str:
    record = json.loads(line)
    if not record["legitimationer"]:
        record["legitimationer"].append({"yrke": "SJ", "utfardad": "2001-01-01"})
    record["legitimationer"][0]["yrke"] = "ZZ"
    return json.dumps(record, ensure_ascii=False)


@pytest.mark.parametrize(
    ("line", "change", "reason"),
    [
        (57, _bad_check_digit, "check digit is wrong"),
        (123, _unknown_profession, "unknown code \"ZZ\" in HSA Legitimerad yrkesgrupp"),
        (301, lambda line: line[:40], "not valid JSON"),
        (302, lambda line: line[:-1] + ', "mellannamn": NaN}', "not valid JSON"),  # JSON has no NaN
        (303, lambda line: line.replace('"fornamn": "', '"fornamn": "\\ud800', 1), "not valid JSON"),  # lone surrogate
        (4, lambda line: line.replace('"kon": "2"', '"kon": "K"'), "KV Kön"),
        (3, lambda line: line.replace("1960-06-01", "1960-13-01"), "must be a date"),
    ],
)
@pytest.mark.parametrize("delta", [False, True])
def test_broken_extract_is_refused_with_its_line_and_nothing_changes(register, line, change, reason, delta):
    server, extract, work = register
    before = _dump(server.db_url)
    path = _broken(extract, work, line, change)
    result = subprocess.run([*CLI, "import", path, "--db", server.db_url, *(["--delta"] if delta else [])],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert f"{path}, line {line}: " in result.stderr and reason in result.stderr, result.stderr
    assert "import refused, nothing changed" in result.stderr and "Traceback" not in result.stderr
    assert _dump(server.db_url) == before


def test_empty_full_extract_and_missing_file_are_refused(register):
    server, _, work = register
    before = _dump(server.db_url)
    empty = work / "empty.jsonl"
    empty.write_text("")
    for path in (empty, work / "no-such.jsonl"):
        result = subprocess.run([*CLI, "import", str(path), "--db", server.db_url], capture_output=True, text=True)
        assert result.returncode == 3 and "nothing changed" in result.stderr
    assert _dump(server.db_url) == before


def test_delta_changes_are_visible_at_once_and_deletions_remove(register):
    server, extract, work = register
    client = HospClient(server)
    start = client.audit_count()
    full = next(r for r in records(extract) if r["personnummer"] == FULL)
    full["legitimationer"][0]["aterkallad"] = {"beslutsdatum": "2026-11-20"}
    delta = work / "delta.jsonl"
    delta.write_text(
        json.dumps(full, ensure_ascii=False) + "\n" + json.dumps({"personnummer": OSTBERG, "raderad": True}) + "\n",
        encoding="utf-8",
    )
    before = persons(client.get(FULL, client="region"))[0]
    assert len(before.findall("{*}probationOrRevocation")) == 2
    result = subprocess.run([*CLI, "import", str(delta), "--delta", "--db", server.db_url], capture_output=True,
                            text=True, check=True)  # fmt: skip
    assert "2 lines, 1 persons written, 1 removed" in result.stdout
    after = persons(client.get(FULL, client="region"))[0]
    decisions = [(d.findtext("{*}profession/{*}code"), d.findtext("{*}decision/{*}code"), d.findtext("{*}decisionDate"))
                 for d in after.findall("{*}probationOrRevocation")]  # fmt: skip
    assert ("LK", "ATERKALLELSE", "20261120") in decisions
    assert persons(client.get(OSTBERG, client="region")) == []
    assert [pnr_of(p) for p in persons(client.search({"surname": "östberg"}, client="ivo"))] == []
    assert client.audit_count() - start == client.calls


def test_audit_failure_gives_a_fault_and_no_personal_data(register):
    server, _, _ = register
    client = HospClient(server)
    engine = db.engine_for(server.db_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                              "BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$"))  # fmt: skip
            conn.execute(text("CREATE TRIGGER fail_audit BEFORE INSERT ON hosp_audit "
                              "FOR EACH ROW EXECUTE FUNCTION fail_audit()"))  # fmt: skip
        else:
            conn.execute(text("CREATE TRIGGER fail_audit BEFORE INSERT ON hosp_audit "
                              "BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END"))  # fmt: skip
    try:
        before = client.audit_count()
        for response in (client.get(FULL, client="ivo"), client.search({"surname": "äng"}, client="ivo")):
            code, message = fault_of(response)
            assert code == "Server" and "could not be audited" in message
            assert FULL not in response.text and "Ängström" not in response.text and "Märta" not in response.text
        assert client.audit_count() == before
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER fail_audit" + (" ON hosp_audit" if engine.dialect.name == "postgresql"
                                                           else "")))  # fmt: skip
    (person,) = persons(client.get(FULL, client="ivo"))
    assert 2 in items_in(person), "answers again once the audit can be written"
    assert client.audit_count() == before + 1
    log = server.log_path.read_text(encoding="utf-8")
    assert "audit record could not be written" in log
    for personal in (FULL, "Ängström", "Märta", '"äng"', "[personnummer]"):
        assert personal not in log, f"{personal} in the service log"


def test_generate_is_deterministic_and_valid(tmp_path):
    a = subprocess.run([*CLI, "generate", "--count", "300", "--seed", "9"], capture_output=True, text=True, check=True)
    b = subprocess.run([*CLI, "generate", "--count", "300", "--seed", "9"], capture_output=True, text=True, check=True)
    assert a.stdout == b.stdout and len(a.stdout.splitlines()) == 300
    people = [json.loads(line) for line in a.stdout.splitlines()]
    letters = "".join(p["efternamn"] + p["fornamn"] for p in people)
    assert {"å", "ä", "ö"} <= set(letters.lower())
    professions = [leg["yrke"] for p in people for leg in p["legitimationer"]]
    assert professions.count("SJ") > professions.count("LK") > professions.count("TL") > 0
    assert any(p["specialiteter"] for p in people) and any(p["forskrivarratt"] for p in people)
    assert any(p["underskoterska"] and not p["legitimationer"] for p in people)
    path = tmp_path / "g.jsonl"
    path.write_text(a.stdout, encoding="utf-8")
    url, drop = new_database(tmp_path)
    try:
        result = subprocess.run([*CLI, "import", str(path), "--db", url], capture_output=True, text=True)
        assert result.returncode == 0 and "the register holds 300 persons" in result.stdout, result.stderr
    finally:
        drop()


def _refusal(url: str, path, delta: bool, processes: int) -> tuple[int, str]:
    from ntjp_producer.hosp.extract import ExtractError
    from ntjp_producer.hosp.importer import import_extract

    with pytest.raises(ExtractError) as refused:
        import_extract(db.session_factory(url), str(path), delta=delta, processes=processes)
    return refused.value.line, refused.value.reason


def test_parsing_processes_refuse_and_load_exactly_as_one_process(register, tmp_path, monkeypatch):
    """A large extract is parsed by processes of their own (hosp/importer.py); the CLI tests above
    use small files, parsed in the importing process. Here the same extract is cut into parts of 50
    lines, several parsed at once, and both ways must name the same line and load the same register."""
    from ntjp_producer.hosp import importer

    server, extract, _ = register
    monkeypatch.setattr(importer, "BATCH", 50)
    lines = extract.read_bytes().splitlines(keepends=True)
    assert len(lines) > 8 * 50, "enough parts to keep both processes busy"
    before = _dump(server.db_url)

    def broken(name: str, number: int, line: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(b"".join([*lines[: number - 1], line, *lines[number:]]))
        return str(path)

    cases = [
        (broken("check-digit.jsonl", 357, _bad_check_digit(lines[356].decode()).encode() + b"\n"),
         357, "check digit is wrong"),
        (broken("latin-1.jsonl", 201, lines[200].replace(b'"fornamn": "', '"fornamn": "Å'.encode("latin-1"), 1)),
         201, "the file is not UTF-8"),
        (broken("repeated.jsonl", 380, lines[20]), 380, "the same personnummer appears on an earlier line"),
    ]  # fmt: skip
    for path, number, reason in cases:
        for delta in (False, True):
            refusals = {processes: _refusal(server.db_url, path, delta, processes) for processes in (0, 2)}
            assert refusals[0] == refusals[2], (path, delta)
            assert refusals[2][0] == number and reason in refusals[2][1], (path, delta, refusals)
    assert _dump(server.db_url) == before

    # A good extract, then a delta that changes one person and removes another, loads the same both ways.
    full = next(r for r in records(extract) if r["personnummer"] == FULL)
    full["efternamn"] = "Ängström-Ek"
    delta = tmp_path / "delta.jsonl"
    delta.write_text(json.dumps({"personnummer": OSTBERG, "raderad": True}) + "\n" + "\n" * 120
                     + json.dumps(full, ensure_ascii=False) + "\n", encoding="utf-8")  # fmt: skip
    dumps = {}
    for processes in (0, 2):
        url, drop = new_database(tmp_path)
        try:
            db.migrate(url)
            loaded = importer.import_extract(db.session_factory(url), str(extract), processes=processes)
            changed = importer.import_extract(db.session_factory(url), str(delta), delta=True, processes=processes)
            dumps[processes] = (loaded.persons, changed.upserted, changed.deleted, changed.lines, _dump(url))
        finally:
            drop()
    assert dumps[0] == dumps[2]
    assert dumps[2][:4] == (len(records(extract)), 1, 1, 122)
