"""FMB over SOAP, as Webcert and a region's journal system call it: zeep clients generated from the
project's own WSDLs, against the real server, with releases/latest imported. Every response is
validated against schemas/ by the client plugin."""

from __future__ import annotations

import pytest
from zeep.exceptions import Fault

from tests.helpers import FMB_NS, LOGICAL_ADDRESS, envelope, fault_of

pytestmark = pytest.mark.slow


def get_fmb(server, **kw):
    service, _ = server.zeep("GetFmb")
    return service.GetFmb(_soapheaders={"LogicalAddress": LOGICAL_ADDRESS}, **kw)


def test_getfmb_without_parameters_returns_all_active_beslutsunderlag(server, typfall):
    response = get_fmb(server)
    assert len(response.beslutsunderlag) == 439 == len(typfall)
    assert {b.underlagsId.extension for b in response.beslutsunderlag} == {t["id"] for t in typfall}
    assert all(b.version == 1 and b.giltighetstid.slut is None for b in response.beslutsunderlag)


def test_getdiagnosinformation_without_parameters_returns_all(server, diagnosinfo):
    service, _ = server.zeep("GetDiagnosInformation")
    response = service.GetDiagnosInformation(_soapheaders={"LogicalAddress": LOGICAL_ADDRESS})
    assert len(response.diagnosInformation) == 116 == len(diagnosinfo)
    first = next(d for d in response.diagnosInformation if d.informationsId.extension == "110")
    assert first.rubrik.startswith("Ljumskbråck")
    source = next(d for d in diagnosinfo if d["id"] == "110")["attributes"]
    assert first.funktionsnedsattningBeskrivning == source["funktionsnedsattning"]["funktionsnedsattningsbeskrivning"]
    text = first.ovrigFmbInformation.genrellInformation
    assert "<p>" not in text and "\n" in text, "HTML becomes plain text with paragraphs as lines"


def test_icf_codes_are_not_in_soap_but_stay_in_the_json_api(server):
    """The deployed contract has no element for the ICF code lists; the JSON API keeps them."""
    query = "<r:diagnosKod><c:code>K40</c:code></r:diagnosKod>"
    r = server.post("GetDiagnosInformation", envelope("GetDiagnosInformation", query))
    assert r.status_code == 200 and b"d430" not in r.content and b"aktivitetsbegransning>" not in r.content
    api = server.session().get(f"{server.base_url}/fmb/forsakringsmedicinskdiagnosinformation/110", timeout=10).json()
    icf = api["data"]["attributes"]["aktivitetsbegransning"]
    codes = {k["kod"] for k in icf["centralkod"] + icf["kompletterandekod"]}
    assert {"d430", "d455"} <= codes


def test_getfmb_for_k40_returns_exactly_the_typfall_with_k40(server, typfall):
    expected = {
        t["id"] for t in typfall if any(d["kod"] == "K40" for d in t["attributes"]["fmbtillstand"]["diagnoskod"])
    }
    response = get_fmb(server, diagnosKod=[{"code": "K40"}])
    assert expected and {b.underlagsId.extension for b in response.beslutsunderlag} == expected
    for b in response.beslutsunderlag:
        assert "K40" in {h.kod.code for h in b.huvuddiagnos}


@pytest.mark.parametrize("written", ["k40", " K 40 ", "K.40", "k.4.0"])
def test_diagnosis_codes_are_normalised(server, written):
    normal = {b.underlagsId.extension for b in get_fmb(server, diagnosKod=[{"code": "K40"}]).beslutsunderlag}
    assert {b.underlagsId.extension for b in get_fmb(server, diagnosKod=[{"code": written}]).beslutsunderlag} == normal


def test_dotted_four_character_code(server, typfall):
    code = next(d["kod"] for t in typfall for d in t["attributes"]["fmbtillstand"]["diagnoskod"] if len(d["kod"]) == 4)
    with_code = {
        t["id"] for t in typfall if any(d["kod"] == code for d in t["attributes"]["fmbtillstand"]["diagnoskod"])
    }
    written = f"{code[:3].lower()}.{code[3:]}"  # e.g. a69.2
    got = {b.underlagsId.extension for b in get_fmb(server, diagnosKod=[{"code": written}]).beslutsunderlag}
    assert got == with_code and got


