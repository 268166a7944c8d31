"""The FMB JSON API against a real server: same documents as Socialstyrelsen's open API, the same
selection and versions as the SOAP services, conditional GET, errors, and the public listener."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from ntjp_producer.fmb.importer import import_release
from ntjp_producer.storage import db
from tests.helpers import LATEST, LOGICAL_ADDRESS, OLD, REPO, new_database, start_server, stop_server

H = {"LogicalAddress": LOGICAL_ADDRESS}
TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^>]*)?/?>")
KINDS = ("typfall", "forsakringsmedicinskdiagnosinformation")


def _input(release, kind: str) -> dict:
    return json.loads((release / f"{kind}.json").read_text(encoding="utf-8"))


def _get(server, path: str, **kwargs):
    return server.session().get(f"{server.base_url}{path}", timeout=30, **kwargs)


@pytest.mark.parametrize("kind", KINDS)
def test_collections_equal_the_open_api_documents_value_for_value(server, kind):
    source = _input(LATEST, kind)
    response = _get(server, f"/fmb/{kind}?inlinehtmlmarkup=true")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    doc = response.json()

    assert doc["meta"]["version"] == source["meta"]["version"]
    assert doc["meta"]["buildtimestamp"] == source["meta"]["buildtimestamp"]
    assert doc["links"]["self"] == f"{server.base_url}/fmb/{kind}?inlinehtmlmarkup=true"
    assert len(doc["data"]) == len(source["data"])
    ours = {item["id"]: item for item in doc["data"]}
    for theirs in source["data"]:
        item = ours[theirs["id"]]
        assert item["type"] == theirs["type"]
        assert item["attributes"] == theirs["attributes"], theirs["id"]
        assert item["relationships"] == theirs["relationships"]
        # Links point at this producer, by the same path the open API used.
        assert theirs["links"]["self"].endswith(f"/fmb/{kind}/{theirs['id']}")
        assert item["links"]["self"] == f"{server.base_url}/fmb/{kind}/{theirs['id']}"


def test_without_inlinehtmlmarkup_texts_are_plain(server):
    source = {d["id"]: d["attributes"] for d in _input(LATEST, KINDS[1])["data"]}
    doc = _get(server, "/fmb/forsakringsmedicinskdiagnosinformation").json()
    checked = 0
    for item in doc["data"]:
        for field in ("forsakringsmedicinskinformation", "symtomprognosbehandling"):
            markup = source[item["id"]][field].get("markup")
            plain = item["attributes"][field]
            if markup:
                assert TAG.search(markup)
                assert set(plain) == {"text"} and plain["text"] and not TAG.search(plain["text"]), plain["text"]
                checked += 1
        # Everything that is not markup is unchanged.
        assert item["attributes"]["diagnoskod"] == source[item["id"]]["diagnoskod"]
    assert checked > 100


def test_one_item_by_id(server):
    source = {d["id"]: d for d in _input(LATEST, "typfall")["data"]}
    doc = _get(server, "/fmb/typfall/111?inlinehtmlmarkup=true").json()
    assert doc["data"]["id"] == "111"
    assert doc["data"]["attributes"] == source["111"]["attributes"]
    assert doc["meta"]["count"] == 1


def test_json_and_soap_agree_on_selection_versions_and_stamps(server):
    for code in ("K40", "f32.1", "M54"):
        soap = server.zeep("GetFmb")[0].GetFmb(_soapheaders=H, diagnosKod=[{"code": code}])
        doc = _get(server, f"/fmb/typfall?diagnoskod={code}").json()
        assert [b.underlagsId.extension for b in soap.beslutsunderlag] == [d["id"] for d in doc["data"]], code
        assert [b.version for b in soap.beslutsunderlag] == [d["meta"]["version"] for d in doc["data"]]
        assert doc["meta"]["senateAndring"] == soap.version.senateAndring
        assert doc["meta"]["senasteVersionsuppdatering"] == soap.version.senasteVersionsuppdatering
    soap = server.zeep("GetDiagnosInformation")[0].GetDiagnosInformation(_soapheaders=H, diagnosKod=[{"code": "K40"}])
    doc = _get(server, "/fmb/forsakringsmedicinskdiagnosinformation?diagnoskod=K40").json()
    assert [d.informationsId.extension for d in soap.diagnosInformation] == [d["id"] for d in doc["data"]]


def test_diagnoskod_parent_fallback_and_several_codes(server):
    f32 = [d["id"] for d in _get(server, "/fmb/typfall?diagnoskod=F32").json()["data"]]
    assert f32
    assert [d["id"] for d in _get(server, "/fmb/typfall?diagnoskod=F321").json()["data"]] == f32
    both = [d["id"] for d in _get(server, "/fmb/typfall?diagnoskod=F32&diagnoskod=K40").json()["data"]]
    comma = [d["id"] for d in _get(server, "/fmb/typfall?diagnoskod=F32,K40").json()["data"]]
    k40 = [d["id"] for d in _get(server, "/fmb/typfall?diagnoskod=K40").json()["data"]]
    assert set(both) == set(f32) | set(k40) and both == comma


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/fmb/typfall/999999", 404, "No typfall with id '999999'"),
        ("/fmb/nonsense", 404, "No resource"),
        ("/fmb/typfall?diagnoskod=XYZ", 400, "not an ICD-10-SE diagnosis code"),
        ("/fmb/typfall?diagnoskod=", 400, "must not be empty"),
        ("/fmb/typfall?inlinehtmlmarkup=maybe", 400, "inlinehtmlmarkup must be true or false"),
        ("/fmb/typfall?sort=id", 400, "Unknown parameter 'sort'"),
    ],
)
def test_errors_are_json_with_a_clear_message(server, path, status, words):
    response = _get(server, path)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    (error,) = response.json()["errors"]
    assert error["status"] == str(status) and words in error["detail"]


def test_writing_is_not_allowed(server):
    response = server.session().post(f"{server.base_url}/fmb/typfall", json={}, timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD"
    assert "read-only" in response.json()["errors"][0]["detail"]


def test_head_gives_headers_without_body(server):
    response = server.session().head(f"{server.base_url}/fmb/typfall", timeout=10)
    assert response.status_code == 200 and response.content == b"" and response.headers["ETag"]


# -- conditional GET, versions and inactive items across releases ---------------------------------


@pytest.fixture
def fresh_server(tls_dir, tmp_path):
    url, drop = new_database(tmp_path)
    db.migrate(url)
    srv = start_server(url, tls_dir, tmp_path / "server.log")
    yield srv
    stop_server(srv)
    drop()


def _first_changed(server, path: str, etag: str, within: float = 2.0):
    """The first answer to a conditional GET that is not 304: at once on SQLite; on PostgreSQL once
    the import's notification has reached the worker (storage/listen.py), bounded here."""
    deadline = time.monotonic() + within
    while True:
        answer = _get(server, path, headers={"If-None-Match": etag})
        if answer.status_code != 304:
            return answer
        assert time.monotonic() < deadline, f"the new release was not seen within {within} s"
        time.sleep(0.01)


