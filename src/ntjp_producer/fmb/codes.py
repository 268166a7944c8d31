"""Codes as FMB speaks them: ICD-10-SE diagnoses as consumers send them, and the code systems of
the material as the deployed producer named them on the wire.

Webcert strips dots and upper-cases codes, and people type ``j22.4`` or ``J22 4``; all of these
must find the material stored under ``J224``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ntjp_producer import refusals

# ICD-10-SE's own OID, and the one the open API and the deployed producer label ICD-10 codes with.
# Requests may carry either; answers carry the deployed one, as generated consumers expect it.
ICD10SE_OID = "1.2.752.116.1.1.1.1.3"
ICD10SE_DEPLOYED_OID = "1.2.752.116.1.1.1.3.2"
ACCEPTED_CODE_SYSTEMS = frozenset({ICD10SE_OID, ICD10SE_DEPLOYED_OID})
SNOMED_CT_SE_OID = "1.2.752.116.2.1.1"
ARBETSBELASTNING_OID = "1.2.752.116.3.1.13"
SJUKSKRIVNINGSGRAD_OID = "1.2.752.116.3.1.14"


@dataclass(frozen=True)
class CodeSystem:
    name: str
    version: str


# Name and version as the deployed producer sent them (docs/fmb-wire-format.md). The open API
# names them otherwise ("ICD-10", "SNOMED-CT", "Arbetsbelastning") and gives no version.
CODE_SYSTEMS = {
    ICD10SE_DEPLOYED_OID: CodeSystem("ICD-10-SE", "1"),
    SNOMED_CT_SE_OID: CodeSystem("Snomed CT-SE", "1"),
    ARBETSBELASTNING_OID: CodeSystem("Försäkringsmedicinskt beslutsstöd arbetsbelastningskoder", "1"),
}

# The open API's maximalsjukskrivningsgrad codes, as the text the contract carries.
SJUKSKRIVNINGSGRAD = {"1": "Heltid", "2": "Deltid"}

_CODE = re.compile(r"[A-Z][0-9]{2}[0-9A-Z]{0,4}")
_NOISE = re.compile(r"[\s.]+")


class InvalidDiagnosisCode(refusals.BadQuestion, ValueError):
    """A code that is not an ICD-10-SE code even after normalisation."""


def normalise(code: str) -> str:
    """``' j22.4 '`` -> ``'J224'``; raises :class:`InvalidDiagnosisCode` for anything else."""
    cleaned = _NOISE.sub("", code or "").upper()
    if not _CODE.fullmatch(cleaned):
        raise InvalidDiagnosisCode(f"'{code}' is not an ICD-10-SE diagnosis code")
    return cleaned


def lineage(code: str) -> list[str]:
    """The code and its parents, nearest first: ``F321`` -> ``['F321', 'F32']``."""
    return [code[:n] for n in range(len(code), 2, -1)]