def test_code_without_material_falls_back_to_nearest_parent(server, typfall):
    codes = {d["kod"] for t in typfall for d in t["attributes"]["fmbtillstand"]["diagnoskod"]}
    assert "F32" in codes and "F321" not in codes
    parent = {b.underlagsId.extension for b in get_fmb(server, diagnosKod=[{"code": "F32"}]).beslutsunderlag}
    assert parent
    assert {b.underlagsId.extension for b in get_fmb(server, diagnosKod=[{"code": "F321"}]).beslutsunderlag} == parent
    service, _ = server.zeep("GetDiagnosInformation")
    di = service.GetDiagnosInformation(_soapheaders={"LogicalAddress": LOGICAL_ADDRESS}, diagnosKod=[{"code": "F32.1"}])
    assert di.diagnosInformation and all("F32" in {h.kod.code for h in d.huvuddiagnos} for d in di.diagnosInformation)


def test_code_with_no_material_in_its_lineage_gives_empty_answer(server):
    response = get_fmb(server, diagnosKod=[{"code": "Z999"}])
    assert response.beslutsunderlag == [] and response.version.senateAndring


@pytest.mark.parametrize("bad", ["", "40K", "ÖÖÖ", "K4", "DROP TABLE", "K40-1"])
def test_malformed_code_is_a_client_fault(server, bad):
    service, _ = server.zeep("GetFmb")
    with pytest.raises(Fault) as info:
        service.GetFmb(_soapheaders={"LogicalAddress": LOGICAL_ADDRESS}, diagnosKod=[{"code": bad}])
    assert info.value.code.endswith("Client")
    assert "diagnosKod" in info.value.message


def test_foreign_code_system_is_a_client_fault(server):
    service, _ = server.zeep("GetFmb")
    with pytest.raises(Fault) as info:
        service.GetFmb(
            _soapheaders={"LogicalAddress": LOGICAL_ADDRESS},
            diagnosKod=[{"code": "K40", "codeSystem": "2.16.840.1.113883.6.96"}],
        )
    assert info.value.code.endswith("Client") and "ICD-10-SE" in info.value.message


def test_underlagsid_filter(server):
    response = get_fmb(server, underlagsId=[{"extension": "111"}, {"extension": "2"}])
    assert sorted(b.underlagsId.extension for b in response.beslutsunderlag) == ["111", "2"]
    both = get_fmb(server, underlagsId=[{"extension": "111"}], diagnosKod=[{"code": "J20"}])
    assert both.beslutsunderlag == [], "filters combine (AND)"


def test_every_villkor_selection_type_in_the_data_comes_out(server, typfall):
    present = set()
    for t in typfall:
        ft = t["attributes"]["fmbtillstand"]
        for key, element in [
            ("urvalsvarighetsgrad", "urvalSvarighetsgrad"),
            ("urvalsjukdomsforlopp", "urvalSjukdomsforlopp"),
            ("urvalkomplicerandefaktor", "urvalKomplicerandeFaktor"),
            ("urvalsamsjuklighet", "urvalSamsjuklighet"),
            ("urvalarbetsbelastning", "urvalArbetsbelastning"),
        ]:
            if ft[key]:
                present.add(element)
        for sel in ft["urvalatgard"]:
            present.add(
                {
                    "397943006": "urvalPlaneradAtgard",
                    "398166005": "urvalUtfordAtgard",
                    "385651009": "urvalPagaendeAtgard",
                }[sel["status"]["kod"]]
            )
    response = get_fmb(server)
    seen = set()
    by_id = {b.underlagsId.extension: b for b in response.beslutsunderlag}
    for t in typfall:
        villkor = by_id[t["id"]].villkor
        if villkor is None:  # zeep's value for an empty <villkor/>: material without conditions
            continue
        for element in present:
            if getattr(villkor, element):
                seen.add(element)
    assert len(present) >= 7
    assert seen == present
    # an åtgärd selection keeps its codes as alternatives, each in its own utfordAtgard/kod
    ft = next(t for t in typfall if t["id"] == "242")["attributes"]["fmbtillstand"]
    codes = [c.kod.code for c in by_id["242"].villkor.urvalUtfordAtgard[0].utfordAtgard]
    assert codes == [k["kod"] for k in ft["urvalatgard"][0]["kod"]]


