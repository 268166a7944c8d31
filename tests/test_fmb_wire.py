"""FMB and PingForConfiguration on the wire as the deployed producer answered them
(../shared/reference/fmb-contracts.md, "The wire format the deployed producer answered").

Every answer the suite receives is already held against the deployed shapes (names, namespaces,
order, formats; tests/helpers.py). These tests add what a shape alone cannot say: that no element
the data can fill is missing, item by item over releases/latest, and that each text Webcert reads
arrives wherever the release has it. The expectations are computed here from the release's JSON
with the test's own projection, not with the producer's mapping code.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from lxml import etree

from tests.helpers import FMB_NS, LOGICAL_ADDRESS, RESPONDER, envelope, fault_of

pytestmark = pytest.mark.slow

CORE = f"{FMB_NS}:1"
PING = RESPONDER["PingForConfiguration"]
KOD = ("code", "codeSystem", "codeSystemName", "codeSystemVersion", "displayName")
ATGARD = {"397943006": "urvalPlaneradAtgard", "398166005": "urvalUtfordAtgard", "385651009": "urvalPagaendeAtgard"}
KINDS = {
    "urvalArbetsbelastning": "arbetsbelastning",
    "urvalKomplicerandeFaktor": "komplicerandeFaktor",
    "urvalPagaendeAtgard": "pagaendeAtgard",
    "urvalPlaneradAtgard": "planeradAtgard",
    "urvalSamsjuklighet": "samsjuklighet",
    "urvalSjukdomsforlopp": "sjukdomsforlopp",
    "urvalSvarighetsgrad": "svarighetsgrad",
    "urvalUtfordAtgard": "utfordAtgard",
}
URVAL = {
    "urvalarbetsbelastning": ("urvalArbetsbelastning", "arbetsbelastning"),
    "urvalkomplicerandefaktor": ("urvalKomplicerandeFaktor", "komplicerandefaktor"),
    "urvalsjukdomsforlopp": ("urvalSjukdomsforlopp", "sjukdomsforlopp"),
    "urvalsvarighetsgrad": ("urvalSvarighetsgrad", "svarighetsgrad"),
}


@pytest.fixture(scope="module")
def whole(server):
    """GetFmb and GetDiagnosInformation without parameters, as raw XML (validated and shape-checked
    by ``server.post``)."""
    out = {}
    for contract, items in (("GetFmb", "beslutsunderlag"), ("GetDiagnosInformation", "diagnosInformation")):
        r = server.post(contract, envelope(contract))
        assert r.status_code == 200
        response = etree.fromstring(r.content).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
        out[contract] = (response, response.findall(f"{{{RESPONDER[contract]}}}{items}"))
    return out


def paths(item: etree._Element) -> Counter:
    """Every element below ``item`` as a path of local names, counted."""
    found: Counter = Counter()

    def walk(el, prefix):
        for child in el:
            path = prefix + etree.QName(child).localname
            found[path] += 1
            walk(child, path + "/")

    walk(item, "")
    return found


def _has_text(value) -> bool:
    return bool(value and re.sub(r"<[^>]+>", "", value).strip())


def _kod_paths(prefix: str, n: int) -> Counter:
    return Counter({prefix: n, **{f"{prefix}/{k}": n for k in KOD}})


def expected_beslutsunderlag(a: dict) -> Counter:
    rek, ft = a["rekommenderadsjukskrivning"], a["fmbtillstand"]
    want = Counter(
        ["underlagsId", "underlagsId/root", "underlagsId/extension", "giltighetstid", "giltighetstid/start", "version"]
    )
    want.update(["sjukskrivningstidText", "sjukskrivningsgrad", "senastAndrad", "villkor"])
    if a["giltighetsperiod"].get("slut"):
        want["giltighetstid/slut"] += 1
    if _has_text(a.get("typfallsmening")):
        want["textuelltUnderlag"] += 1
    if rek.get("maximalsjukskrivningstid") is not None:
        want.update(["sjukskrivningstid", "sjukskrivningstid/value", "sjukskrivningstid/unit"])
    selections: list[tuple[str, int]] = []
    for key, (element, inner) in URVAL.items():
        selections += [(element, len(sel[inner])) for sel in ft.get(key) or []]
    for sel in ft.get("urvalatgard") or []:
        selections.append((ATGARD[sel["status"]["kod"]], len(sel["kod"])))
    comorbid = [k for group in ft.get("urvalsamsjuklighet") or [] for e in group for k in e["diagnoskod"]]
    if comorbid:
        selections.append(("urvalSamsjuklighet", len(comorbid)))
    for element, codes in selections:
        base = f"villkor/{element}"
        want[base] += 1
        want[f"{base}/{KINDS[element]}"] += codes
        want.update(_kod_paths(f"{base}/{KINDS[element]}/kod", codes))
    n = len(ft["diagnoskod"])
    want["huvuddiagnos"] += n
    want.update(_kod_paths("huvuddiagnos/kod", n))
    return want


def expected_diagnosinformation(a: dict) -> Counter:
    want = Counter(["informationsId", "informationsId/root", "informationsId/extension", "giltighetstid"])
    want.update(["giltighetstid/start", "verson", "rubrik"])
    if a["giltighetsperiod"].get("slut"):
        want["giltighetstid/slut"] += 1
    if _has_text((a.get("funktionsnedsattning") or {}).get("funktionsnedsattningsbeskrivning")):
        want["funktionsnedsattningBeskrivning"] += 1
    if _has_text((a.get("aktivitetsbegransning") or {}).get("aktivitetsbegransningsbeskrivning")):
        want["aktivitetsbegransningBeskrivning"] += 1
    n = len(a["diagnoskod"])
    want["huvuddiagnos"] += n
    want.update(_kod_paths("huvuddiagnos/kod", n))
    spb = _has_text((a.get("symtomprognosbehandling") or {}).get("markup"))
    gen = _has_text((a.get("forsakringsmedicinskinformation") or {}).get("markup"))
    if spb or gen:
        want["ovrigFmbInformation"] += 1
    if spb:
        want["ovrigFmbInformation/symtomPrognosBehandling"] += 1
    if gen:
        want["ovrigFmbInformation/genrellInformation"] += 1
    return want


def _c(el, path: str) -> str | None:
    return el.findtext("/".join(f"{{{CORE}}}{p}" for p in path.split("/")))


def test_every_beslutsunderlag_has_exactly_the_deployed_elements_its_data_fills(whole, typfall):
    _, items = whole["GetFmb"]
    assert len(items) == 439 == len(typfall)
    by_id = {_c(i, "underlagsId/extension"): i for i in items}
    for t in typfall:
        a, item = t["attributes"], by_id[t["id"]]
        assert paths(item) == expected_beslutsunderlag(a), f"beslutsunderlag {t['id']}"
        rek = a["rekommenderadsjukskrivning"]
        assert _c(item, "underlagsId/root") == "1.2.752.116.3.1.12"
        assert _c(item, "sjukskrivningsgrad") == {"1": "Heltid", "2": "Deltid"}[rek["maximalsjukskrivningsgrad"]["kod"]]
        if rek.get("maximalsjukskrivningstid") is not None:
            assert _c(item, "sjukskrivningstid/value") == str(int(rek["maximalsjukskrivningstid"]))
        assert re.fullmatch(r"20[0-9]{6}", _c(item, "senastAndrad"))
        assert [_c(h, "kod/code") for h in item.findall(f"{{{CORE}}}huvuddiagnos")] == [
            d["kod"] for d in a["fmbtillstand"]["diagnoskod"]
        ]
        for h in item.findall(f"{{{CORE}}}huvuddiagnos"):
            assert (_c(h, "kod/codeSystem"), _c(h, "kod/codeSystemName")) == ("1.2.752.116.1.1.1.3.2", "ICD-10-SE")
            assert _c(h, "kod/codeSystemVersion")


def test_villkor_carries_every_code_of_the_release_in_its_kind(whole, typfall):
    _, items = whole["GetFmb"]
    by_id = {_c(i, "underlagsId/extension"): i for i in items}
    systems = {
        "arbetsbelastning": ("1.2.752.116.3.1.13", "Försäkringsmedicinskt beslutsstöd arbetsbelastningskoder"),
        "samsjuklighet": ("1.2.752.116.1.1.1.3.2", "ICD-10-SE"),
    }
    seen_kinds = set()
    for t in typfall:
        ft = t["attributes"]["fmbtillstand"]
        want: Counter = Counter()
        for key, (_, inner) in URVAL.items():
            want.update((KINDS[URVAL[key][0]], k["kod"]) for sel in ft.get(key) or [] for k in sel[inner])
        for sel in ft.get("urvalatgard") or []:
            want.update((KINDS[ATGARD[sel["status"]["kod"]]], k["kod"]) for k in sel["kod"])
        want.update(
            ("samsjuklighet", k["kod"]) for g in ft.get("urvalsamsjuklighet") or [] for e in g for k in e["diagnoskod"]
        )
        got: Counter = Counter()
        for selection in by_id[t["id"]].find(f"{{{CORE}}}villkor"):
            for kind in selection:
                name = etree.QName(kind).localname
                seen_kinds.add(name)
                got[(name, _c(kind, "kod/code"))] += 1
                system = systems.get(name, ("1.2.752.116.2.1.1", "Snomed CT-SE"))
                assert (_c(kind, "kod/codeSystem"), _c(kind, "kod/codeSystemName")) == system
                if name == "arbetsbelastning":
                    assert _c(kind, "kod/codeSystemVersion") == "1"
        assert got == want, f"beslutsunderlag {t['id']}"
    assert len(seen_kinds) == 7, seen_kinds  # every kind in the data except planeradAtgard, which none has


def test_every_diagnosinformation_has_exactly_the_deployed_elements_its_data_fills(whole, diagnosinfo):
    _, items = whole["GetDiagnosInformation"]
    assert len(items) == 116 == len(diagnosinfo)
    by_id = {_c(i, "informationsId/extension"): i for i in items}
    for d in diagnosinfo:
        item = by_id[d["id"]]
        assert paths(item) == expected_diagnosinformation(d["attributes"]), f"diagnosInformation {d['id']}"
        assert _c(item, "informationsId/root") == "1.2.752.116.3.1.11"
        assert _c(item, "rubrik") == d["attributes"]["diagnosrubrik"]


@pytest.mark.parametrize(
    ("contract", "getter", "source"),
    [
        ("GetFmb", "textuelltUnderlag", lambda a: a.get("typfallsmening")),
        ("GetFmb", "huvuddiagnos/kod/code", lambda a: (a["fmbtillstand"]["diagnoskod"] or [{}])[0].get("kod")),
        (
            "GetDiagnosInformation",
            "funktionsnedsattningBeskrivning",
            lambda a: (a.get("funktionsnedsattning") or {}).get("funktionsnedsattningsbeskrivning"),
        ),
        (
            "GetDiagnosInformation",
            "aktivitetsbegransningBeskrivning",
            lambda a: (a.get("aktivitetsbegransning") or {}).get("aktivitetsbegransningsbeskrivning"),
        ),
        (
            "GetDiagnosInformation",
            "ovrigFmbInformation/symtomPrognosBehandling",
            lambda a: (a.get("symtomprognosbehandling") or {}).get("markup"),
        ),
        (
            "GetDiagnosInformation",
            "ovrigFmbInformation/genrellInformation",
            lambda a: (a.get("forsakringsmedicinskinformation") or {}).get("markup"),
        ),
        ("GetDiagnosInformation", "huvuddiagnos/kod/code", lambda a: (a["diagnoskod"] or [{}])[0].get("kod")),
    ],
)
def test_each_webcert_getter_has_a_value_wherever_the_release_has_the_text(
    whole, typfall, diagnosinfo, contract, getter, source
):
    """Read as Webcert's generated consumer binds them: exact namespace and path, first match."""
    _, items = whole[contract]
    release = typfall if contract == "GetFmb" else diagnosinfo
    with_value = sum(1 for i in items if (_c(i, getter) or "").strip())
    in_release = sum(1 for x in release if _has_text(source(x["attributes"])))
    assert with_value == in_release > 0
    if getter == "funktionsnedsattningBeskrivning":
        assert with_value == 115  # all but one of the 116 diagnoses; none reached Webcert before


