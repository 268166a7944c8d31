"""ICD-10-SE diagnosis codes as consumers send them.

Webcert strips dots and upper-cases codes, and people type ``j22.4`` or ``J22 4``; all of these
must find the material stored under ``J224``.
"""

from __future__ import annotations

import re

ICD10SE_OID = "1.2.752.116.1.1.1.1.3"
# The open API labels its ICD-10 codes with this OID; requests carrying it mean the same codes.
ICD10_OPEN_API_OID = "1.2.752.116.1.1.1.3.2"
ACCEPTED_CODE_SYSTEMS = frozenset({ICD10SE_OID, ICD10_OPEN_API_OID})

_CODE = re.compile(r"[A-Z][0-9]{2}[0-9A-Z]{0,4}")
_NOISE = re.compile(r"[\s.]+")


class InvalidDiagnosisCode(ValueError):
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
