"""FMB's SOAP contract adapter: GetFmb, GetDiagnosInformation and GetVersions.

Requests reach these handlers only after the RIV-TA plumbing has checked the envelope, the
logical address and the request against the contract's responder schema, so each handler reads a
valid request element. Answers are assembled from bytes prepared once per data version
(``fmb/wire.py``), kept in the domain snapshot's memo: each item's element, the version block,
and the whole response element for the questions nobody filters (everything active, everything
including inactive, GetVersions), per day, since the active set moves at midnight.

The contract schemas in ``schemas/`` are the contract; the test suite validates every response
against them and against the deployed shape.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from ntjp_producer import clock, ns
from ntjp_producer.fmb import codes, wire
from ntjp_producer.fmb.services import FmbService, Urval
from ntjp_producer.rivta.faults import CLIENT, RivtaFault

GET_FMB, GET_DIAGNOSINFORMATION, GET_VERSIONS = "GetFmb", "GetDiagnosInformation", "GetVersions"
CONTRACTS = (GET_FMB, GET_DIAGNOSINFORMATION, GET_VERSIONS)

_C = "{" + ns.FMB + "}"
_BOOLEAN = {"true": True, "1": True, "false": False, "0": False}


# ---- reading a (schema-valid) request ----------------------------------------------------------


def _children(request: etree._Element, contract: str, name: str) -> list[etree._Element]:
    return request.findall("{" + ns.fmb_responder(contract) + "}" + name)


def _requested_codes(request: etree._Element, contract: str) -> list[str]:
    result = []
    for cv in _children(request, contract, "diagnosKod"):
        system = (cv.findtext(_C + "codeSystem") or "").strip()
        if system and system not in codes.ACCEPTED_CODE_SYSTEMS:
            raise RivtaFault(
                CLIENT,
                f"diagnosKod must be ICD-10-SE (codeSystem {codes.ICD10SE_DEPLOYED_OID} or {codes.ICD10SE_OID})",
            )
        code = cv.findtext(_C + "code")
        if not code or not code.strip():
            raise RivtaFault(CLIENT, "diagnosKod has no code")
        try:
            result.append(codes.normalise(code))
        except codes.InvalidDiagnosisCode as exc:  # still the domain's kind, answered by the one table
            raise codes.InvalidDiagnosisCode(f"Invalid diagnosKod: {exc}") from None
    return result


def _aven_ej_aktiva(request: etree._Element, contract: str) -> bool:
    flags = _children(request, contract, "avenEjAktiva")
    return bool(flags) and _BOOLEAN.get((flags[0].text or "").strip(), False)


def _underlags_ids(request: etree._Element) -> list[str]:
    return [
        (ii.findtext(_C + "extension") or "").strip() for ii in _children(request, GET_FMB, "underlagsId")
    ]


# ---- answering --------------------------------------------------------------------------------


class _Answers:
    """One contract's answers from the prepared bytes of the data version a selection came from."""

    def __init__(self, contract: str, list_element: Callable) -> None:
        self.contract = contract
        self.responder = ns.fmb_responder(contract)
        self._element = list_element

    def _item(self, urval: Urval, item) -> bytes:
        key = (self.contract, id(item))  # the memo holds the snapshot's items, so ids stay theirs
        data = urval.prepared.get(key)
        if data is None:
            data = urval.prepared[key] = wire.item_bytes(self.responder, self._element(self.responder, item))
        return data

    def _version(self, urval: Urval) -> bytes:
        key = (self.contract, "version")
        data = urval.prepared.get(key)
        if data is None:
            data = urval.prepared[key] = wire.version_block(self.responder, urval.version)
        return data

    def body(self, urval: Urval) -> bytes:
        return wire.response(
            self.responder, self.contract, [self._item(urval, i) for i in urval.items], self._version(urval)
        )

    def whole(self, urval: Urval, aven_ej_aktiva: bool) -> bytes:
        """The unfiltered answer, kept whole for the day (validity moves the active set at midnight)."""
        key = (self.contract, "whole", clock.today(), aven_ej_aktiva)
        data = urval.prepared.get(key)
        if data is None:
            for stale in [k for k in list(urval.prepared) if k[:2] == (self.contract, "whole") and k != key]:
                urval.prepared.pop(stale, None)
            data = urval.prepared[key] = self.body(urval)
        return data


def get_fmb_handler(fmb: FmbService) -> Callable[[etree._Element], bytes]:
    answers = _Answers(GET_FMB, wire.beslutsunderlag)

    def handle(request: etree._Element) -> bytes:
        koder = _requested_codes(request, GET_FMB)
        ids = _underlags_ids(request)
        aven = _aven_ej_aktiva(request, GET_FMB)
        urval = fmb.beslutsunderlag(diagnoskoder=koder, underlags_ids=ids, aven_ej_aktiva=aven)
        if not koder and not ids:
            return answers.whole(urval, aven)
        return answers.body(urval)

    return handle


def get_diagnosinformation_handler(fmb: FmbService) -> Callable[[etree._Element], bytes]:
    answers = _Answers(GET_DIAGNOSINFORMATION, wire.diagnosinformation)

    def handle(request: etree._Element) -> bytes:
        koder = _requested_codes(request, GET_DIAGNOSINFORMATION)
        aven = _aven_ej_aktiva(request, GET_DIAGNOSINFORMATION)
        urval = fmb.diagnosinformation(diagnoskoder=koder, aven_ej_aktiva=aven)
        if not koder:
            return answers.whole(urval, aven)
        return answers.body(urval)

    return handle


def get_versions_handler(fmb: FmbService) -> Callable[[etree._Element], bytes]:
    responder = ns.fmb_responder(GET_VERSIONS)
    cache: dict[object, bytes] = {}

    def handle(request: etree._Element) -> bytes:
        versioner = fmb.versioner()
        data = cache.get(versioner)
        if data is None:
            cache.clear()  # one entry: the stamps only move forward
            data = cache[versioner] = wire.versioner_response(responder, versioner)
        return data

    return handle


HANDLERS = {
    GET_FMB: get_fmb_handler,
    GET_DIAGNOSINFORMATION: get_diagnosinformation_handler,
    GET_VERSIONS: get_versions_handler,
}
