from __future__ import annotations

import json

import pytest

from ntjp_producer.fmb.importer import import_release
from ntjp_producer.storage import db
from ntjp_producer.transport import certs
from tests.helpers import LATEST, new_database, start_server, stop_server


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL pass leaves out what does not depend on the database (``once``); the SQLite pass
    what needs PostgreSQL's own server and tools (``postgres``)."""
    import os

    pass_marker = "once" if os.environ.get("NTJP_TEST_DATABASE_URL") else "postgres"  # what this pass leaves out
    kept = [item for item in items if item.get_closest_marker(pass_marker) is None]
    left = [item for item in items if item.get_closest_marker(pass_marker) is not None]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def pytest_report_header(config):
    import os

    return "database: " + (
        "PostgreSQL (" + os.environ["NTJP_TEST_DATABASE_URL"] + ")"
        if os.environ.get("NTJP_TEST_DATABASE_URL")
        else "SQLite"
    )


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    certs.init(directory)
    return directory


@pytest.fixture
def db_url(tmp_path):
    url, drop = new_database(tmp_path)
    db.migrate(url)
    yield url
    drop()


@pytest.fixture(scope="session")
def latest_db(tmp_path_factory):
    url, drop = new_database(tmp_path_factory.mktemp("latest-db"))
    db.migrate(url)
    import_release(db.session_factory(url), LATEST)
    yield url
    drop()


@pytest.fixture(scope="session")
def typfall():
    """releases/latest's typfall as the open API published them."""
    return json.loads((LATEST / "typfall.json").read_text())["data"]


@pytest.fixture(scope="session")
def diagnosinfo():
    return json.loads((LATEST / "forsakringsmedicinskdiagnosinformation.json").read_text())["data"]


@pytest.fixture(scope="session")
def server(latest_db, tls_dir, tmp_path_factory):
    """The real producer (gunicorn, 2 workers, mutual TLS) serving releases/latest."""
    srv = start_server(latest_db, tls_dir, tmp_path_factory.mktemp("server") / "server.log")
    yield srv
    stop_server(srv)


# -- HoSp ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hosp_extract(tmp_path_factory):
    from tests.hosp_data import write_extract

    return write_extract(tmp_path_factory.mktemp("hosp") / "register.jsonl")


@pytest.fixture(scope="session")
def hosp_db(hosp_extract, tmp_path_factory):
    from ntjp_producer.hosp.importer import import_extract

    url, drop = new_database(tmp_path_factory.mktemp("hosp-db"))
    db.migrate(url)
    import_extract(db.session_factory(url), str(hosp_extract))
    yield url
    drop()


@pytest.fixture(scope="session")
def hosp_server(hosp_db, tls_dir, tmp_path_factory):
    """The real HoSp producer (gunicorn, 2 workers, mutual TLS) with the dev consumer registry."""
    srv = start_server(hosp_db, tls_dir, tmp_path_factory.mktemp("hosp-server") / "server.log", service="hosp")
    yield srv
    stop_server(srv)


@pytest.fixture
def hosp(hosp_server):
    """Calls HoSp and, after the test, checks that each call left exactly one audit record."""
    from tests.hosp_client import HospClient

    client = HospClient(hosp_server)
    before = client.audit_count()
    yield client
    assert client.audit_count() - before == client.calls, "every call leaves exactly one audit record"


# The production topology's tests (tests/cluster) start HAProxy, etcd, Patroni and four producers:
# `make test-cluster` runs them; the ordinary suite does not.
collect_ignore = [] if __import__("os").environ.get("NTJP_CLUSTER_TESTS") else ["cluster"]
# The 500 000-person restore drill (tests/drill): `make test-drill`, not the ordinary suite.
if not __import__("os").environ.get("NTJP_DRILL_TESTS"):
    collect_ignore.append("drill")


@pytest.fixture
def archive():
    """A PostgreSQL server of the test's own, archiving its WAL to a pgBackRest repository
    (tests/pgbackrest.py): for the point-in-time restore test and the restore drill."""
    from tests.pgbackrest import archived_postgres

    archive = archived_postgres()
    yield archive
    archive.server.stop()
    archive.remove()
