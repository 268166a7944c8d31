"""The deployed response shapes, as data, written from the reference (not from ``schemas/``).

Each shape is a tree of :class:`Node`: an element's local name and namespace, how often it may
occur, and either the format of its text or its children, in the order the deployed producer sent
them. Nothing outside a shape may appear (no ``xs:any`` extension is used on the wire), so an
element the shape does not name is an error too: a generated consumer would silently drop it, and
with it the information it carries.

Sources: ``fmb-contracts.md``, section "The wire format the deployed producer answered" (the
capture of 2016-09-02 through the platform, kept by Webcert), and ``rivta-ntjp.md`` for
PingForConfiguration as published. Where the reference is silent on a cardinality, the contract
specification's is used (the urval selections: 0..1 or 0..*).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ntjp_producer import ns

# -- value formats -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    """What an element's text must look like; ``describe`` is what a failure message says."""

    describe: str
    pattern: re.Pattern[str] | None = None
    values: frozenset[str] | None = None
    date_digits: tuple[int, ...] = ()  # lengths of digit strings that must also be a real date/time

    def accepts(self, text: str) -> bool:
        if self.values is not None:
            return text in self.values
        if self.pattern is not None and not self.pattern.fullmatch(text):
            return False
        if len(text) in self.date_digits:
            layout = "%Y%m%d" if len(text) == 8 else "%Y%m%d%H%M%S"
            try:
                dt.datetime.strptime(text, layout)
            except ValueError:
                return False
        return True


def fixed(value: str) -> Format:
    return Format(f"'{value}'", values=frozenset({value}))


def one_of(*values: str) -> Format:
    return Format("one of " + ", ".join(f"'{v}'" for v in values), values=frozenset(values))


TEXT = Format("text", re.compile(r".*", re.S))
NONEMPTY = Format("non-empty text", re.compile(r".*\S.*", re.S))
INTEGER = Format("an integer (2, not 2.0)", re.compile(r"-?[0-9]+"))
OID = Format("an OID", re.compile(r"[0-2](\.[0-9]+)+"))
DATE = Format("a date YYYYMMDD", re.compile(r"[0-9]{8}"), date_digits=(8,))
TIMESTAMP = Format("a timestamp YYYYMMDDhhmmss", re.compile(r"[0-9]{14}"), date_digits=(14,))
# The 2016 producer sent dates in the version blocks; consumers only store and compare the string,
# so a finer stamp is as good (fmb-contracts.md, "version").
DATE_OR_TIMESTAMP = Format("a date YYYYMMDD or timestamp YYYYMMDDhhmmss", re.compile(r"[0-9]{8}|[0-9]{14}"),
                           date_digits=(8, 14))


# -- the tree -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    name: str
    namespace: str
    min: int = 1
    max: int | None = 1  # None: unbounded
    value: Format | None = None  # a leaf's text; None for an element with children
    children: tuple[Node, ...] = ()
    label: str | None = None  # a child path whose text names an instance in messages ("underlagsId/extension")

    @property
    def tag(self) -> str:
        return f"{{{self.namespace}}}{self.name}"


def _leaf(name: str, namespace: str, value: Format, occurs: str = "1..1") -> Node:
    return Node(name, namespace, *_occurs(occurs), value=value)


def _node(name: str, namespace: str, occurs: str, *children: Node, label: str | None = None) -> Node:
    return Node(name, namespace, *_occurs(occurs), children=children, label=label)


def _occurs(spec: str) -> tuple[int, int | None]:
    low, high = spec.split("..")
    return int(low), None if high == "*" else int(high)


# -- FMB (processmanagement:decisionsupport:insurancemedicinedecisionsupport 1.0) -----------------

C = ns.FMB  # the core namespace: everything inside the list elements and the version block

ID_ROOT_BESLUTSUNDERLAG = "1.2.752.116.3.1.12"
ID_ROOT_DIAGNOSINFORMATION = "1.2.752.116.3.1.11"
ICD10SE_AS_DEPLOYED = "1.2.752.116.1.1.1.3.2"
SNOMED_CT_SE = ("1.2.752.116.2.1.1", "Snomed CT-SE")
ICD10SE = (ICD10SE_AS_DEPLOYED, "ICD-10-SE")
ARBETSBELASTNING = ("1.2.752.116.3.1.13", "Försäkringsmedicinskt beslutsstöd arbetsbelastningskoder")


def _kod(system: tuple[str, str], version: Format = NONEMPTY) -> Node:
    """A coded value as deployed: code, codeSystem, codeSystemName, codeSystemVersion, displayName."""
    oid, name = system
    return _node(
        "kod",
        C,
        "1..1",
        _leaf("code", C, NONEMPTY),
        _leaf("codeSystem", C, fixed(oid)),
        _leaf("codeSystemName", C, fixed(name)),
        _leaf("codeSystemVersion", C, version),
        _leaf("displayName", C, TEXT),
    )


def _id(root: str) -> Node:
    return _node(
        "underlagsId" if root == ID_ROOT_BESLUTSUNDERLAG else "informationsId",
        C,
        "1..1",
        _leaf("root", C, fixed(root)),
        _leaf("extension", C, NONEMPTY),
    )


GILTIGHETSTID = _node("giltighetstid", C, "1..1", _leaf("start", C, DATE), _leaf("slut", C, DATE, "0..1"))
HUVUDDIAGNOS = _node("huvuddiagnos", C, "1..*", _kod(ICD10SE))


def _urval(name: str, kind: str, system: tuple[str, str], occurs: str, version: Format = NONEMPTY) -> Node:
    return _node(name, C, occurs, _node(kind, C, "1..*", _kod(system, version)))