def test_version_blocks_are_where_webcert_reads_them(server, whole):
    r = server.post("GetVersions", envelope("GetVersions"))
    versioner = etree.fromstring(r.content).find(f".//{{{RESPONDER['GetVersions']}}}versioner")
    for contract, prefix in (("GetFmb", "fmb"), ("GetDiagnosInformation", "diagnosInformation")):
        response, _ = whole[contract]
        stamp = response.findtext(f"{{{RESPONDER[contract]}}}version/{{{CORE}}}senateAndring")
        assert stamp and stamp == versioner.findtext(f"{{{CORE}}}{prefix}SenateAndring")


# -- PingForConfiguration ---------------------------------------------------------------------------


def _ping(logical_address: str | None) -> str:
    inner = (
        f"<r:serviceContractNamespace>{FMB_NS}:GetFmbResponder:1</r:serviceContractNamespace>"
        f"<r:logicalAddress>{LOGICAL_ADDRESS}</r:logicalAddress>"
    )
    return envelope("PingForConfiguration", inner, logical_address=logical_address)


@pytest.mark.parametrize("address", ["LogicalAddress", "SE165565594230-1000", LOGICAL_ADDRESS, "", None])
def test_ping_answers_whatever_the_logical_address_header_holds(server, address):
    r = server.post("PingForConfiguration", _ping(address))
    assert r.status_code == 200, r.text[:300]
    response = etree.fromstring(r.content).find(f".//{{{PING}}}PingForConfigurationResponse")
    config = {
        c.findtext(f"{{{PING}}}name"): c.findtext(f"{{{PING}}}value")
        for c in response.findall(f"{{{PING}}}configuration")
    }
    assert config["dbStatus"] == "ok" and config["fmbRelease"] == "1.0.1-RC2.162"
    assert not response.findall(".//{urn:riv:itintegration:monitoring:1}name"), "name is in the responder namespace"


