"""FMB's SOAP contract adapter: Spyne services for GetFmb, GetDiagnosInformation and GetVersions.

The Spyne models mirror the contract schemas in ``schemas/`` (element names, order, namespaces);
the schemas, not these classes, are the contract, and the test suite validates every response
against them. Requests reach these services only after the RIV-TA plumbing has checked the
envelope, the logical address and the request against the schema.
"""

from __future__ import annotations

import datetime as dt
import logging

from spyne import (
    AnyXml,
    Boolean,
    ComplexModel,
    Integer,
    ServiceBase,
    Unicode,
)
from spyne.model.fault import Fault

from ntjp_producer import logs, ns
from ntjp_producer.fmb import codes, material, versioning
from ntjp_producer.fmb.services import FmbService, NoFmbData
from ntjp_producer.rivta.operation import operation

D = ns.FMB
log = logging.getLogger(__name__)


def _opt(t):
    return t.customize(min_occurs=0)


def _many(t, min_occurs=0):
    return t.customize(min_occurs=min_occurs, max_occurs="unbounded")


def _req(t):
    return t.customize(min_occurs=1, nillable=False)


# ---- domain types (namespace ...insurancemedicinedecisionsupport:1) ---------------------------
# In the shape the deployed producer answered (docs/fmb-wire-format.md), child for child.


class CVType(ComplexModel):
    __namespace__ = D
    _type_info = [
        ("code", _opt(Unicode)),
        ("codeSystem", _opt(Unicode)),
        ("codeSystemName", _opt(Unicode)),
        ("codeSystemVersion", _opt(Unicode)),
        ("displayName", _opt(Unicode)),
        ("originalText", _opt(Unicode)),
    ]


class ICD10SEType(CVType):
    __namespace__ = D


class IIType(ComplexModel):
    __namespace__ = D
    _type_info = [("root", _opt(Unicode)), ("extension", _req(Unicode))]


class PQType(ComplexModel):
    __namespace__ = D
    _type_info = [("value", _req(Integer)), ("unit", _req(Unicode))]


class DatePeriodType(ComplexModel):
    __namespace__ = D
    _type_info = [("start", _req(Unicode)), ("slut", _opt(Unicode))]


class HuvuddiagnosType(ComplexModel):
    __namespace__ = D
    _type_info = [("kod", _req(ICD10SEType))]


def _kind(type_name: str) -> type[ComplexModel]:
    """A condition code's own element, wrapping one ``kod``: ``svarighetsgrad/kod``."""
    return type(type_name, (ComplexModel,), {"__namespace__": D, "_type_info": [("kod", _req(CVType))]})


def _urval(type_name: str, element: str, kind: type[ComplexModel]) -> type[ComplexModel]:
    return type(type_name, (ComplexModel,), {"__namespace__": D, "_type_info": [(element, _many(kind, 1))]})


# (selection element, its code element, the Villkor field), in the deployed (alphabetical) order
_VILLKOR = [
    ("urvalArbetsbelastning", "arbetsbelastning", "arbetsbelastning"),
    ("urvalKomplicerandeFaktor", "komplicerandeFaktor", "komplicerande_faktor"),
    ("urvalPagaendeAtgard", "pagaendeAtgard", "pagaende_atgard"),
    ("urvalPlaneradAtgard", "planeradAtgard", "planerad_atgard"),
    ("urvalSamsjuklighet", "samsjuklighet", "samsjuklighet"),
    ("urvalSjukdomsforlopp", "sjukdomsforlopp", "sjukdomsforlopp"),
    ("urvalSvarighetsgrad", "svarighetsgrad", "svarighetsgrad"),
    ("urvalUtfordAtgard", "utfordAtgard", "utford_atgard"),
]
_KINDS = {code: _kind(code[0].upper() + code[1:] + "Type") for _, code, _ in _VILLKOR}
_URVAL = {name: _urval(name[0].upper() + name[1:] + "Type", code, _KINDS[code]) for name, code, _ in _VILLKOR}


class VillkorType(ComplexModel):
    __namespace__ = D
    _type_info = [(name, _many(_URVAL[name])) for name, _, _ in _VILLKOR]


class RehabiliteringsInformationType(ComplexModel):
    __namespace__ = D
    _type_info = [("beskrivning", _opt(Unicode))]


class BeslutsunderlagType(ComplexModel):
    __namespace__ = D
    _type_info = [
        ("underlagsId", _req(IIType)),
        ("giltighetstid", _req(DatePeriodType)),
        ("version", _req(Integer)),
        ("textuelltUnderlag", _opt(Unicode)),
        ("sjukskrivningstidText", _req(Unicode)),
        ("sjukskrivningstid", _opt(PQType)),
        ("sjukskrivningsgrad", _req(Unicode)),
        ("senastAndrad", _req(Unicode)),
        ("rehabiliteringsInformation", _opt(RehabiliteringsInformationType)),
        ("villkor", _req(VillkorType)),
        ("huvuddiagnos", _many(HuvuddiagnosType, 1)),
    ]


