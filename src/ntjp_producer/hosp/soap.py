"""The HoSp contracts' adapter: validated request element in, serialised response element out.

Unlike FMB's, this adapter writes its XML itself instead of through Spyne: an IVO search answers
up to 100 persons with every § 6 item (about 300 kB), and building that element by element (lxml
took 13 ms for one such answer) would spend much of the 50 ms budget; every text is escaped, every
coded value is built once and reused. The plumbing has validated the request against the contract's schema
before it gets here; the tests validate every response against it.

Each § 6 item becomes exactly one element kind (``ITEM_ELEMENTS``), so leaving out an item the
caller may not see leaves out its element, and nothing else decides that here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from ntjp_producer import clock, ns
from ntjp_producer.hosp import codes, personnummer
from ntjp_producer.hosp.access import ConsumerType
from ntjp_producer.hosp.harvest import HarvestGuard, QuotaReached, Refusal, Tally
from ntjp_producer.hosp.services import (
    CRITERION_ELEMENTS,
    MAX_RESULTS,
    Criteria,
    HospService,
    Items,
)
from ntjp_producer.rivta import calls
from ntjp_producer.rivta.faults import SERVER, RivtaFault

GET = "GetHealthcareProfessional"
SEARCH = "SearchHealthcareProfessionals"
D = ns.HOSP

# § 6 item -> the element that carries it (HealthcareProfessionalType, in schema order).
ITEM_ELEMENTS = {
    1: "personalData", 2: "populationRegistration", 3: "profession", 4: "education", 5: "speciality",
    6: "issueDate", 7: "timeLimitedAuthorisation", 8: "partialAccess", 9: "probationOrRevocation",
    10: "prescription", 11: "assistantNurseCertificate", 12: "registerData",
}  # fmt: skip


def _t(name: str, value: str) -> str:
    # Most values (codes, dates, most names) hold nothing to escape: tested first, they skip escape()'s three passes.
    if "&" in value or "<" in value or ">" in value:
        value = escape(value)
    return f"<core:{name}>{value}</core:{name}>"


@lru_cache(maxsize=4096)
def _cv(name: str, system: codes.CodeSystem, code: str) -> str:
    """A CVType element; the same few hundred codes recur in every answer, so each is built once."""
    display = system.display(code)
    return (
        f"<core:{name}>{_t('code', code)}{_t('codeSystem', system.oid)}{_t('codeSystemName', system.name)}"
        + (_t("displayName", display) if display is not None else "")
        + f"</core:{name}>"
    )


@lru_cache(maxsize=1024)
def _stamp(iso: str) -> str:
    """Few distinct values: every person of an import shares its instant unless changed since."""
    return clock.stamp(dt.datetime.fromisoformat(iso))


def _wrap(name: str, *parts: str) -> str:
    return f"<core:{name}>{''.join(parts)}</core:{name}>"


# One writer per § 6 item: the item's data in, its element(s) out. ``person_xml`` picks them by number.
_P = codes.PROFESSION


def _personal_data(name: str, data: Any) -> str:
    pnr = data["personnummer"]
    middle, sex = data.get("mellannamn"), data.get("kon")
    return (
        f"<core:{name}><core:personalIdentity>{_t('root', personnummer.root(pnr))}{_t('extension', pnr)}"
        f"</core:personalIdentity>{_t('givenName', data['fornamn'])}{_t('middleName', middle) if middle else ''}"
        f"{_t('surname', data['efternamn'])}{_cv('sex', codes.SEX, sex) if sex else ''}</core:{name}>"
    )


def _population_registration(name: str, data: Any) -> str:
    county, municipality = data["lan"], data["kommun"]
    return _wrap(name, _cv("county", codes.COUNTY, county), _cv("municipality", codes.MUNICIPALITY, municipality))


def _professions(name: str, data: Any) -> str:
    return "".join(_cv(name, _P, yrke) for yrke in data)


def _education(name: str, data: Any) -> str:
    parts = []
    for u in data:
        school, country, degree = u.get("larosate"), u.get("land"), u.get("examensdatum")
        parts.append(
            f"<core:{name}>{_cv('basicProfession', _P, u['grundyrke'])}{_t('school', school) if school else ''}"
            f"{_cv('country', codes.COUNTRY, country) if country else ''}"
            f"{_t('degreeDate', clock.wire_date(degree)) if degree else ''}</core:{name}>"
        )
    return "".join(parts)


def _specialities(name: str, data: Any) -> str:
    return "".join(
        _wrap(name, _cv("profession", _P, x["yrke"]), _cv("speciality", codes.SPECIALITY, x["kod"])) for x in data
    )


def _issue_dates(name: str, data: Any) -> str:
    return "".join([
        f"<core:{name}>{_cv('profession', _P, d['yrke'])}"
        f"{_cv('speciality', codes.SPECIALITY, d['kod']) if d['kod'] else ''}"
        f"{_t('date', clock.wire_date(d['datum']))}</core:{name}>"
        for d in data
    ])  # fmt: skip


def _time_limited(name: str, data: Any) -> str:
    return "".join(
        _wrap(name, _cv("profession", _P, t["yrke"]), _t("validTo", clock.wire_date(t["giltigTill"]))) for t in data
    )


def _partial_access(name: str, data: Any) -> str:
    return "".join(
        _wrap(
            name,
            _cv("profession", _P, x["yrke"]),
            _t("decisionDate", clock.wire_date(x["beslutsdatum"])),
            _t("scope", x["omfattning"]),
        )
        for x in data
    )


def _probation_or_revocation(name: str, data: Any) -> str:
    return "".join(
        _wrap(
            name,
            _cv("profession", _P, b["yrke"]),
            _cv("decision", codes.DECISION, b["typ"]),
            _t("decisionDate", clock.wire_date(b["beslutsdatum"])),
            _t("endDate", clock.wire_date(b["slutdatum"])) if b.get("slutdatum") else "",
        )
        for b in data
    )


def _prescription(name: str, data: Any) -> str:
    scope = _cv("scope", codes.PRESCRIPTION_SCOPE, data["omfattning"])
    return _wrap(name, _t("prescriberCode", data["forskrivarkod"]), scope)


def _assistant_nurse(name: str, data: Any) -> str:
    return _wrap(name, _t("certificateDate", clock.wire_date(data["utfardad"])))


def _register_data(name: str, data: Any) -> str:
    return _wrap(name, _t("lastChanged", _stamp(data["andrad"]))) if data.get("andrad") else ""


_ITEM_WRITERS: dict[int, Callable[[str, Any], str]] = {
    1: _personal_data, 2: _population_registration, 3: _professions, 4: _education, 5: _specialities,
    6: _issue_dates, 7: _time_limited, 8: _partial_access, 9: _probation_or_revocation, 10: _prescription,
    11: _assistant_nurse, 12: _register_data,
}  # fmt: skip
assert _ITEM_WRITERS.keys() == ITEM_ELEMENTS.keys(), "every § 6 item has an element and a writer"


_IN_ORDER = [(number, _ITEM_WRITERS[number], ITEM_ELEMENTS[number]) for number in sorted(ITEM_ELEMENTS)]


def person_xml(items: Items) -> str:
    """One healthcareProfessional's content: each visible § 6 item's element, in schema order."""
    return "".join([write(name, items[number]) for number, write, name in _IN_ORDER if number in items])


def _response(contract: str, people: list[Items], tail: str = "") -> bytes:
    r = ns.hosp_responder(contract)
    body = "".join(f"<healthcareProfessional>{person_xml(items)}</healthcareProfessional>" for items in people)
    return f'<{contract}Response xmlns="{r}" xmlns:core="{D}">{body}{tail}</{contract}Response>'.encode()


def _consumer(call: calls.Call | None) -> ConsumerType:
    if call is None or call.consumer_type is None:  # the plumbing authorises first; never answer unchecked
        raise RivtaFault(SERVER, "Caller not authorised")
    return ConsumerType(call.consumer_type)


def _guarded(call: calls.Call, guard: HarvestGuard | None, check: Callable[[], None]) -> None:
    """Run a harvest-protection check; a refusal is audited with its reason."""
    if guard is None:
        return
    try:
        check()
    except Refusal as refused:  # answered as access denied by the plumbing's table, like any refusal
        call.refusal = "quota" if isinstance(refused, QuotaReached) else "not specific"
        guard.refused(call.consumer_hsaid, call.consumer_type, call.refusal)
        raise


def _tally(call: calls.Call, guard: HarvestGuard | None, consumer: ConsumerType) -> Tally | None:
    """What the register's read fills with the quota's count, if this caller has a quota."""
    return guard.tally(call.consumer_hsaid, consumer) if guard is not None else None


def get_handler(service: HospService, guard: HarvestGuard | None = None) -> Callable[[etree._Element], bytes]:
    r = ns.hosp_responder(GET)

    def handle(request: etree._Element) -> bytes:
        call = calls.current.get()
        consumer = _consumer(call)
        pnr = (request.findtext(f"{{{r}}}personalIdentityNumber") or "").strip()
        call.criteria = {"personalIdentityNumber": pnr}
        call.asked = [pnr]
        tally = _tally(call, guard, consumer)
        items = service.get(pnr, consumer, tally)  # its refusals are answered by the plumbing's one table
        if items is not None:
            _guarded(call, guard, lambda: guard.admit(call.consumer_hsaid, consumer, [pnr], tally=tally))
            call.returned = [pnr]
        return _response(GET, [items] if items is not None else [])

    return handle


def search_handler(service: HospService, guard: HarvestGuard | None = None) -> Callable[[etree._Element], bytes]:
    r = ns.hosp_responder(SEARCH)
    fields = {f"{{{r}}}{element}": field for field, element in CRITERION_ELEMENTS.items()}
    max_results_tag = f"{{{r}}}maxResults"

    def handle(request: etree._Element) -> bytes:
        call = calls.current.get()
        consumer = _consumer(call)
        # One pass over the request's children: the schema has allowed each element once at most.
        values: dict[str, Any] = {}
        max_results = None
        for child in request:
            field = fields.get(child.tag)
            if field is not None:
                values[field] = (child.text or "").strip()
            elif child.tag == max_results_tag:
                max_results = child.text  # the schema has made it an int 1-100
        criteria = Criteria(**values, max_results=int(max_results) if max_results else MAX_RESULTS)
        call.criteria = criteria.given() | ({"maxResults": criteria.max_results} if max_results else {})
        def screen() -> None:
            _guarded(call, guard, lambda: guard.check_search(criteria.given(), consumer))

        tally = _tally(call, guard, consumer)
        found, more = service.search(criteria, consumer, screen=screen, tally=tally)
        returned = [pnr for pnr, _ in found]
        _guarded(call, guard, lambda: guard.admit(call.consumer_hsaid, consumer, returned, tally=tally))
        call.returned = returned
        more_xml = f"<moreResultsExist>{'true' if more else 'false'}</moreResultsExist>"
        return _response(SEARCH, [items for _, items in found], more_xml)

    return handle