def test_sjukskrivningstid_only_when_quantifiable(server, typfall):
    by_id = {b.underlagsId.extension: b for b in get_fmb(server).beslutsunderlag}
    for t in typfall:
        rek = t["attributes"]["rekommenderadsjukskrivning"]
        b = by_id[t["id"]]
        assert b.sjukskrivningstidText == rek["typfalletsrekommenderadesjukskrivning"]
        if rek["maximalsjukskrivningstid"] is None:
            assert b.sjukskrivningstid is None
        else:
            assert b.sjukskrivningstid.value == int(rek["maximalsjukskrivningstid"])
            assert b.sjukskrivningstid.unit == rek["maximalsjukskrivningsenhet"]
        grad = rek["maximalsjukskrivningsgrad"]
        assert b.sjukskrivningsgrad == {"1": "Heltid", "2": "Deltid"}[grad["kod"]]
        assert b.sjukskrivningsgrad.lower() == grad["beskrivning"]


def test_getversions_strings_equal_getfmb_and_getdiagnosinformation_version(server):
    versions, _ = server.zeep("GetVersions")
    v = versions.GetVersions(_soapheaders={"LogicalAddress": LOGICAL_ADDRESS}).versioner
    fmb = get_fmb(server, diagnosKod=[{"code": "J20"}]).version
    di_service, _ = server.zeep("GetDiagnosInformation")
    di = di_service.GetDiagnosInformation(_soapheaders={"LogicalAddress": LOGICAL_ADDRESS}).version
    assert v.fmbSenateAndring == fmb.senateAndring
    assert v.fmbSenasteVersionsuppdatering == fmb.senasteVersionsuppdatering
    assert v.diagnosInformationSenateAndring == di.senateAndring
    assert v.diagnosInformationSenasteVersionsuppdatering == di.senasteVersionsuppdatering


def test_ping_for_configuration(server):
    service, _ = server.zeep("PingForConfiguration")
    response = service.PingForConfiguration(
        _soapheaders={"LogicalAddress": LOGICAL_ADDRESS},
        serviceContractNamespace=f"{FMB_NS}:GetFmbResponder:1",
        logicalAddress=LOGICAL_ADDRESS,
    )
    config = {c.name: c.value for c in response.configuration}
    assert response.version and len(response.pingDateTime) == 14
    assert config["dbStatus"] == "ok"
    assert config["fmbRelease"] == "1.0.1-RC2.162"
    assert len(config["lastImport"]) == 14


def test_missing_logical_address_is_a_client_fault(server):
    code, message = fault_of(server.post("GetVersions", envelope("GetVersions", logical_address=None)))
    assert code == "Client" and "LogicalAddress" in message


def test_wrong_logical_address_is_a_client_fault(server):
    code, message = fault_of(server.post("GetVersions", envelope("GetVersions", logical_address="SE0000000000")))
    assert code == "Client" and "SE0000000000" in message and "not served" in message


def test_wrong_logical_address_through_zeep(server):
    service, _ = server.zeep("GetFmb")
    with pytest.raises(Fault) as info:
        service.GetFmb(_soapheaders={"LogicalAddress": "SE1111111111"})
    assert "LogicalAddress" in info.value.message


def test_correlation_id_is_taken_from_the_platform_and_returned(server):
    platform = {"x-skltp-correlation-id": "corr-42"}
    r = server.post("GetVersions", envelope("GetVersions"), client="ntjp", headers=platform)
    assert r.status_code == 200 and r.headers["x-skltp-correlation-id"] == "corr-42"
    r = server.post("GetVersions", envelope("GetVersions"))
    assert len(r.headers["x-skltp-correlation-id"]) >= 32


def test_a_direct_consumers_correlation_id_is_not_taken_as_the_calls(server):
    r = server.post("GetVersions", envelope("GetVersions"), headers={"x-skltp-correlation-id": "reused-id"})
    assert r.status_code == 200 and r.headers["x-skltp-correlation-id"] != "reused-id"
    assert '"consumer_correlation_id": "reused-id"' in server.log_path.read_text(), "logged beside the call's own"
