"""The conformance kit's own judgement, on answers written by hand from the reference: one in the
deployed shape passes, and each way a producer can drift from it is named with a path."""

from __future__ import annotations

import pytest
from lxml import etree

from ntjp_producer.conformance import match, shapes

R = "urn:riv:processmanagement:decisionsupport:insurancemedicinedecisionsupport:GetFmbResponder:1"
C = "urn:riv:processmanagement:decisionsupport:insurancemedicinedecisionsupport:1"
P = "urn:riv:itintegration:monitoring:PingForConfigurationResponder:1"


def kod(code, system="1.2.752.116.2.1.1", name="Snomed CT-SE", version="1"):
    return (
        f"<kod><code>{code}</code><codeSystem>{system}</codeSystem><codeSystemName>{name}</codeSystemName>"
        f"<codeSystemVersion>{version}</codeSystemVersion><displayName>d</displayName></kod>"
    )


BESLUTSUNDERLAG = (
    "<r:beslutsunderlag>"
    "<underlagsId><root>1.2.752.116.3.1.12</root><extension>242</extension></underlagsId>"
    "<giltighetstid><start>20151115</start></giltighetstid>"
    "<version>1</version>"
    "<textuelltUnderlag>Vid distorsion …</textuelltUnderlag>"
    "<sjukskrivningstidText>Upp till 4 månader</sjukskrivningstidText>"
    "<sjukskrivningstid><value>4</value><unit>mo</unit></sjukskrivningstid>"
    "<sjukskrivningsgrad>Heltid</sjukskrivningsgrad>"
    "<senastAndrad>20161209</senastAndrad>"
    "<villkor>"
    "<urvalArbetsbelastning><arbetsbelastning>"
    + kod("BELASTNING_3", "1.2.752.116.3.1.13", "Försäkringsmedicinskt beslutsstöd arbetsbelastningskoder")
    + "</arbetsbelastning></urvalArbetsbelastning>"
    "<urvalUtfordAtgard><utfordAtgard>" + kod("35926005") + "</utfordAtgard><utfordAtgard>" + kod("13714004")
    + "</utfordAtgard></urvalUtfordAtgard>"
    "</villkor>"
    "<huvuddiagnos>" + kod("S835", "1.2.752.116.1.1.1.3.2", "ICD-10-SE") + "</huvuddiagnos>"
    "</r:beslutsunderlag>"
)
VERSION = "<r:version><senasteVersionsuppdatering>20151123</senasteVersionsuppdatering>" \
    "<senateAndring>20261123031806</senateAndring></r:version>"


def get_fmb(items: str = BESLUTSUNDERLAG) -> etree._Element:
    return etree.fromstring(f'<r:GetFmbResponse xmlns:r="{R}" xmlns="{C}">{items}{VERSION}</r:GetFmbResponse>')


def test_an_answer_in_the_deployed_shape_conforms():
    assert match.problems(get_fmb(), shapes.GET_FMB_RESPONSE) == []
    assert match.problems(get_fmb(""), shapes.GET_FMB_RESPONSE) == [], "no beslutsunderlag at all is fine"
    empty_villkor = BESLUTSUNDERLAG.split("<villkor>")[0] + "<villkor/>" + BESLUTSUNDERLAG.split("</villkor>")[1]
    assert match.problems(get_fmb(empty_villkor), shapes.GET_FMB_RESPONSE) == []


WHERE = "GetFmbResponse/beslutsunderlag[underlagsId 242]"


@pytest.mark.parametrize(
    ("change", "reported"),
    [
        (("<senastAndrad>20161209</senastAndrad>", ""), f"{WHERE}: 'senastAndrad' is missing"),
        (("<value>4</value>", "<value>4.0</value>"), f"{WHERE}/sjukskrivningstid/value: '4.0' is not an integer"),
        (("Heltid", "heltid"), f"{WHERE}/sjukskrivningsgrad: 'heltid' is not one of 'Heltid', 'Deltid'"),
        (("20161209", "2016-12-09T00:00:00"), f"{WHERE}/senastAndrad: '2016-12-09T00:00:00' is not a date YYYYMMDD"),
        (("20161209", "20161309"), f"{WHERE}/senastAndrad: '20161309' is not a date YYYYMMDD"),
        (("<root>1.2.752.116.3.1.12</root>", ""), f"{WHERE}/underlagsId: 'root' is missing"),
        (
            ("<sjukskrivningsgrad>Heltid<", "<sjukskrivningsgrad><code>1</code><"),
            f"{WHERE}/sjukskrivningsgrad: has child elements; deployed it is text (one of 'Heltid', 'Deltid')",
        ),
        (
            ("<utfordAtgard>" + kod("35926005"), "<utfordAtgard><code>35926005</code>"),
            f"{WHERE}/villkor/urvalUtfordAtgard[1]/utfordAtgard[1]: 'code' is not an element of the deployed shape",
        ),
        (
            ("<codeSystemVersion>1</codeSystemVersion><displayName>d</displayName></kod></huvuddiagnos>",
             "<displayName>d</displayName></kod></huvuddiagnos>"),
            f"{WHERE}/huvuddiagnos[1]/kod: 'codeSystemVersion' is missing",
        ),
        (
            ("<codeSystem>1.2.752.116.1.1.1.3.2</codeSystem>", "<codeSystem>1.2.752.116.1.1.1.1.3</codeSystem>"),
            f"{WHERE}/huvuddiagnos[1]/kod/codeSystem: '1.2.752.116.1.1.1.1.3' is not '1.2.752.116.1.1.1.3.2'",
        ),
        (
            ("<version>1</version>", "<verson>1</verson>"),
            f"{WHERE}: 'verson' is not an element of the deployed shape",
        ),
        (
            ("<textuelltUnderlag>", f'<textuelltUnderlag xmlns="{R}">'),
            f"{WHERE}: 'textuelltUnderlag' is in namespace {R}; deployed in {C}",
        ),
    ],
)
def test_each_drift_is_named_with_its_path(change, reported):
    old, new = change
    assert old in BESLUTSUNDERLAG
    found = match.problems(get_fmb(BESLUTSUNDERLAG.replace(old, new, 1)), shapes.GET_FMB_RESPONSE)
    assert any(f.startswith(reported) for f in found), found