def test_a_zeep_client_from_the_wsdl_reads_configuration_name_and_value(server):
    service, _ = server.zeep("PingForConfiguration")
    response = service.PingForConfiguration(
        _soapheaders={"LogicalAddress": "LogicalAddress"},
        serviceContractNamespace=f"{FMB_NS}:GetFmbResponder:1",
        logicalAddress=LOGICAL_ADDRESS,
    )
    config = {c.name: c.value for c in response.configuration}
    assert None not in config and config["dbStatus"] == "ok" and config["dataStatus"] == "ok"


@pytest.mark.parametrize("address", ["LogicalAddress", "SE165565594230-1000"])
def test_business_contracts_still_refuse_a_foreign_logical_address(server, address):
    code, message = fault_of(server.post("GetVersions", envelope("GetVersions", logical_address=address)))
    assert code == "Client" and f"'{address}' is not served" in message


# -- the ICD-10-SE code system, either OID ------------------------------------------------------------


@pytest.mark.parametrize("contract", ["GetFmb", "GetDiagnosInformation"])
@pytest.mark.parametrize("code", ["K40", "J20", "F32"])
def test_either_icd10se_oid_selects_the_same_material(server, contract, code):
    def selected(system: str | None) -> list[str]:
        cs = f"<c:codeSystem>{system}</c:codeSystem>" if system else ""
        r = server.post(contract, envelope(contract, f"<r:diagnosKod><c:code>{code}</c:code>{cs}</r:diagnosKod>"))
        assert r.status_code == 200, r.text[:300]
        return re.findall(rb"<(?:\w+:)?extension>([^<]+)<", r.content)

    deployed, own, none = selected("1.2.752.116.1.1.1.3.2"), selected("1.2.752.116.1.1.1.1.3"), selected(None)
    assert deployed and deployed == own == none
