"""A request the plumbing has checked before is known by its bytes (``rivta/questions.py``), and an
FMB answer once assembled is kept per data version and day (``fmb/soap.py``). Neither may change
what any request is answered: a request that differs in one byte is checked from the start, a
refused one is not kept, and no answer outlives its data version or its day.

In process: the server adds nothing to this (tests/test_versions_live.py imports under a running
server with two workers).
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from ntjp_producer import clock
from ntjp_producer.app import create_app
from ntjp_producer.fmb.importer import import_release
from ntjp_producer.rivta.questions import UNSEEN, Questions
from ntjp_producer.settings import Settings
from ntjp_producer.storage import db
from tests.helpers import LATEST, OLD, envelope
from tests.inprocess import call

K40 = "<r:diagnosKod><c:code>K40</c:code></r:diagnosKod>"
PATH = "/GetFmb/1/rivtabp21"


def _plumbing(app):
    """The RIV-TA application inside the assembled one (identity -> router -> plumbing)."""
    return app.app.default


def _counting_reader(app, contract: str) -> list:
    """Wraps a contract's reader so the test sees each time a request is read in full."""
    rivta = _plumbing(app)
    target = rivta.contracts[f"/{contract}/1/rivtabp21"]
    seen: list = []
    reader = target.reader

    def counted(request):
        seen.append(request)
        return reader(request)

    target.reader = counted
    return seen


def test_the_same_bytes_again_are_answered_the_same_without_being_read_again(latest_db):
    app = create_app(Settings(db=latest_db, measure=False))
    reads = _counting_reader(app, "GetFmb")
    body = envelope("GetFmb", K40).encode()
    first, second = call(app, PATH, body), call(app, PATH, body)
    assert first.status == second.status == 200
    assert first.body == second.body and first.body.count(b"<tns:beslutsunderlag>") == 4
    assert len(reads) == 1 and len(_plumbing(app).questions) == 1
    # One byte more (white space in the body) is another request: read and checked again.
    spaced = body.replace(b"</r:GetFmb>", b" </r:GetFmb>")
    assert call(app, PATH, spaced).body == first.body
    assert len(reads) == 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ((b"SE2021000555", b"SE0000000000"), "LogicalAddress 'SE0000000000' is not served by this producer"),
        ((b"<c:code>K40</c:code>", b"<c:code>K40</c:code><c:extra/>"), "does not conform to the GetFmb schema"),
        ((b"</s:Envelope>", b""), "XML"),
    ],
    ids=["logical-address", "schema", "not-well-formed"],
)
def test_a_request_like_one_seen_before_is_still_checked(latest_db, change, expected):
    app = create_app(Settings(db=latest_db, measure=False))
    body = envelope("GetFmb", K40).encode()
    assert call(app, PATH, body).status == 200
    answer = call(app, PATH, body.replace(*change))
    code, message = answer.fault()
    assert code == "Client" and expected in message, message
    assert len(_plumbing(app).questions) == 1, "a refused request is not kept"


def test_a_refused_request_is_refused_again_in_full(latest_db):
    app = create_app(Settings(db=latest_db, measure=False))
    reads = _counting_reader(app, "GetFmb")
    body = envelope("GetFmb", "<r:diagnosKod><c:code>K4O!</c:code></r:diagnosKod>").encode()
    for _ in range(2):
        assert call(app, PATH, body).fault()[0] == "Client"
    assert len(reads) == 2 and len(_plumbing(app).questions) == 0


def test_questions_are_bounded():
    questions = Questions(max_entries=2, max_request_bytes=10)
    for n in range(3):
        questions.remember("/p", b"r%d" % n, n)
    assert (questions.get("/p", b"r0"), questions.get("/p", b"r1"), questions.get("/p", b"r2")) == (UNSEEN, 1, 2)
    assert questions.get("/other", b"r1") is UNSEEN, "an endpoint's questions are its own"
    questions.remember("/p", b"x" * 11, "large")
    assert questions.get("/p", b"x" * 11) is UNSEEN and len(questions) == 2


def test_a_kept_answer_is_not_served_after_an_import(db_url):
    sessions = db.session_factory(db_url)
    import_release(sessions, LATEST)
    app = create_app(Settings(db=db_url, measure=False))
    asks = [envelope("GetFmb", K40).encode(), envelope("GetFmb").encode(), envelope("GetVersions").encode()]
    paths = [PATH, PATH, "/GetVersions/1/rivtabp21"]
    before = [call(app, p, b).body for p, b in zip(paths, asks, strict=True)]
    import_release(sessions, OLD)
    # Seen with the next call on SQLite; on PostgreSQL once the notification is in (storage/listen.py).
    deadline = time.monotonic() + 2
    while call(app, paths[2], asks[2]).body == before[2]:
        assert time.monotonic() < deadline, "the import was not seen within 2 s"
        time.sleep(0.01)
    after = [call(app, p, b).body for p, b in zip(paths, asks, strict=True)]
    fresh = create_app(Settings(db=db_url, measure=False))  # nothing kept yet
    assert after == [call(fresh, p, b).body for p, b in zip(paths, asks, strict=True)]
    assert all(a != b for a, b in zip(before, after, strict=True)), "each answer is the old release's now"


def test_a_kept_answer_is_not_served_the_next_day(latest_db, monkeypatch):
    app = create_app(Settings(db=latest_db, measure=False))
    body = envelope("GetFmb", K40).encode()
    today = call(app, PATH, body).body
    monkeypatch.setattr(clock, "today", lambda at=None: dt.date(2000, 1, 1))  # before any item was valid
    before_any = call(app, PATH, body).body
    fresh = create_app(Settings(db=latest_db, measure=False))
    assert before_any == call(fresh, PATH, body).body
    assert today.count(b"<tns:beslutsunderlag>") == 4 and before_any.count(b"<tns:beslutsunderlag>") == 0
