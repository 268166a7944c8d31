"""FMB material as the domain sees it: plain Python, no SOAP, no JSON:API.

Built from the open API attributes kept in storage; texts the API carries as HTML arrive here as
plain text, since every consumer of these objects (SOAP today) wants text. Codes carry their code
system as FMB names it (``codes.CODE_SYSTEMS``), not as the open API labels it. What the contracts
have no element for (the ICF code lists, for one) is not here: the JSON API answers from the
imported attributes themselves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ntjp_producer import clock
from ntjp_producer.fmb import codes
from ntjp_producer.fmb.release import ATGARD_STATUS, URVAL_LISTS, comorbidity_codes, whole_number
from ntjp_producer.fmb.text import html_to_text


@dataclass(frozen=True)
class Kod:
    code: str
    code_system: str | None = None
    code_system_name: str | None = None
    code_system_version: str | None = None
    display_name: str | None = None

    @classmethod
    def from_api(cls, entry: dict[str, Any]) -> Kod:
        system = entry.get("kodsystem")
        known = codes.CODE_SYSTEMS.get(system)
        if known is None:  # a code system FMB has no name for: as the open API gave it, no version
            return cls(entry["kod"], system, entry.get("kodsystemnamn"), None, entry.get("beskrivning"))
        return cls(entry["kod"], system, known.name, known.version, entry.get("beskrivning"))

    @classmethod
    def diagnos(cls, entry: dict[str, Any]) -> Kod:
        icd = codes.CODE_SYSTEMS[codes.ICD10SE_DEPLOYED_OID]
        return cls(
            codes.normalise(entry["kod"]), codes.ICD10SE_DEPLOYED_OID, icd.name, icd.version, entry.get("beskrivning")
        )


@dataclass(frozen=True)
class Giltighet:
    start: dt.date
    slut: dt.date | None

    def active_on(self, day: dt.date) -> bool:
        return self.start <= day and (self.slut is None or self.slut >= day)


@dataclass(frozen=True)
class Villkor:
    """Each list entry is one selection (AND between them); its codes are alternatives (OR)."""

    svarighetsgrad: list[list[Kod]] = field(default_factory=list)
    sjukdomsforlopp: list[list[Kod]] = field(default_factory=list)
    komplicerande_faktor: list[list[Kod]] = field(default_factory=list)
    samsjuklighet: list[list[Kod]] = field(default_factory=list)
    planerad_atgard: list[list[Kod]] = field(default_factory=list)
    utford_atgard: list[list[Kod]] = field(default_factory=list)
    pagaende_atgard: list[list[Kod]] = field(default_factory=list)
    arbetsbelastning: list[list[Kod]] = field(default_factory=list)


@dataclass(frozen=True)
class Sjukskrivningstid:
    value: int
    unit: str  # UCUM: d, wk, mo


@dataclass(frozen=True)
class Beslutsunderlag:
    underlags_id: str
    giltighet: Giltighet
    version: int
    textuellt_underlag: str | None
    sjukskrivningstid_text: str
    sjukskrivningstid: Sjukskrivningstid | None
    sjukskrivningsgrad: str  # Heltid or Deltid
    senast_andrad: dt.datetime
    huvuddiagnoser: list[Kod]
    villkor: Villkor


@dataclass(frozen=True)
class DiagnosInformation:
    informations_id: str
    giltighet: Giltighet
    version: int
    rubrik: str
    aktivitetsbegransning_beskrivning: str | None
    funktionsnedsattning_beskrivning: str | None
    senast_andrad: dt.datetime
    huvuddiagnoser: list[Kod]
    symtom_prognos_behandling: str | None
    generell_information: str | None


@dataclass(frozen=True)
class Version:
    senaste_versionsuppdatering: str
    senate_andring: str


@dataclass(frozen=True)
class Versioner:
    fmb: Version
    diagnosinformation: Version


def _text(value: str | None) -> str | None:
    """A text, or None when there is none: an empty element tells a consumer nothing."""
    return value if value and value.strip() else None


_VILLKOR_FIELD = {
    "urvalsvarighetsgrad": "svarighetsgrad",
    "urvalsjukdomsforlopp": "sjukdomsforlopp",
    "urvalkomplicerandefaktor": "komplicerande_faktor",
    "urvalarbetsbelastning": "arbetsbelastning",
}
_ATGARD_FIELD = {"planerad": "planerad_atgard", "utford": "utford_atgard", "pagaende": "pagaende_atgard"}


def _villkor(tillstand: dict[str, Any]) -> Villkor:
    selections: dict[str, list[list[Kod]]] = {}
    for key, inner in URVAL_LISTS.items():
        selections[_VILLKOR_FIELD[key]] = [[Kod.from_api(k) for k in sel[inner]] for sel in tillstand.get(key) or []]
    samsjuklighet = [Kod.from_api(k) for k in comorbidity_codes(tillstand)]
    selections["samsjuklighet"] = [samsjuklighet] if samsjuklighet else []
    for name in _ATGARD_FIELD.values():
        selections[name] = []
    for sel in tillstand.get("urvalatgard") or []:
        status = ATGARD_STATUS[sel["status"]["kod"]]
        selections[_ATGARD_FIELD[status]].append([Kod.from_api(k) for k in sel["kod"]])
    return Villkor(**selections)


def beslutsunderlag(
    item_id: str, version: int, start: dt.date, slut: dt.date | None, senast_andrad: dt.datetime, a: dict
) -> Beslutsunderlag:
    rek = a["rekommenderadsjukskrivning"]
    tid = rek.get("maximalsjukskrivningstid")
    return Beslutsunderlag(
        underlags_id=item_id,
        giltighet=Giltighet(start, slut),
        version=version,
        textuellt_underlag=_text(a.get("typfallsmening")),
        sjukskrivningstid_text=rek["typfalletsrekommenderadesjukskrivning"],
        sjukskrivningstid=(
            Sjukskrivningstid(whole_number(tid), rek["maximalsjukskrivningsenhet"]) if tid is not None else None
        ),
        sjukskrivningsgrad=codes.SJUKSKRIVNINGSGRAD[rek["maximalsjukskrivningsgrad"]["kod"]],
        senast_andrad=clock.as_utc(senast_andrad),
        huvuddiagnoser=[Kod.diagnos(k) for k in a["fmbtillstand"]["diagnoskod"]],
        villkor=_villkor(a["fmbtillstand"]),
    )


def diagnosinformation(
    item_id: str, version: int, start: dt.date, slut: dt.date | None, senast_andrad: dt.datetime, a: dict
) -> DiagnosInformation:
    akt = a.get("aktivitetsbegransning") or {}
    fun = a.get("funktionsnedsattning") or {}
    return DiagnosInformation(
        informations_id=item_id,
        giltighet=Giltighet(start, slut),
        version=version,
        rubrik=a["diagnosrubrik"],
        aktivitetsbegransning_beskrivning=_text(akt.get("aktivitetsbegransningsbeskrivning")),
        funktionsnedsattning_beskrivning=_text(fun.get("funktionsnedsattningsbeskrivning")),
        senast_andrad=clock.as_utc(senast_andrad),
        huvuddiagnoser=[Kod.diagnos(k) for k in a["diagnoskod"]],
        symtom_prognos_behandling=html_to_text((a.get("symtomprognosbehandling") or {}).get("markup")),
        generell_information=html_to_text((a.get("forsakringsmedicinskinformation") or {}).get("markup")),
    )
