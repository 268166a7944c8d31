"""On PostgreSQL, FMB's version stamps are kept until the server notifies a change
(``storage/listen.py``, migration 0008's trigger): no query per call, a change seen within
milliseconds, and a lost listening connection never leaves a process serving old stamps: every
call reads them again until it listens anew."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from ntjp_producer.fmb.importer import import_release
from ntjp_producer.fmb.models import STATE_CHANNEL
from ntjp_producer.storage import db
from tests.helpers import LATEST, OLD

pytestmark = pytest.mark.postgres

SQL = "SELECT kind, senaste_versionsuppdatering, senate_andring FROM fmb_state"


def _until(predicate, seconds: float) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.005)
    return time.monotonic() - started


def _listening(read: db.SmallRead) -> bool:
    return read._listener.key() is not None


@pytest.fixture
def listening(db_url):
    """A stamps reader on a database holding the old release, once its listener is proved."""
    sessions = db.session_factory(db_url)
    import_release(sessions, OLD)
    read = db.SmallRead(db.engine_for(db_url), SQL, channel=STATE_CHANNEL)
    read.rows()
    _until(lambda: _listening(read), 5)
    yield sessions, read
    read._listener.stop()


def test_stamps_are_kept_until_a_change_is_notified(listening):
    sessions, read = listening
    first = read.rows()
    queries = read.reads
    for _ in range(500):
        assert read.rows() == first
    assert read.reads == queries, "kept: no query while nothing changed"
    import_release(sessions, LATEST)
    seen_after = _until(lambda: read.rows() != first, 2)
    assert seen_after < 0.5, seen_after
    assert read.rows() == read.rows(fresh=True) != first


def test_a_lost_listener_means_reading_on_every_call_until_it_is_back(listening, db_url):
    sessions, read = listening
    with db.engine_for(db_url).begin() as conn:
        ended = conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                 " WHERE application_name = :name AND datname = current_database()"),
            {"name": f"ntjp-listen-{STATE_CHANNEL}"},
        ).all()
    assert ended == [(True,)]
    _until(lambda: not _listening(read), 1)
    before = read.rows()
    queries = read.reads
    import_release(sessions, LATEST)  # its notification reaches no one
    assert read.rows() != before, "seen on the next call: read, not kept"
    assert read.reads == queries + 1
    _until(lambda: _listening(read), 5)
    read.rows()
    queries = read.reads
    read.rows()
    assert read.reads == queries, "listening again: kept again"
