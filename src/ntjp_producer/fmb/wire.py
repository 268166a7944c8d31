"""FMB material in the deployed wire shape, serialised once per data version.

FMB changes only on import, and the answer Webcert asks for most (GetFmb without parameters) is
all of it, 1.4 MB. Mapping and serialising that on every call made the largest answer the slowest
by far, so each item's element is serialised once, the first time a data version is used, and an
answer is the concatenation of its items' bytes between a fixed head and the version block.

The shape is the one ``docs/fmb-wire-format.md`` gives (and ``conformance/shapes.py`` checks):
list elements and the version block in the responder namespace, everything inside them in the
core namespace, children in the deployed order. Only two prefixes occur: ``tns`` (the contract's
responder namespace) and ``fmb`` (core), declared once on the response element; an item's bytes
are serialised without them so they can be concatenated under any response element that declares
them.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from ntjp_producer import clock, ns
from ntjp_producer.fmb import material

# The id spaces of the two kinds of material, as the deployed producer answered them.
UNDERLAGS_ID_ROOT = "1.2.752.116.3.1.12"
INFORMATIONS_ID_ROOT = "1.2.752.116.3.1.11"

# (selection element, its code element, the Villkor field), in the deployed (alphabetical) order
VILLKOR = (
    ("urvalArbetsbelastning", "arbetsbelastning", "arbetsbelastning"),
    ("urvalKomplicerandeFaktor", "komplicerandeFaktor", "komplicerande_faktor"),
    ("urvalPagaendeAtgard", "pagaendeAtgard", "pagaende_atgard"),
    ("urvalPlaneradAtgard", "planeradAtgard", "planerad_atgard"),
    ("urvalSamsjuklighet", "samsjuklighet", "samsjuklighet"),
    ("urvalSjukdomsforlopp", "sjukdomsforlopp", "sjukdomsforlopp"),
    ("urvalSvarighetsgrad", "svarighetsgrad", "svarighetsgrad"),
    ("urvalUtfordAtgard", "utfordAtgard", "utford_atgard"),
)

_C = "{" + ns.FMB + "}"
_XML_HEAD = b"<?xml version='1.0' encoding='UTF-8'?>"


def _nsmap(responder: str) -> dict[str, str]:
    return {"tns": responder, "fmb": ns.FMB}


def _declarations(responder: str) -> bytes:
    return f' xmlns:tns="{responder}" xmlns:fmb="{ns.FMB}"'.encode()


def _text(parent: etree._Element, name: str, value: object | None) -> None:
    if value is not None:
        etree.SubElement(parent, _C + name).text = str(value)


def _kod(parent: etree._Element, name: str, k: material.Kod) -> None:
    el = etree.SubElement(parent, _C + name)
    _text(el, "code", k.code)
    _text(el, "codeSystem", k.code_system)
    _text(el, "codeSystemName", k.code_system_name)
    _text(el, "codeSystemVersion", k.code_system_version)
    _text(el, "displayName", k.display_name)


def _id(parent: etree._Element, name: str, root: str, extension: str) -> None:
    el = etree.SubElement(parent, _C + name)
    _text(el, "root", root)
    _text(el, "extension", extension)


def _giltighet(parent: etree._Element, g: material.Giltighet) -> None:
    el = etree.SubElement(parent, _C + "giltighetstid")
    _text(el, "start", clock.wire_date(g.start))
    _text(el, "slut", clock.wire_date(g.slut) if g.slut else None)


def _huvuddiagnoser(parent: etree._Element, koder: Iterable[material.Kod]) -> None:
    for k in koder:
        _kod(etree.SubElement(parent, _C + "huvuddiagnos"), "kod", k)


def _villkor(parent: etree._Element, v: material.Villkor) -> None:
    el = etree.SubElement(parent, _C + "villkor")
    for element, code_element, field in VILLKOR:
        for selection in getattr(v, field):
            urval = etree.SubElement(el, _C + element)
            for k in selection:
                _kod(etree.SubElement(urval, _C + code_element), "kod", k)


def beslutsunderlag(responder: str, b: material.Beslutsunderlag) -> etree._Element:
    el = etree.Element("{" + responder + "}beslutsunderlag", nsmap=_nsmap(responder))
    _id(el, "underlagsId", UNDERLAGS_ID_ROOT, b.underlags_id)
    _giltighet(el, b.giltighet)
    _text(el, "version", b.version)
    _text(el, "textuelltUnderlag", b.textuellt_underlag)
    _text(el, "sjukskrivningstidText", b.sjukskrivningstid_text)
    if b.sjukskrivningstid is not None:
        tid = etree.SubElement(el, _C + "sjukskrivningstid")
        _text(tid, "value", b.sjukskrivningstid.value)
        _text(tid, "unit", b.sjukskrivningstid.unit)
    _text(el, "sjukskrivningsgrad", b.sjukskrivningsgrad)
    _text(el, "senastAndrad", clock.wire_date(clock.today(b.senast_andrad)))
    _villkor(el, b.villkor)
    _huvuddiagnoser(el, b.huvuddiagnoser)
    return el


def diagnosinformation(responder: str, d: material.DiagnosInformation) -> etree._Element:
    el = etree.Element("{" + responder + "}diagnosInformation", nsmap=_nsmap(responder))
    _id(el, "informationsId", INFORMATIONS_ID_ROOT, d.informations_id)
    _giltighet(el, d.giltighet)
    _text(el, "verson", d.version)
    _text(el, "rubrik", d.rubrik)
    _text(el, "funktionsnedsattningBeskrivning", d.funktionsnedsattning_beskrivning)
    _text(el, "aktivitetsbegransningBeskrivning", d.aktivitetsbegransning_beskrivning)
    _huvuddiagnoser(el, d.huvuddiagnoser)
    if d.symtom_prognos_behandling or d.generell_information:
        ovrig = etree.SubElement(el, _C + "ovrigFmbInformation")
        _text(ovrig, "symtomPrognosBehandling", d.symtom_prognos_behandling)
        _text(ovrig, "genrellInformation", d.generell_information)
    return el


def item_bytes(responder: str, element: etree._Element) -> bytes:
    """An item's element as UTF-8, without the declarations the response element carries."""
    data = etree.tostring(element, encoding="UTF-8", xml_declaration=False)
    declarations = _declarations(responder)
    cut = data.index(b">")
    head = data[:cut]
    if not head.endswith(declarations):  # lxml writes a root's declarations in nsmap order, last
        raise AssertionError(f"unexpected namespace declarations in {head[:200]!r}")
    return head[: -len(declarations)] + data[cut:]


