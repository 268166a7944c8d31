"""One table from the domain's refusals to answers (``rivta/faults.ANSWERS``): every contract and the
JSON API answer the same refusal the same way, and every refusal the domain can raise is in it.

In process: what is answered here does not depend on the server (tests/test_fmb_soap.py and
tests/test_hosp_access.py show the same faults through gunicorn and mutual TLS).
"""

from __future__ import annotations

import importlib
import json
import pkgutil

import pytest
from sqlalchemy import text

import ntjp_producer
from ntjp_producer import refusals
from ntjp_producer.app import create_app
from ntjp_producer.fmb.services import NoFmbData
from ntjp_producer.rivta import faults
from ntjp_producer.settings import Settings
from ntjp_producer.storage import db
from tests.hosp_client import HSA
from tests.inprocess import call, soap


def _all_refusals() -> set[type]:
    for module in pkgutil.walk_packages(ntjp_producer.__path__, "ntjp_producer."):
        if ".storage.migrations" not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found, todo = set(), [refusals.Refused]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.add(sub)
            todo.append(sub)
    return {kind for kind in found if kind.__module__.startswith("ntjp_producer.")}


@pytest.mark.once
def test_every_refusal_the_domain_raises_has_an_answer_in_the_one_table():
    kinds = _all_refusals()
    names = {kind.__name__ for kind in kinds}
    assert {"InvalidDiagnosisCode", "NoFmbData", "InvalidCriteria", "CriterionNotAllowed", "NotSpecific",
            "QuotaReached", "AccessDenied"} <= names  # fmt: skip
    for kind in kinds:
        answer = faults.answer_for(kind.__new__(kind))
        assert answer in faults.ANSWERS.values(), f"{kind.__qualname__} has no answer of its own kind"
    # A refusal outside the table is the producer's fault, not the caller's.
    class Stray(refusals.Refused):
        pass

    assert faults.answer_for(Stray("x")) == (faults.SERVER, "server_fault", 500, "Internal Server Error", ())


def test_fmb_with_nothing_imported_is_the_same_refusal_on_soap_and_json(db_url):
    app = create_app(Settings(db=db_url, measure=False))
    code, message = soap(app, "GetVersions").fault()
    assert (code, message) == ("Server", str(NoFmbData()))
    assert message == "No FMB data has been imported into this producer yet"
    answer = call(app, "/fmb/typfall", method="GET")
    assert answer.status == 503 and answer.headers["Retry-After"] == "300"
    assert json.loads(answer.body)["errors"] == [{"status": "503", "title": "Service Unavailable", "detail": message}]


def test_fmb_invalid_code_is_the_same_refusal_on_soap_and_json(latest_db):
    app = create_app(Settings(db=latest_db, measure=False))
    code, message = soap(app, "GetFmb", "<r:diagnosKod><c:code>K4O!</c:code></r:diagnosKod>").fault()
    detail = "'K4O!' is not an ICD-10-SE diagnosis code"
    assert (code, message) == ("Client", f"Invalid diagnosKod: {detail}")  # SOAP names the element it came in
    answer = call(app, "/fmb/typfall", method="GET", query="diagnoskod=K4O!")
    assert answer.status == 400
    assert json.loads(answer.body)["errors"][0] == {"status": "400", "title": "Bad Request", "detail": detail}


def _audit(url: str) -> list[tuple[str, str | None]]:
    with db.engine_for(url).connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT outcome, refusal FROM hosp_audit ORDER BY id"))]


@pytest.mark.parametrize(
    ("contract", "inner", "fault", "audited"),
    [
        ("GetHealthcareProfessional", "<r:personalIdentityNumber>193503140124</r:personalIdentityNumber>",
         ("Client", "The personal identity number's check digit is wrong"), ("client_fault", None)),
        ("SearchHealthcareProfessionals", "<r:birthDate>19350314</r:birthDate><r:surname>Andersson</r:surname>"
         "<r:countyCode>01</r:countyCode>", ("Client", None), ("refused", None)),
        ("SearchHealthcareProfessionals", "<r:surname>Andersson</r:surname>",
         ("Client", None), ("refused", "not specific")),
    ],
    ids=["bad-number", "criterion-not-allowed", "not-specific"],
)  # fmt: skip
def test_hosp_refusals_are_answered_and_audited_by_their_kind(hosp_db, tls_dir, contract, inner, fault, audited):
    app = create_app(Settings(service="hosp", db=hosp_db, tls_dir=str(tls_dir), measure=False))
    before = len(_audit(hosp_db))
    code, message = soap(app, contract, inner, peer=HSA["region"]).fault()
    assert code == fault[0] and (fault[1] is None or message == fault[1]), message
    assert "Traceback" not in message and message
    assert _audit(hosp_db)[before:] == [audited]