# The selections present, in alphabetical order of their names.
VILLKOR = _node(
    "villkor",
    C,
    "1..1",
    _urval("urvalArbetsbelastning", "arbetsbelastning", ARBETSBELASTNING, "0..1", fixed("1")),
    _urval("urvalKomplicerandeFaktor", "komplicerandeFaktor", SNOMED_CT_SE, "0..*"),
    _urval("urvalPagaendeAtgard", "pagaendeAtgard", SNOMED_CT_SE, "0..*"),
    _urval("urvalPlaneradAtgard", "planeradAtgard", SNOMED_CT_SE, "0..*"),
    _urval("urvalSamsjuklighet", "samsjuklighet", ICD10SE, "0..*"),
    _urval("urvalSjukdomsforlopp", "sjukdomsforlopp", SNOMED_CT_SE, "0..1"),
    _urval("urvalSvarighetsgrad", "svarighetsgrad", SNOMED_CT_SE, "0..1"),
    _urval("urvalUtfordAtgard", "utfordAtgard", SNOMED_CT_SE, "0..*"),
)

BESLUTSUNDERLAG = _node(
    "beslutsunderlag",
    "",  # the list element is in the responder namespace: set per contract below (_in)
    "0..*",
    _id(ID_ROOT_BESLUTSUNDERLAG),
    GILTIGHETSTID,
    _leaf("version", C, INTEGER),
    _leaf("textuelltUnderlag", C, TEXT, "0..1"),
    _leaf("sjukskrivningstidText", C, TEXT),
    _node("sjukskrivningstid", C, "0..1", _leaf("value", C, INTEGER), _leaf("unit", C, one_of("d", "wk", "mo"))),
    _leaf("sjukskrivningsgrad", C, one_of("Heltid", "Deltid")),
    _leaf("senastAndrad", C, DATE),
    _node("rehabiliteringsInformation", C, "0..1", _leaf("beskrivning", C, TEXT)),
    VILLKOR,
    HUVUDDIAGNOS,
    label="underlagsId/extension",
)

DIAGNOSINFORMATION = _node(
    "diagnosInformation",
    "",
    "0..*",
    _id(ID_ROOT_DIAGNOSINFORMATION),
    GILTIGHETSTID,
    _leaf("verson", C, INTEGER),
    _leaf("rubrik", C, TEXT),
    _leaf("funktionsnedsattningBeskrivning", C, TEXT, "0..1"),
    _leaf("aktivitetsbegransningBeskrivning", C, TEXT, "0..1"),
    HUVUDDIAGNOS,
    _node(
        "ovrigFmbInformation",
        C,
        "0..1",
        _leaf("symtomPrognosBehandling", C, TEXT, "0..1"),
        _leaf("genrellInformation", C, TEXT, "0..1"),
    ),
    label="informationsId/extension",
)


def _in(node: Node, namespace: str) -> Node:
    return Node(node.name, namespace, node.min, node.max, node.value, node.children, node.label)


def _version(namespace: str) -> Node:
    return _node(
        "version",
        namespace,
        "1..1",
        _leaf("senasteVersionsuppdatering", C, DATE_OR_TIMESTAMP),
        _leaf("senateAndring", C, DATE_OR_TIMESTAMP),
    )


_GETFMB = ns.fmb_responder("GetFmb")
_GETDI = ns.fmb_responder("GetDiagnosInformation")
_GETVERSIONS = ns.fmb_responder("GetVersions")

GET_FMB_RESPONSE = _node(
    "GetFmbResponse", _GETFMB, "1..1", _in(BESLUTSUNDERLAG, _GETFMB), _version(_GETFMB)
)
GET_DIAGNOSINFORMATION_RESPONSE = _node(
    "GetDiagnosInformationResponse", _GETDI, "1..1", _in(DIAGNOSINFORMATION, _GETDI), _version(_GETDI)
)
GET_VERSIONS_RESPONSE = _node(
    "GetVersionsResponse",
    _GETVERSIONS,
    "1..1",
    _node(
        "versioner",
        _GETVERSIONS,
        "1..1",
        _leaf("fmbSenasteVersionsuppdatering", C, DATE_OR_TIMESTAMP),
        _leaf("fmbSenateAndring", C, DATE_OR_TIMESTAMP),
        _leaf("diagnosInformationSenasteVersionsuppdatering", C, DATE_OR_TIMESTAMP),
        _leaf("diagnosInformationSenateAndring", C, DATE_OR_TIMESTAMP),
    ),
)

# -- PingForConfiguration (itintegration:monitoring 1.0, as published) -----------------------------

P = ns.PING_RESPONDER  # every element of the answer, configuration/name and /value included

PING_RESPONSE = _node(
    "PingForConfigurationResponse",
    P,
    "1..1",
    _leaf("version", P, TEXT),
    _leaf("pingDateTime", P, TIMESTAMP),
    _node("configuration", P, "0..*", _leaf("name", P, NONEMPTY), _leaf("value", P, TEXT), label="name"),
)

RESPONSES = {
    "GetFmb": GET_FMB_RESPONSE,
    "GetDiagnosInformation": GET_DIAGNOSINFORMATION_RESPONSE,
    "GetVersions": GET_VERSIONS_RESPONSE,
    "PingForConfiguration": PING_RESPONSE,
}

# What Webcert's SOAP consumer read (fmb-contracts.md): per list item, paths below it; and from the
# version blocks. A value missing here is a text a physician never sees.
WEBCERT_READS = {
    "GetFmb": ("textuelltUnderlag", "huvuddiagnos/kod/code"),
    "GetDiagnosInformation": (
        "funktionsnedsattningBeskrivning",
        "aktivitetsbegransningBeskrivning",
        "ovrigFmbInformation/symtomPrognosBehandling",
        "ovrigFmbInformation/genrellInformation",
        "huvuddiagnos/kod/code",
    ),
}