def version_block(responder: str, v: material.Version) -> bytes:
    el = etree.Element("{" + responder + "}version", nsmap=_nsmap(responder))
    _text(el, "senasteVersionsuppdatering", v.senaste_versionsuppdatering)
    _text(el, "senateAndring", v.senate_andring)
    return item_bytes(responder, el)


def versioner_response(responder: str, v: material.Versioner) -> bytes:
    el = etree.Element("{" + responder + "}GetVersionsResponse", nsmap=_nsmap(responder))
    versioner = etree.SubElement(el, "{" + responder + "}versioner")
    _text(versioner, "fmbSenasteVersionsuppdatering", v.fmb.senaste_versionsuppdatering)
    _text(versioner, "fmbSenateAndring", v.fmb.senate_andring)
    _text(versioner, "diagnosInformationSenasteVersionsuppdatering", v.diagnosinformation.senaste_versionsuppdatering)
    _text(versioner, "diagnosInformationSenateAndring", v.diagnosinformation.senate_andring)
    return etree.tostring(el, encoding="UTF-8", xml_declaration=False)


def response(responder: str, contract: str, items: Iterable[bytes], version: bytes) -> bytes:
    """A response element from prepared item bytes and a prepared version block."""
    head = f"<tns:{contract}Response".encode() + _declarations(responder) + b">"
    return b"".join((head, *items, version, f"</tns:{contract}Response>".encode()))
