"""Calling the HoSp producer in tests: raw SOAP and zeep, directly or as if through the platform."""

from __future__ import annotations

from lxml import etree

from ntjp_producer.hosp.audit import AuditTrail
from ntjp_producer.hosp.soap import ITEM_ELEMENTS
from ntjp_producer.storage import db
from ntjp_producer.transport.certs import CLIENTS
from tests.helpers import RESPONDER, SOAP, Server, envelope

ORIGINAL = "x-rivta-original-serviceconsumer-hsaid"
ELEMENT_ITEMS = {name: item for item, name in ITEM_ELEMENTS.items()}
SEARCH_ORDER = ["birthDate", "givenName", "surname", "professionCode", "countyCode", "municipalityCode", "maxResults"]
HSA = {name: hsaid for name, (_org, hsaid) in CLIENTS.items()}


class HospClient:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.calls = 0
        self.trail = AuditTrail(db.session_factory(server.db_url))

    def audit_count(self) -> int:
        return self.trail.count()

    def post(self, contract: str, inner: str, *, client: str = "region", via_platform_for: str | None = None,
             original: str | None = None, logical_address: str | None = None):  # fmt: skip
        """POST a request as ``client``; ``via_platform_for``: as the platform, for that dev client's HSA-id."""
        headers = {}
        if via_platform_for is not None:
            client, original = "ntjp", original or HSA[via_platform_for]
        if original is not None:
            headers[ORIGINAL] = original
        body = envelope(contract, inner, **({"logical_address": logical_address} if logical_address else {}))
        self.calls += 1
        return self.server.post(contract, body, client=client, headers=headers)

    def get(self, pnr: str, **kw):
        inner = f"<r:personalIdentityNumber>{pnr}</r:personalIdentityNumber>"
        return self.post("GetHealthcareProfessional", inner, **kw)

    def search(self, criteria: dict, **kw):
        ordered = sorted(criteria.items(), key=lambda kv: SEARCH_ORDER.index(kv[0]))  # the schema's sequence
        inner = "".join(f"<r:{k}>{v}</r:{k}>" for k, v in ordered)
        return self.post("SearchHealthcareProfessionals", inner, **kw)

    def zeep(self, contract: str, client: str = "region", headers: dict | None = None, **kwargs):
        service, _plugin = self.server.zeep(contract, client, headers)
        self.calls += 1
        return getattr(service, contract)(_soapheaders={"LogicalAddress": "SE2021000555"}, **kwargs)


def persons(response) -> list[etree._Element]:
    assert response.status_code == 200, response.text[:500]
    root = etree.fromstring(response.content)
    (answer,) = root.find(f"{{{SOAP}}}Body")
    return [el for el in answer if etree.QName(el).localname == "healthcareProfessional"]


def more_results(response) -> bool:
    root = etree.fromstring(response.content)
    (answer,) = root.find(f"{{{SOAP}}}Body")
    return answer.findtext(f"{{{RESPONDER['SearchHealthcareProfessionals']}}}moreResultsExist") == "true"


def items_in(person: etree._Element) -> set[int]:
    """The § 6 items a healthcareProfessional element carries."""
    return {ELEMENT_ITEMS[etree.QName(child).localname] for child in person}


def pnr_of(person: etree._Element) -> str:
    return person.findtext(".//{*}personalIdentity/{*}extension")
