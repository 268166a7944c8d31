from __future__ import annotations

import pytest

from ntjp_producer.fmb.importer import import_release
from ntjp_producer.storage import db
from ntjp_producer.transport import certs
from tests.helpers import LATEST, new_database, start_server, stop_server


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
def server(latest_db, tls_dir, tmp_path_factory):
    """The real producer (gunicorn, 2 workers, mutual TLS) serving releases/latest."""
    srv = start_server(latest_db, tls_dir, tmp_path_factory.mktemp("server") / "server.log")
    yield srv
    stop_server(srv)
