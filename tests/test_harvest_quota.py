"""Harvest protection's quota, counted by the register's own read: a Get or a Search runs no
statement of its own for the quota check (the count is a column of the read that fetches the
persons), and the quota holds to the person. In process; tests/test_harvest.py walks the register
through a real server."""

from __future__ import annotations

import datetime as dt
import json

from lxml import etree

from ntjp_producer.app import create_app
from ntjp_producer.hosp.audit import AuditTrail
from ntjp_producer.settings import Settings
from ntjp_producer.storage import db
from tests.hosp_client import HSA
from tests.inprocess import soap

GET, SEARCH = "GetHealthcareProfessional", "SearchHealthcareProfessionals"


def _answered(answer) -> int:
    assert answer.status == 200, answer.body[:300]
    return len(etree.fromstring(answer.body).findall(".//{*}healthcareProfessional"))


def test_the_quota_is_counted_by_the_read_that_fetches_the_persons_and_holds_to_the_person(
    hosp_db, tls_dir, hosp_extract, monkeypatch
):
    people = [json.loads(line) for line in hosp_extract.read_text().splitlines()]
    a, b, c = people[3], people[4], people[5]
    by_name = (f"<r:birthDate>{b['personnummer'][:8]}</r:birthDate>"
               f"<r:surname>{b['efternamn']}</r:surname>")  # fmt: skip
    settings = Settings(service="hosp", db=hosp_db, tls_dir=str(tls_dir), measure=False)
    found = _answered(soap(create_app(settings), SEARCH, by_name, peer=HSA["region"]))
    assert found >= 1

    trail = AuditTrail(db.session_factory(hosp_db))
    used = trail.persons_returned_since(HSA["region"], dt.datetime.now(dt.UTC) - dt.timedelta(hours=24))

    def no_read_of_its_own(*_args):
        raise AssertionError("the quota check read the count with a statement of its own")

    monkeypatch.setattr(AuditTrail, "persons_returned_since", no_read_of_its_own)
    # Room for the Get of a and the same search again, and not one person more.
    app = create_app(settings.with_overrides(harvest_quota_persons=used + 1 + found))
    assert _answered(soap(app, GET, f"<r:personalIdentityNumber>{a['personnummer']}</r:personalIdentityNumber>",
                          peer=HSA["region"])) == 1  # fmt: skip
    assert _answered(soap(app, SEARCH, by_name, peer=HSA["region"])) == found
    code, message = soap(app, GET, f"<r:personalIdentityNumber>{c['personnummer']}</r:personalIdentityNumber>",
                         peer=HSA["region"]).fault()  # fmt: skip
    assert code == "Client" and message.startswith("Quota reached"), message
    assert f"answered with {used + 1 + found} persons" in message
