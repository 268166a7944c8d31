"""The HoSp contracts' adapter: validated request element in, response element out.

Unlike FMB's, this adapter builds its XML with lxml instead of Spyne: an IVO search answers up to
100 persons with every § 6 item, and Spyne's per-element serialisation would spend most of the
50 ms budget on that alone. The plumbing has validated the request against the contract's schema
before it gets here; the tests validate every response against it.

Each § 6 item becomes exactly one element kind (``ITEM_ELEMENTS``), so leaving out an item the
caller may not see leaves out its element, and nothing else decides that here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from ntjp_producer import ns
from ntjp_producer.hosp import codes, personnummer
from ntjp_producer.hosp.access import ConsumerType
from ntjp_producer.hosp.services import Criteria, CriterionNotAllowed, HospService, InvalidCriteria, Items
from ntjp_producer.rivta import calls
from ntjp_producer.rivta.calls import AccessDenied
from ntjp_producer.rivta.faults import CLIENT, SERVER, RivtaFault

GET = "GetHealthcareProfessional"
SEARCH = "SearchHealthcareProfessionals"
D = ns.HOSP
SWEDEN = ZoneInfo("Europe/Stockholm")

# § 6 item -> the element that carries it (HealthcareProfessionalType, in schema order).
ITEM_ELEMENTS = {
    1: "personalData", 2: "populationRegistration", 3: "profession", 4: "education", 5: "speciality",
    6: "issueDate", 7: "timeLimitedAuthorisation", 8: "partialAccess", 9: "probationOrRevocation",
    10: "prescription", 11: "assistantNurseCertificate", 12: "registerData",
}  # fmt: skip


def _el(parent: etree._Element, name: str, value: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{D}}}{name}")
    if value is not None:
        child.text = value
    return child


def _cv(parent: etree._Element, name: str, system: codes.CodeSystem, code: str) -> None:
    cv = _el(parent, name)
    _el(cv, "code", code)
    _el(cv, "codeSystem", system.oid)
    _el(cv, "codeSystemName", system.name)
    display = system.display(code)
    if display is not None:
        _el(cv, "displayName", display)


def _date(iso: str) -> str:
    return iso.replace("-", "")


def _stamp(iso: str) -> str:
    return dt.datetime.fromisoformat(iso).astimezone(SWEDEN).strftime("%Y%m%d%H%M%S")


def _item(hp: etree._Element, number: int, data: Any) -> None:
    name = ITEM_ELEMENTS[number]
    if number == 1:
        pd = _el(hp, name)
        pid = _el(pd, "personalIdentity")
        _el(pid, "root", personnummer.root(data["personnummer"]))
        _el(pid, "extension", data["personnummer"])
        _el(pd, "givenName", data["fornamn"])
        if data.get("mellannamn"):
            _el(pd, "middleName", data["mellannamn"])
        _el(pd, "surname", data["efternamn"])
        if data.get("kon"):
            _cv(pd, "sex", codes.SEX, data["kon"])
    elif number == 2:
        reg = _el(hp, name)
        _cv(reg, "county", codes.COUNTY, data["lan"])
        _cv(reg, "municipality", codes.MUNICIPALITY, data["kommun"])
    elif number == 3:
        for yrke in data:
            _cv(hp, name, codes.PROFESSION, yrke)
    elif number == 4:
        for u in data:
            e = _el(hp, name)
            _cv(e, "basicProfession", codes.PROFESSION, u["grundyrke"])
            if u.get("larosate"):
                _el(e, "school", u["larosate"])
            if u.get("land"):
                _cv(e, "country", codes.COUNTRY, u["land"])
            if u.get("examensdatum"):
                _el(e, "degreeDate", _date(u["examensdatum"]))
    elif number == 5:
        for s in data:
            e = _el(hp, name)
            _cv(e, "profession", codes.PROFESSION, s["yrke"])
            _cv(e, "speciality", codes.SPECIALITY, s["kod"])
    elif number == 6:
        for d in data:
            e = _el(hp, name)
            _cv(e, "profession", codes.PROFESSION, d["yrke"])
            if d["kod"]:
                _cv(e, "speciality", codes.SPECIALITY, d["kod"])
            _el(e, "date", _date(d["datum"]))
    elif number == 7:
        for t in data:
            e = _el(hp, name)
            _cv(e, "profession", codes.PROFESSION, t["yrke"])
            _el(e, "validTo", _date(t["giltigTill"]))
    elif number == 8:
        for p in data:
            e = _el(hp, name)
            _cv(e, "profession", codes.PROFESSION, p["yrke"])
            _el(e, "decisionDate", _date(p["beslutsdatum"]))
            _el(e, "scope", p["omfattning"])
    elif number == 9:
        for b in data:
            e = _el(hp, name)
            _cv(e, "profession", codes.PROFESSION, b["yrke"])
            _cv(e, "decision", codes.DECISION, b["typ"])
            _el(e, "decisionDate", _date(b["beslutsdatum"]))
            if b.get("slutdatum"):
                _el(e, "endDate", _date(b["slutdatum"]))
    elif number == 10:
        e = _el(hp, name)
        _el(e, "prescriberCode", data["forskrivarkod"])
        _cv(e, "scope", codes.PRESCRIPTION_SCOPE, data["omfattning"])
    elif number == 11:
        _el(_el(hp, name), "certificateDate", _date(data["utfardad"]))
    elif number == 12 and data.get("andrad"):
        _el(_el(hp, name), "lastChanged", _stamp(data["andrad"]))


def person_element(parent: etree._Element, name: str, items: Items) -> None:
    hp = etree.SubElement(parent, name)
    for number in sorted(items):
        _item(hp, number, items[number])


def _consumer(call: calls.Call | None) -> ConsumerType:
    if call is None or call.consumer_type is None:  # the plumbing authorises first; never answer unchecked
        raise RivtaFault(SERVER, "Caller not authorised")
    return ConsumerType(call.consumer_type)


def get_handler(service: HospService) -> Callable[[etree._Element], etree._Element]:
    r = ns.hosp_responder(GET)

    def handle(request: etree._Element) -> etree._Element:
        call = calls.current.get()
        consumer = _consumer(call)
        pnr = (request.findtext(f"{{{r}}}personalIdentityNumber") or "").strip()
        call.criteria = {"personalIdentityNumber": pnr}
        call.asked = [pnr]
        try:
            items = service.get(pnr, consumer)
        except InvalidCriteria as exc:
            raise RivtaFault(CLIENT, str(exc)) from None
        except CriterionNotAllowed as exc:
            raise AccessDenied(str(exc)) from None
        response = etree.Element(f"{{{r}}}{GET}Response", nsmap={None: r, "core": D})
        if items is not None:
            person_element(response, f"{{{r}}}healthcareProfessional", items)
            call.returned = [pnr]
        return response

    return handle


_SEARCH_FIELDS = {
    "birthDate": "birth_date",
    "givenName": "given_name",
    "surname": "surname",
    "professionCode": "profession_code",
    "countyCode": "county_code",
    "municipalityCode": "municipality_code",
}


def search_handler(service: HospService) -> Callable[[etree._Element], etree._Element]:
    r = ns.hosp_responder(SEARCH)

    def handle(request: etree._Element) -> etree._Element:
        call = calls.current.get()
        consumer = _consumer(call)
        values: dict[str, Any] = {}
        for element, field in _SEARCH_FIELDS.items():
            value = request.findtext(f"{{{r}}}{element}")
            if value is not None:
                values[field] = value.strip()
        max_results = request.findtext(f"{{{r}}}maxResults")
        criteria = Criteria(**values, **({"max_results": int(max_results)} if max_results else {}))
        call.criteria = {**criteria.given(), **({"maxResults": int(max_results)} if max_results else {})}
        try:
            found, more = service.search(criteria, consumer)
        except InvalidCriteria as exc:
            raise RivtaFault(CLIENT, str(exc)) from None
        except CriterionNotAllowed as exc:
            raise AccessDenied(str(exc)) from None
        response = etree.Element(f"{{{r}}}{SEARCH}Response", nsmap={None: r, "core": D})
        for _pnr, items in found:
            person_element(response, f"{{{r}}}healthcareProfessional", items)
        etree.SubElement(response, f"{{{r}}}moreResultsExist").text = "true" if more else "false"
        call.returned = [pnr for pnr, _ in found]
        return response

    return handle