class OvrigFmbInformationType(ComplexModel):
    __namespace__ = D
    _type_info = [("symtomPrognosBehandling", _opt(Unicode)), ("genrellInformation", _opt(Unicode))]


class DiagnosInformationType(ComplexModel):
    __namespace__ = D
    _type_info = [
        ("informationsId", _req(IIType)),
        ("giltighetstid", _req(DatePeriodType)),
        ("verson", _req(Integer)),
        ("rubrik", _req(Unicode)),
        ("funktionsnedsattningBeskrivning", _opt(Unicode)),
        ("aktivitetsbegransningBeskrivning", _opt(Unicode)),
        ("huvuddiagnos", _many(HuvuddiagnosType, 1)),
        ("ovrigFmbInformation", _opt(OvrigFmbInformationType)),
    ]


class VersionType(ComplexModel):
    __namespace__ = D
    _type_info = [("senasteVersionsuppdatering", _req(Unicode)), ("senateAndring", _req(Unicode))]


class VersionerType(ComplexModel):
    __namespace__ = D
    _type_info = [
        ("fmbSenasteVersionsuppdatering", _req(Unicode)),
        ("fmbSenateAndring", _req(Unicode)),
        ("diagnosInformationSenasteVersionsuppdatering", _req(Unicode)),
        ("diagnosInformationSenateAndring", _req(Unicode)),
    ]


# ---- responder types ----------------------------------------------------------------------------


def _responder(contract: str, name: str, fields: list) -> type[ComplexModel]:
    # Spyne will not take an empty model as a bare body; the contract's extension point fills it.
    fields = fields or [("any", AnyXml.customize(min_occurs=0, max_occurs="unbounded"))]
    return type(name, (ComplexModel,), {"__namespace__": ns.fmb_responder(contract), "_type_info": fields})


GetFmbType = _responder(
    "GetFmb",
    "GetFmbType",
    [("underlagsId", _many(IIType)), ("diagnosKod", _many(CVType)), ("avenEjAktiva", _opt(Boolean))],
)
GetFmbResponseType = _responder(
    "GetFmb", "GetFmbResponseType", [("beslutsunderlag", _many(BeslutsunderlagType)), ("version", _req(VersionType))]
)
GetDiagnosInformationType = _responder(
    "GetDiagnosInformation",
    "GetDiagnosInformationType",
    [("diagnosKod", _many(CVType)), ("avenEjAktiva", _opt(Boolean))],
)
GetDiagnosInformationResponseType = _responder(
    "GetDiagnosInformation",
    "GetDiagnosInformationResponseType",
    [("diagnosInformation", _many(DiagnosInformationType)), ("version", _req(VersionType))],
)
GetVersionsType = _responder("GetVersions", "GetVersionsType", [])
GetVersionsResponseType = _responder("GetVersions", "GetVersionsResponseType", [("versioner", _req(VersionerType))])


# ---- mapping domain -> contract -------------------------------------------------------------------

# The id spaces of the two kinds of material, as the deployed producer answered them.
UNDERLAGS_ID_ROOT = "1.2.752.116.3.1.12"
INFORMATIONS_ID_ROOT = "1.2.752.116.3.1.11"


def _cv(k: material.Kod, cls: type[CVType] = CVType) -> CVType:
    return cls(
        code=k.code,
        codeSystem=k.code_system,
        codeSystemName=k.code_system_name,
        codeSystemVersion=k.code_system_version,
        displayName=k.display_name,
    )


def _date(d: dt.date | None) -> str | None:
    return d.strftime("%Y%m%d") if d else None


def _period(g: material.Giltighet) -> DatePeriodType:
    return DatePeriodType(start=_date(g.start), slut=_date(g.slut))


def _huvuddiagnoser(koder: list[material.Kod]) -> list[HuvuddiagnosType]:
    return [HuvuddiagnosType(kod=_cv(k, ICD10SEType)) for k in koder]


def _villkor(v: material.Villkor) -> VillkorType:
    out = VillkorType()
    for element, code_element, field in _VILLKOR:
        urval, kind = _URVAL[element], _KINDS[code_element]
        selections = [urval(**{code_element: [kind(kod=_cv(k)) for k in sel]}) for sel in getattr(v, field)]
        setattr(out, element, selections or None)
    return out


def _version(v: material.Version) -> VersionType:
    return VersionType(senasteVersionsuppdatering=v.senaste_versionsuppdatering, senateAndring=v.senate_andring)


