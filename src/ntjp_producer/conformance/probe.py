"""``ntjp-producer check``: calls a running producer of the FMB contracts as a consumer would, and
holds every answer against the deployed shapes.

It speaks raw SOAP over mutual TLS (no generated client, which would hide the very differences it
looks for) to the standard RIV-TA paths under the given base URL, and prints one line per check and
a verdict. An operator runs it before the platform's acceptance test; a developer against
``make run``. It works against any producer of these contracts, not only this one.
"""

from __future__ import annotations

import http.client
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TextIO
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from lxml import etree

from ntjp_producer import ns
from ntjp_producer.conformance import match, shapes
from ntjp_producer.rivta import loader

# The logical addresses the platform's monitor sends in a Ping (rivta-ntjp.md): the literal string,
# and Inera's organisation number. Neither is the producer's own; Ping must answer both.
PING_ADDRESSES = ("LogicalAddress", "SE165565594230-1000")
FOREIGN_ADDRESS = "SE0000000000-NTJP-CHECK"
CODE_SYSTEMS = (shapes.ICD10SE_AS_DEPLOYED, "1.2.752.116.1.1.1.1.3")  # as deployed, and ICD-10-SE's own
SHOWN = 10  # differences printed per check


@dataclass
class Answer:
    status: int
    body: bytes
    response: etree._Element | None = None  # the Body's one child, when it is not a Fault
    fault: tuple[str, str] | None = None  # (faultcode, faultstring)
    error: str | None = None  # why there is neither

    def describe(self) -> str:
        if self.fault is not None:
            return f"answered a SOAP Fault ({self.fault[0]}): {self.fault[1]}"
        return self.error or f"answered HTTP {self.status}"


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not run, because what it needs failed
    detail: str
    problems: list[str] = field(default_factory=list)


class Producer:
    """One producer at a base URL, called over mutual TLS."""

    def __init__(self, url: str, context: ssl.SSLContext, *, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"the producer's URL must be https://HOST[:PORT][/PATH], not '{url}'")
        self.host, self.port = parts.hostname, parts.port or 443
        self.base = parts.path.rstrip("/")
        self.context, self.timeout = context, timeout

    def handshake(self) -> str:
        """The negotiated TLS version, once the producer has answered one HTTP request over it.

        Under TLS 1.3 a producer refuses a client certificate only after the client's side of the
        handshake is done, so the refusal shows on the first read, not in ``wrap_socket``. Raises
        OSError (ssl.SSLError among them) when the connection or the certificate is refused.
        """
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=self.timeout)
        try:
            conn.request("GET", f"{self.base}/PingForConfiguration/1/rivtabp21?wsdl")
            conn.getresponse().read()
            return conn.sock.version() if conn.sock is not None else "TLS"
        except http.client.HTTPException as exc:
            raise OSError(f"no HTTP answer after the handshake ({exc})") from None
        finally:
            conn.close()

    def call(self, contract: str, responder_ns: str, inner: str, logical_address: str) -> Answer:
        body = _envelope(contract, responder_ns, inner, logical_address)
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=self.timeout)
        try:
            conn.request(
                "POST",
                f"{self.base}/{contract}/1/rivtabp21",
                body=body,
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{responder_ns}:{contract}"'},
            )
            reply = conn.getresponse()
            data = reply.read()
        except (OSError, http.client.HTTPException) as exc:
            return Answer(0, b"", error=f"no answer: {exc}")
        finally:
            conn.close()
        return _read(reply.status, data)


def _envelope(contract: str, responder_ns: str, inner: str, logical_address: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{ns.SOAP11_ENV}">'
        f'<soapenv:Header><LogicalAddress xmlns="{ns.REGISTRY}">{escape(logical_address)}</LogicalAddress>'
        f'</soapenv:Header><soapenv:Body><r:{contract} xmlns:r="{responder_ns}" xmlns:c="{ns.FMB}">{inner}'
        f"</r:{contract}></soapenv:Body></soapenv:Envelope>"
    ).encode()


def _read(status: int, data: bytes) -> Answer:
    try:
        root = loader.parse(data)
    except loader.UnsafeXml as exc:
        return Answer(status, data, error=f"answered HTTP {status} that is not SOAP ({exc})")
    body = root.find(f"{{{ns.SOAP11_ENV}}}Body")
    children = [c for c in body if isinstance(c.tag, str)] if body is not None else []
    if root.tag != f"{{{ns.SOAP11_ENV}}}Envelope" or len(children) != 1:
        return Answer(status, data, error=f"answered HTTP {status} without one element in a SOAP 1.1 Body")
    (child,) = children
    if child.tag == f"{{{ns.SOAP11_ENV}}}Fault":
        code = (child.findtext("faultcode") or "").rpartition(":")[2]
        return Answer(status, data, fault=(code, child.findtext("faultstring") or ""))
    if status != 200:
        return Answer(status, data, error=f"answered HTTP {status} with a response that is not a Fault")
    return Answer(status, data, response=child)


