"""FMB's SOAP contract adapter: GetFmb, GetDiagnosInformation and GetVersions.

Requests reach these handlers only after the RIV-TA plumbing has checked the envelope, the
logical address and the request against the contract's responder schema, so each handler reads a
valid request element; each contract's reader makes a plain question of it (``FmbQuestion``),
which the plumbing keeps by the request's bytes. Answers are assembled from bytes prepared once
per data version (``fmb/wire.py``), kept in the domain snapshot's memo: each item's element, the
version block, and each assembled answer, per day, since the active set moves at midnight
(bounded, but the answers nobody filters are always kept); GetVersions' answer per stamps.

The contract schemas in ``schemas/`` are the contract; the test suite validates every response
against them and against the deployed shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from lxml import etree

from ntjp_producer import clock, ns
from ntjp_producer.fmb import codes, wire
from ntjp_producer.fmb.models import DIAGNOSINFORMATION, TYPFALL
from ntjp_producer.fmb.services import FmbService, Urval
from ntjp_producer.rivta.faults import CLIENT, RivtaFault

GET_FMB, GET_DIAGNOSINFORMATION, GET_VERSIONS = "GetFmb", "GetDiagnosInformation", "GetVersions"
CONTRACTS = (GET_FMB, GET_DIAGNOSINFORMATION, GET_VERSIONS)

_C = "{" + ns.FMB + "}"
_BOOLEAN = {"true": True, "1": True, "false": False, "0": False}


# ---- reading a (schema-valid) request ----------------------------------------------------------


def _children(request: etree._Element, contract: str, name: str) -> list[etree._Element]:
    return request.findall("{" + ns.fmb_responder(contract) + "}" + name)


def _requested_codes(request: etree._Element, contract: str) -> tuple[str, ...]:
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
    return tuple(result)


def _aven_ej_aktiva(request: etree._Element, contract: str) -> bool:
    flags = _children(request, contract, "avenEjAktiva")
    return bool(flags) and _BOOLEAN.get((flags[0].text or "").strip(), False)


def _underlags_ids(request: etree._Element) -> tuple[str, ...]:
    return tuple(
        (ii.findtext(_C + "extension") or "").strip() for ii in _children(request, GET_FMB, "underlagsId")
    )


class FmbQuestion(NamedTuple):
    """What a GetFmb or GetDiagnosInformation request asks, and nothing else: the plumbing keeps it
    by the request's bytes, the adapter keeps its answer by it."""

    koder: tuple[str, ...]
    underlags_ids: tuple[str, ...]
    aven_ej_aktiva: bool

    @property
    def unfiltered(self) -> bool:
        return not self.koder and not self.underlags_ids


def read_get_fmb(request: etree._Element) -> FmbQuestion:
    return FmbQuestion(_requested_codes(request, GET_FMB), _underlags_ids(request), _aven_ej_aktiva(request, GET_FMB))


def read_get_diagnosinformation(request: etree._Element) -> FmbQuestion:
    contract = GET_DIAGNOSINFORMATION
    return FmbQuestion(_requested_codes(request, contract), (), _aven_ej_aktiva(request, contract))


def read_get_versions(request: etree._Element) -> tuple[()]:
    return ()  # GetVersions asks nothing but the versions


# ---- answering --------------------------------------------------------------------------------

# Answers to filtered questions kept per data version and day: up to this many bytes a contract,
# each at most _ANSWER_BYTES (a question for most of the material is assembled each time).
_ANSWERS_BYTES, _ANSWER_BYTES = 8 << 20, 64 << 10


class _Kept(dict):
    """One day's answers of one data version, with their size."""

    size = 0


class _Answers:
    """One contract's answers from the prepared bytes of the data version a selection came from."""

    def __init__(self, contract: str, kind: str, list_element: Callable) -> None:
        self.contract = contract
        self.kind = kind
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

    def _kept(self, memo: dict, day) -> _Kept:
        """This day's answers in a version's memo; the days before are let go (validity moves the
        active set at midnight)."""
        key = (self.contract, "answers", day)
        kept = memo.get(key)
        if kept is None:
            for stale in [k for k in list(memo) if k[:2] == (self.contract, "answers") and k != key]:
                memo.pop(stale, None)
            kept = memo.setdefault(key, _Kept())
        return kept

    def answer(self, fmb: FmbService, question: FmbQuestion, select: Callable[[], Urval]) -> bytes:
        """The answer to ``question`` from the data version stored now: kept whole once assembled,
        in the memo of the version it was assembled from (an import landing meanwhile makes a new
        memo, so nothing from the old version is served after it)."""
        day = clock.today()
        data = self._kept(fmb.prepared(self.kind), day).get(question)
        if data is not None:
            return data
        urval = select()
        data = self.body(urval)
        kept = self._kept(urval.prepared, day)
        if question.unfiltered or (len(data) <= _ANSWER_BYTES and kept.size + len(data) <= _ANSWERS_BYTES):
            kept[question] = data
            kept.size += len(data)
        return data


def get_fmb_handler(fmb: FmbService) -> Callable[[FmbQuestion], bytes]:
    answers = _Answers(GET_FMB, TYPFALL, wire.beslutsunderlag)

    def handle(question: FmbQuestion) -> bytes:
        return answers.answer(fmb, question, lambda: fmb.beslutsunderlag(
            diagnoskoder=question.koder, underlags_ids=question.underlags_ids,
            aven_ej_aktiva=question.aven_ej_aktiva))  # fmt: skip

    return handle


def get_diagnosinformation_handler(fmb: FmbService) -> Callable[[FmbQuestion], bytes]:
    answers = _Answers(GET_DIAGNOSINFORMATION, DIAGNOSINFORMATION, wire.diagnosinformation)

    def handle(question: FmbQuestion) -> bytes:
        return answers.answer(fmb, question, lambda: fmb.diagnosinformation(
            diagnoskoder=question.koder, aven_ej_aktiva=question.aven_ej_aktiva))  # fmt: skip

    return handle


def get_versions_handler(fmb: FmbService) -> Callable[[tuple[()]], bytes]:
    responder = ns.fmb_responder(GET_VERSIONS)
    cache: dict[object, bytes] = {}

    def handle(_question: tuple[()]) -> bytes:
        versioner = fmb.versioner()
        data = cache.get(versioner)
        if data is None:
            cache.clear()  # one entry: the stamps only move forward
            data = cache[versioner] = wire.versioner_response(responder, versioner)
        return data

    return handle


# contract: (reader of its request element, handler of what the reader read)
HANDLERS = {
    GET_FMB: (read_get_fmb, get_fmb_handler),
    GET_DIAGNOSINFORMATION: (read_get_diagnosinformation, get_diagnosinformation_handler),
    GET_VERSIONS: (read_get_versions, get_versions_handler),
}