def to_beslutsunderlag(b: material.Beslutsunderlag) -> BeslutsunderlagType:
    return BeslutsunderlagType(
        underlagsId=IIType(root=UNDERLAGS_ID_ROOT, extension=b.underlags_id),
        giltighetstid=_period(b.giltighet),
        version=b.version,
        textuelltUnderlag=b.textuellt_underlag,
        sjukskrivningstidText=b.sjukskrivningstid_text,
        sjukskrivningstid=PQType(value=b.sjukskrivningstid.value, unit=b.sjukskrivningstid.unit)
        if b.sjukskrivningstid
        else None,
        sjukskrivningsgrad=b.sjukskrivningsgrad,
        senastAndrad=_date(versioning.today(b.senast_andrad)),
        villkor=_villkor(b.villkor),
        huvuddiagnos=_huvuddiagnoser(b.huvuddiagnoser),
    )


def to_diagnosinformation(d: material.DiagnosInformation) -> DiagnosInformationType:
    ovrig = None
    if d.symtom_prognos_behandling or d.generell_information:
        ovrig = OvrigFmbInformationType(
            symtomPrognosBehandling=d.symtom_prognos_behandling, genrellInformation=d.generell_information
        )
    return DiagnosInformationType(
        informationsId=IIType(root=INFORMATIONS_ID_ROOT, extension=d.informations_id),
        giltighetstid=_period(d.giltighet),
        verson=d.version,
        rubrik=d.rubrik,
        funktionsnedsattningBeskrivning=d.funktionsnedsattning_beskrivning,
        aktivitetsbegransningBeskrivning=d.aktivitetsbegransning_beskrivning,
        huvuddiagnos=_huvuddiagnoser(d.huvuddiagnoser),
        ovrigFmbInformation=ovrig,
    )


# ---- services -----------------------------------------------------------------------------------


def _requested_codes(diagnos_kod: list[CVType] | None) -> list[str]:
    result = []
    for cv in diagnos_kod or []:
        if cv.codeSystem and cv.codeSystem.strip() not in codes.ACCEPTED_CODE_SYSTEMS:
            raise Fault(
                "Client",
                f"diagnosKod must be ICD-10-SE (codeSystem {codes.ICD10SE_DEPLOYED_OID} or {codes.ICD10SE_OID})",
            )
        if not cv.code:
            raise Fault("Client", "diagnosKod has no code")
        result.append(cv.code)
    return result


def _answer(call):
    """Run a whole service call; turn the domain's refusals into the faults the contract promises
    and anything unexpected into a Server fault that gives the correlation id, not the cause."""
    try:
        return call()
    except Fault:
        raise
    except codes.InvalidDiagnosisCode as exc:
        raise Fault("Client", f"Invalid diagnosKod: {exc}") from None
    except NoFmbData:
        raise Fault("Server", "No FMB data has been imported into this producer yet") from None
    except Exception:
        log.exception("FMB service call failed")
        raise Fault("Server", f"Internal error; correlation id {logs.correlation_id.get()}") from None


def build_services(fmb: FmbService) -> dict[str, type[ServiceBase]]:
    """One Spyne service per contract, bound to the given domain service."""

    class GetFmbResponder(ServiceBase):
        @operation("GetFmb", GetFmbType, GetFmbResponseType)
        def GetFmb(ctx, request):
            def answer():
                found, version = fmb.beslutsunderlag(
                    diagnoskoder=_requested_codes(request.diagnosKod),
                    underlags_ids=[i.extension for i in request.underlagsId or [] if i is not None],
                    aven_ej_aktiva=bool(request.avenEjAktiva),
                )
                return GetFmbResponseType(
                    beslutsunderlag=[to_beslutsunderlag(b) for b in found], version=_version(version)
                )

            return _answer(answer)

    class GetDiagnosInformationResponder(ServiceBase):
        @operation("GetDiagnosInformation", GetDiagnosInformationType, GetDiagnosInformationResponseType)
        def GetDiagnosInformation(ctx, request):
            def answer():
                found, version = fmb.diagnosinformation(
                    diagnoskoder=_requested_codes(request.diagnosKod), aven_ej_aktiva=bool(request.avenEjAktiva)
                )
                return GetDiagnosInformationResponseType(
                    diagnosInformation=[to_diagnosinformation(d) for d in found], version=_version(version)
                )

            return _answer(answer)

    class GetVersionsResponder(ServiceBase):
        @operation("GetVersions", GetVersionsType, GetVersionsResponseType)
        def GetVersions(ctx, request):
            def answer():
                v = fmb.versioner()
                return GetVersionsResponseType(
                    versioner=VersionerType(
                        fmbSenasteVersionsuppdatering=v.fmb.senaste_versionsuppdatering,
                        fmbSenateAndring=v.fmb.senate_andring,
                        diagnosInformationSenasteVersionsuppdatering=v.diagnosinformation.senaste_versionsuppdatering,
                        diagnosInformationSenateAndring=v.diagnosinformation.senate_andring,
                    )
                )

            return _answer(answer)

    return {
        "GetFmb": GetFmbResponder,
        "GetDiagnosInformation": GetDiagnosInformationResponder,
        "GetVersions": GetVersionsResponder,
    }