def _diagnosis_codes(codes: list[str], system: str) -> str:
    return "".join(
        f"<r:diagnosKod><c:code>{escape(code)}</c:code><c:codeSystem>{system}</c:codeSystem></r:diagnosKod>"
        for code in codes
    )


class Conformance:
    """The checks, in order; a later one may use what an earlier one fetched."""

    def __init__(self, producer: Producer, logical_address: str) -> None:
        self.producer, self.la = producer, logical_address
        self.answers: dict[str, Answer] = {}

    def run(self) -> list[Check]:
        p = self.producer
        steps: list[tuple[str, Callable[[str], Check]]] = [
            (f"mutual TLS to {p.host}:{p.port}", self._connect),
            *(
                (f"PingForConfiguration with LogicalAddress '{a}'", partial(self._ping, address=a))
                for a in PING_ADDRESSES
            ),
            ("GetVersions", partial(self._shape, "GetVersions")),
            ("GetFmb without parameters", partial(self._shape, "GetFmb", items="beslutsunderlag")),
            (
                "GetDiagnosInformation without parameters",
                partial(self._shape, "GetDiagnosInformation", items="diagnosInformation"),
            ),
            ("version blocks equal GetVersions' strings", self._versions_agree),
            (
                "GetFmb by diagnosis code, with either ICD-10-SE code system OID",
                partial(self._either_code_system, "GetFmb", "beslutsunderlag", "underlagsId"),
            ),
            (
                "GetDiagnosInformation by diagnosis code, with either ICD-10-SE code system OID",
                partial(self._either_code_system, "GetDiagnosInformation", "diagnosInformation", "informationsId"),
            ),
            ("a business contract refuses a LogicalAddress it does not serve", self._foreign_address),
        ]
        results: list[Check] = []
        for name, step in steps:
            if results and results[0].ok is not True:
                results.append(Check(name, None, "not run: no mutual TLS connection"))
            else:
                results.append(step(name))
        return results

    # -- the checks -------------------------------------------------------------------------------

    def _connect(self, name: str) -> Check:
        try:
            version = self.producer.handshake()
        except ssl.SSLError as exc:
            return Check(name, False, f"the TLS handshake failed: {exc.reason or exc}")
        except OSError as exc:
            return Check(name, False, f"cannot connect: {exc.strerror or exc}")
        return Check(name, True, f"the producer accepted the client certificate ({version})")

    def _ping(self, name: str, *, address: str) -> Check:
        inner = (
            f"<r:serviceContractNamespace>{ns.fmb_responder('GetFmb')}</r:serviceContractNamespace>"
            f"<r:logicalAddress>{escape(self.la)}</r:logicalAddress>"
        )
        answer = self.producer.call("PingForConfiguration", ns.PING_RESPONDER, inner, address)
        check = self._conforms(name, "PingForConfiguration", answer)
        if check.ok:
            p = ns.PING_RESPONDER
            config = {
                c.findtext(f"{{{p}}}name"): c.findtext(f"{{{p}}}value")
                for c in answer.response.iter(f"{{{p}}}configuration")
            }
            shown = ", ".join(f"{k}={v}" for k, v in config.items() if k in ("dbStatus", "dataStatus", "fmbRelease"))
            check.detail += f"; {shown}" if shown else ""
        return check

    def _shape(self, contract: str, name: str, *, items: str | None = None) -> Check:
        answer = self.producer.call(contract, ns.fmb_responder(contract), "", self.la)
        self.answers[contract] = answer
        check = self._conforms(name, contract, answer)
        if check.ok and items:
            count = len(answer.response.findall(f"{{{ns.fmb_responder(contract)}}}{items}"))
            check.detail = f"{count} {items} in the deployed shape"
        return check

    def _conforms(self, name: str, contract: str, answer: Answer) -> Check:
        if answer.response is None:
            return Check(name, False, answer.describe())
        found = match.problems(answer.response, shapes.RESPONSES[contract], limit=1000)
        if found:
            return Check(name, False, f"{len(found)} difference(s) from the deployed shape", found)
        return Check(name, True, "the deployed shape")

    def _versions_agree(self, name: str) -> Check:
        answers = [self.answers.get(c) for c in ("GetVersions", "GetFmb", "GetDiagnosInformation")]
        if not all(a is not None and a.response is not None for a in answers):
            return Check(name, None, "not run: GetVersions, GetFmb or GetDiagnosInformation gave no answer")
        versions, fmb, di = (a.response for a in answers)
        c = ns.FMB
        versioner = versions.find(f"{{{ns.fmb_responder('GetVersions')}}}versioner")
        wrong = []
        for prefix, response, contract in (("fmb", fmb, "GetFmb"), ("diagnosInformation", di, "GetDiagnosInformation")):
            block = response.find(f"{{{ns.fmb_responder(contract)}}}version")
            for ours_name in ("senasteVersionsuppdatering", "senateAndring"):
                theirs_name = prefix + ours_name[0].upper() + ours_name[1:]
                theirs = versioner.findtext(f"{{{c}}}{theirs_name}") if versioner is not None else None
                ours = block.findtext(f"{{{c}}}{ours_name}") if block is not None else None
                if theirs != ours:
                    wrong.append(
                        f"{contract} version/{ours_name} {ours!r}, GetVersions versioner/{theirs_name} {theirs!r}"
                    )
        if wrong:
            return Check(name, False, "a consumer would fetch everything again on every poll", wrong)
        return Check(name, True, "a polling consumer sees no change while there is none")

    def _either_code_system(self, contract: str, items: str, id_element: str, name: str) -> Check:
        whole = self.answers.get(contract)
        if whole is None or whole.response is None:
            return Check(name, None, f"not run: {contract} without parameters gave no answer")
        code = whole.response.findtext(f".//{{{ns.FMB}}}huvuddiagnos/{{{ns.FMB}}}kod/{{{ns.FMB}}}code")
        if not code:
            return Check(name, None, "not run: the producer has no material to ask for")
        responder = ns.fmb_responder(contract)
        selected = []
        for system in CODE_SYSTEMS:
            answer = self.producer.call(contract, responder, _diagnosis_codes([code], system), self.la)
            if answer.response is None:
                return Check(name, False, f"codeSystem {system}: {answer.describe()}")
            selected.append(
                sorted(
                    el.findtext(f"{{{ns.FMB}}}{id_element}/{{{ns.FMB}}}extension") or ""
                    for el in answer.response.findall(f"{{{responder}}}{items}")
                )
            )
        if not selected[0] or selected[0] != selected[1]:
            return Check(
                name,
                False,
                f"{code}: {len(selected[0])} {items} with codeSystem {CODE_SYSTEMS[0]}, "
                f"{len(selected[1])} with {CODE_SYSTEMS[1]}; they must be the same, and not none",
            )
        return Check(name, True, f"{code}: the same {len(selected[0])} {items} with either")

    def _foreign_address(self, name: str) -> Check:
        answer = self.producer.call("GetVersions", ns.fmb_responder("GetVersions"), "", FOREIGN_ADDRESS)
        if answer.fault is not None and answer.fault[0] == "Client" and answer.status == 500:
            return Check(name, True, f"GetVersions to '{FOREIGN_ADDRESS}': Client fault")
        return Check(name, False, f"GetVersions to '{FOREIGN_ADDRESS}' {answer.describe()}; expected a Client fault")


def run(url: str, context: ssl.SSLContext, *, logical_address: str, timeout: float = 60.0,
        out: TextIO = sys.stdout) -> bool:
    """Run every check against the producer at ``url``, print them, and say whether all passed."""
    producer = Producer(url, context, timeout=timeout)
    print(f"ntjp-producer check {url} (logical address {logical_address})", file=out)
    results = Conformance(producer, logical_address).run()
    for result in results:
        mark = {True: "PASS", False: "FAIL", None: "SKIP"}[result.ok]
        print(f"{mark}  {result.name}: {result.detail}", file=out)
        for problem in result.problems[:SHOWN]:
            print(f"        {problem}", file=out)
        if len(result.problems) > SHOWN:
            print(f"        … and {len(result.problems) - SHOWN} more", file=out)
    passed = sum(r.ok is True for r in results)
    ok = passed == len(results)
    verdict = "CONFORMS" if ok else "DOES NOT CONFORM"
    print(f"verdict: {verdict} ({passed} of {len(results)} checks passed)", file=out, flush=True)
    return ok
