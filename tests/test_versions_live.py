"""GetVersions' strings equal GetFmb's and GetDiagnosInformation's version block in every state of
the data, on a running server while releases are imported under it: the consumer depends on it."""

from __future__ import annotations

import time

import pytest

from ntjp_producer.fmb.importer import import_release
from ntjp_producer.storage import db
from tests.helpers import LATEST, LOGICAL_ADDRESS, OLD, envelope, fault_of, new_database, start_server, stop_server

pytestmark = pytest.mark.slow
H = {"LogicalAddress": LOGICAL_ADDRESS}


@pytest.fixture(scope="module")
def empty_server(tls_dir, tmp_path_factory):
    url, drop = new_database(tmp_path_factory.mktemp("live-db"))
    db.migrate(url)
    srv = start_server(url, tls_dir, tmp_path_factory.mktemp("live") / "server.log")
    yield srv
    stop_server(srv)
    drop()


def _observe(server):
    versions = server.zeep("GetVersions")[0].GetVersions(_soapheaders=H).versioner
    fmb = server.zeep("GetFmb")[0].GetFmb(_soapheaders=H)
    di = server.zeep("GetDiagnosInformation")[0].GetDiagnosInformation(_soapheaders=H)
    assert versions.fmbSenateAndring == fmb.version.senateAndring
    assert versions.fmbSenasteVersionsuppdatering == fmb.version.senasteVersionsuppdatering
    assert versions.diagnosInformationSenateAndring == di.version.senateAndring
    assert versions.diagnosInformationSenasteVersionsuppdatering == di.version.senasteVersionsuppdatering
    return versions, len(fmb.beslutsunderlag), len(di.diagnosInformation)


def _observe_settled(server, counts: tuple[int, int], within: float = 2.0):
    """``_observe`` once the import is seen. On SQLite that is the next call; on PostgreSQL, once the
    commit's notification has reached the worker (storage/listen.py): milliseconds, bounded here.
    Until then calls may still be wholly the old release's, never a mix within one answer."""
    deadline = time.monotonic() + within
    while True:
        try:
            versions, n_fmb, n_di = _observe(server)
            if (n_fmb, n_di) == counts:
                return versions, n_fmb, n_di
        except AssertionError:
            pass  # three calls straddled the notification: the versions of two releases
        assert time.monotonic() < deadline, f"the import was not seen within {within} s"
        time.sleep(0.01)


def test_versions_agree_through_imports(empty_server):
    code, message = fault_of(empty_server.post("GetVersions", envelope("GetVersions")))
    assert code == "Server" and "No FMB data" in message

    sessions = db.session_factory(empty_server.db_url)
    import_release(sessions, OLD)
    v1, *_ = _observe_settled(empty_server, (407, 111))

    import_release(sessions, LATEST)
    v2, *_ = _observe_settled(empty_server, (439, 116))
    assert v2.fmbSenateAndring > v1.fmbSenateAndring
    assert v2.fmbSenasteVersionsuppdatering > v1.fmbSenasteVersionsuppdatering

    import_release(sessions, LATEST)
    v3, *_ = _observe(empty_server)
    assert v3 == v2, "re-importing the same release moves nothing"
    for _ in range(6):  # several calls, so both gunicorn workers answer: each serves the new release
        assert _observe(empty_server)[0] == v2