def test_conditional_get_then_a_new_release(fresh_server):
    empty = _get(fresh_server, "/fmb/typfall")
    assert empty.status_code == 503 and "No FMB data" in empty.json()["errors"][0]["detail"]

    sessions = db.session_factory(fresh_server.db_url)
    import_release(sessions, OLD)
    first = _get(fresh_server, "/fmb/typfall?inlinehtmlmarkup=true")
    assert first.status_code == 200 and len(first.json()["data"]) == 407
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert "max-age" in first.headers["Cache-Control"] and "public" in first.headers["Cache-Control"]

    for _ in range(4):  # both workers
        again = _get(fresh_server, "/fmb/typfall?inlinehtmlmarkup=true", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    since = _get(fresh_server, "/fmb/typfall?inlinehtmlmarkup=true", headers={"If-Modified-Since": modified})
    assert since.status_code == 304

    import_release(sessions, LATEST)
    after = _first_changed(fresh_server, "/fmb/typfall?inlinehtmlmarkup=true", etag)
    assert after.status_code == 200 and after.headers["ETag"] != etag
    doc = after.json()
    assert len(doc["data"]) == 439
    assert {d["id"]: d["attributes"] for d in doc["data"]} == {
        d["id"]: d["attributes"] for d in _input(LATEST, "typfall")["data"]
    }
    since = _get(fresh_server, "/fmb/typfall?inlinehtmlmarkup=true", headers={"If-Modified-Since": modified})
    assert since.status_code == 200


def test_inactive_items_on_request_agree_with_soap(fresh_server):
    sessions = db.session_factory(fresh_server.db_url)
    import_release(sessions, OLD)
    import_release(sessions, LATEST)
    old_ids = {d["id"] for d in _input(OLD, "typfall")["data"]}
    new_ids = {d["id"] for d in _input(LATEST, "typfall")["data"]}
    removed = old_ids - new_ids

    everything = _get(fresh_server, "/fmb/typfall?avenejaktiva=true").json()["data"]
    assert {d["id"] for d in everything} == old_ids | new_ids
    assert {d["id"] for d in everything if not d["meta"]["aktiv"]} == removed
    assert all(d["meta"]["giltighetsperiod"]["slut"] for d in everything if d["id"] in removed)

    gone = sorted(removed)[0]
    assert _get(fresh_server, f"/fmb/typfall/{gone}").status_code == 404
    assert _get(fresh_server, f"/fmb/typfall/{gone}?avenejaktiva=true").json()["data"]["meta"]["aktiv"] is False

    soap = fresh_server.zeep("GetFmb")[0].GetFmb(_soapheaders=H, avenEjAktiva=True)
    versions = {b.underlagsId.extension: b.version for b in soap.beslutsunderlag}
    assert versions == {d["id"]: d["meta"]["version"] for d in everything}
    assert 2 in versions.values(), "the releases differ, so some items have version 2"


# -- the public listener and the property-based run --------------------------------------------------


@pytest.fixture(scope="module")
def public_server(latest_db, tls_dir, tmp_path_factory):
    srv = start_server(latest_db, tls_dir, tmp_path_factory.mktemp("public") / "server.log", service="fmb-public")
    yield srv
    stop_server(srv)


def test_public_listener_serves_the_api_read_only_and_no_soap(public_server, server):
    assert public_server.base_url.startswith("http://")
    plain = public_server.session().get(f"{public_server.base_url}/fmb/typfall?inlinehtmlmarkup=true", timeout=30)
    tls = _get(server, "/fmb/typfall?inlinehtmlmarkup=true")
    assert plain.json()["data"] == json.loads(tls.text.replace(server.base_url, public_server.base_url))["data"]
    soap = public_server.session().post(f"{public_server.base_url}/GetFmb/1/rivtabp21", data=b"<x/>", timeout=10)
    assert soap.status_code == 404
    wsdl = public_server.session().get(f"{public_server.base_url}/GetFmb/1/rivtabp21?wsdl", timeout=10)
    assert wsdl.status_code == 404


def _schemathesis(url: str, *extra: str) -> subprocess.Popen:
    st = shutil.which("st", path=str(REPO / ".venv" / "bin")) or shutil.which("st")
    command = [st or sys.executable, *([] if st else ["-m", "schemathesis.cli"])]
    return subprocess.Popen(
        [*command, "run", url, "--max-examples", "40", "--seed", "20261122", "--generation-database", "none",
         "--checks", "all", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # REQUESTS_CA_BUNDLE (set on some machines) would override --tls-verify.
        env={k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")},
    )


@pytest.mark.slow
@pytest.mark.once
def test_schemathesis_finds_nothing_on_either_listener(public_server, server, tmp_path):
    """The public plain-HTTP listener and the mutual-TLS one, both at once (each waits on its server)."""
    t = server.tls_dir
    runs = {
        "public": _schemathesis(f"{public_server.base_url}/fmb/openapi.json"),
        "mutual TLS": _schemathesis(
            f"{server.base_url}/fmb/openapi.json",
            "--tls-verify", str(t / "ca.pem"),
            "--request-cert", str(t / "clients" / "region.pem"),
            "--request-cert-key", str(t / "clients" / "region-key.pem"),
        ),
    }  # fmt: skip
    for name, run in runs.items():
        stdout, stderr = run.communicate(timeout=600)
        (tmp_path / f"schemathesis-{name}.txt").write_text(stdout + stderr)
        assert run.returncode == 0, f"{name}: {stdout[-4000:]}"
        assert "No issues found" in stdout, name