def test_order_is_part_of_the_shape():
    villkor = BESLUTSUNDERLAG[BESLUTSUNDERLAG.index("<villkor>") : BESLUTSUNDERLAG.index("</villkor>") + 10]
    moved = BESLUTSUNDERLAG.replace(villkor, "").replace("</r:beslutsunderlag>", villkor + "</r:beslutsunderlag>")
    assert match.problems(get_fmb(moved), shapes.GET_FMB_RESPONSE) == [
        f"{WHERE}: 'villkor' comes after 'huvuddiagnos'; deployed it comes before it"
    ]
    swapped = BESLUTSUNDERLAG.replace("<urvalArbetsbelastning>", "<X>").replace("</urvalArbetsbelastning>", "</X>")
    urval_a = swapped[swapped.index("<X>") : swapped.index("</X>") + 4]
    swapped = swapped.replace(urval_a, "").replace("</villkor>", urval_a + "</villkor>")
    swapped = swapped.replace("<X>", "<urvalArbetsbelastning>").replace("</X>", "</urvalArbetsbelastning>")
    assert match.problems(get_fmb(swapped), shapes.GET_FMB_RESPONSE) == [
        f"{WHERE}/villkor: 'urvalArbetsbelastning' comes after 'urvalUtfordAtgard'; deployed it comes before it"
    ]


def test_cardinality_is_part_of_the_shape():
    two = BESLUTSUNDERLAG.replace("</villkor>", "<urvalUtfordAtgard><utfordAtgard>" + kod("1") + "</utfordAtgard>"
                                  "</urvalUtfordAtgard></villkor>")
    assert match.problems(get_fmb(two), shapes.GET_FMB_RESPONSE) == [], "urvalUtfordAtgard is 0..*"
    start, end = BESLUTSUNDERLAG.index("<urvalArbetsbelastning>"), BESLUTSUNDERLAG.index("<urvalUtfordAtgard>")
    sel = BESLUTSUNDERLAG[start:end]
    twice = BESLUTSUNDERLAG.replace(sel, sel + sel)
    assert match.problems(get_fmb(twice), shapes.GET_FMB_RESPONSE) == [
        f"{WHERE}/villkor: 'urvalArbetsbelastning' occurs more than 1 time(s)"
    ]


def test_the_wrong_root_is_said_so():
    root = etree.fromstring(f'<GetFmbResponse xmlns="{C}"/>')
    assert match.problems(root, shapes.GET_FMB_RESPONSE) == [
        f"the element is 'GetFmbResponse' in namespace {C}, not 'GetFmbResponse' in namespace {R}"
    ]


def test_ping_configuration_in_the_core_namespace_is_named():
    core = "urn:riv:itintegration:monitoring:1"
    answer = etree.fromstring(
        f'<p:PingForConfigurationResponse xmlns:p="{P}" xmlns:m="{core}"><p:version>1</p:version>'
        "<p:pingDateTime>20261123101500</p:pingDateTime>"
        "<p:configuration><m:name>dbStatus</m:name><m:value>ok</m:value></p:configuration>"
        "</p:PingForConfigurationResponse>"
    )
    found = match.problems(answer, shapes.PING_RESPONSE)
    assert f"PingForConfigurationResponse/configuration[1]: 'name' is in namespace {core}; deployed in {P}" in found
    assert "PingForConfigurationResponse/configuration[1]: 'name' is missing" in found
    fixed = etree.tostring(answer).decode().replace("m:name", "p:name").replace("m:value", "p:value")
    assert match.problems(etree.fromstring(fixed), shapes.PING_RESPONSE) == []
