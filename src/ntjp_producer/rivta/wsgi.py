"""The RIV-TA layer in front of every contract adapter.

Every request passes the same checks, in this order, before a contract adapter sees it:
size limit, Content-Type, safe parsing (no DTD, no entities, bounded depth), SOAP 1.1 envelope
(SOAP 1.2 is a VersionMismatch), the LogicalAddress header (one of the producer's own, for every
contract but PingForConfiguration), the request element of this endpoint's contract, and validation
against the contract's responder schema. For a contract with a reader, bytes that passed all that
before are known to pass again (``rivta/questions.py``). Each refusal is a SOAP 1.1
fault (HTTP 500) that says what was wrong; no exception ever reaches the caller as a stack trace.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs

from lxml import etree

from ntjp_producer import logs, ns, refusals
from ntjp_producer.rivta import calls, faults, loader
from ntjp_producer.rivta.calls import Call
from ntjp_producer.rivta.contracts import Contract
from ntjp_producer.rivta.faults import CLIENT, SERVER, VERSION_MISMATCH, RivtaFault, envelope
from ntjp_producer.rivta.observation import OUTCOMES, Observation, Observer
from ntjp_producer.rivta.questions import UNSEEN, Questions

log = logging.getLogger(__name__)

CORRELATION_HEADER = "x-skltp-correlation-id"
_CORRELATION_ENV = "HTTP_" + CORRELATION_HEADER.upper().replace("-", "_")
_XML = "text/xml; charset=utf-8"
_ENVELOPE11, _ENVELOPE12 = f"{{{ns.SOAP11_ENV}}}Envelope", f"{{{ns.SOAP12_ENV}}}Envelope"
_HEADER, _BODY = f"{{{ns.SOAP11_ENV}}}Header", f"{{{ns.SOAP11_ENV}}}Body"
_LOGICAL_ADDRESS = f"{{{ns.REGISTRY}}}LogicalAddress"


def sent_correlation_id(environ) -> str | None:
    """The correlation id header as sent (bounded), whoever sent it."""
    return (environ.get(_CORRELATION_ENV) or "").strip()[:128] or None


def correlation_id_of(environ) -> str:
    """The platform's correlation id when it sent one; else a new one. A direct consumer's header is
    not taken as the call's id (anyone could reuse another call's): it is logged and audited beside it."""
    sent = sent_correlation_id(environ)
    return sent if sent and environ.get("ntjp.via_platform") else str(uuid.uuid4())


class RivtaApplication:
    def __init__(
        self,
        contracts: Iterable[Contract],
        *,
        logical_addresses: Iterable[str],
        max_body_bytes: int,
        authorise: Callable[[dict, Contract], str | None] | None = None,
        audit: Callable[[Call, str], None] | None = None,
        service: str = "",
        observe: Observer | None = None,
        inject_faults: bool = False,
    ) -> None:
        """``authorise`` returns the caller's consumer type or raises AccessDenied, before the body
        is read; ``audit`` records every SOAP call, whatever its outcome, before the answer leaves,
        and if it fails the answer is withheld (fail closed)."""
        self.contracts = {c.path: c for c in contracts}
        self.logical_addresses = frozenset(logical_addresses)
        self.max_body_bytes = max_body_bytes
        self.authorise = authorise
        self.audit = audit
        self.service = service
        self.observe = observe
        self.questions = Questions()
        # Test and drill only: honour x-ntjp-inject-delay-ms / x-ntjp-inject-fault. Off in production.
        self.inject_faults = inject_faults

    # -- WSGI entry ---------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        cid = correlation_id_of(environ)
        token = logs.correlation_id.set(cid)
        started = time.perf_counter()
        contract = self.contracts.get(environ.get("PATH_INFO", ""))
        call = _open_call(contract, environ, cid)
        call_token = calls.current.set(call)
        status, headers, body, outcome = "500 Internal Server Error", [], b"", "server_fault"
        try:
            status, headers, body, outcome = self._answer(contract, environ, cid)
            if call is not None and self.audit is not None:
                status, headers, body, outcome = self._audited(call, cid, (status, headers, body, outcome))
        finally:
            _log_call(environ, call, status, outcome, started)
            calls.current.reset(call_token)
            logs.correlation_id.reset(token)
        start_response(status, [*headers, ("Content-Length", str(len(body))), (CORRELATION_HEADER, cid)])
        if self.observe is None or environ.get("REQUEST_METHOD") != "POST":
            return [body]
        return self._measured(body, contract, call, outcome, environ, started)

    # -- the concerns of one call, in the order they happen ------------------------------------------

    def _answer(self, contract: Contract | None, environ, cid: str) -> tuple[str, list, bytes, str]:
        """The answer and its outcome; every refusal a SOAP fault, nothing raised past here."""
        try:
            return self._handle(contract, environ)
        except refusals.Refused as refusal:  # the domain's, or the plumbing's own AccessDenied
            answer = faults.answer_for(refusal)
            return (*self._fault(answer.fault, str(refusal)), answer.outcome)
        except RivtaFault as fault:
            return (*self._fault(fault.code, fault.message), "client_fault" if fault.code != SERVER else "server_fault")
        except Exception:
            log.exception("unhandled error")
            return (*self._fault(SERVER, f"Internal error; correlation id {cid}"), "server_fault")

    def _audited(self, call: Call, cid: str, answer: tuple[str, list, bytes, str]) -> tuple[str, list, bytes, str]:
        """Fail closed: the answer leaves only once its audit record is written; else a Server fault."""
        try:
            self.audit(call, answer[3])
        except Exception as exc:
            # Not log.exception: the database's message may quote the record, i.e. personal data.
            log.error("audit record could not be written; the answer is withheld",
                      extra={"error": logs.describe_error(exc)})  # fmt: skip
            message = f"The call could not be audited, so it was not answered; correlation id {cid}"
            return (*self._fault(SERVER, message), "server_fault")
        return answer

    def _measured(self, body: bytes, contract: Contract | None, call: Call | None, outcome: str, environ,
                  started: float) -> Measured:  # fmt: skip
        """The body, measured to the end of the answer (at ``close``) from ``measured_since``."""
        observation = {
            "service": self.service,
            "contract": contract.name if contract is not None else "unknown",
            "outcome": outcome if outcome in OUTCOMES else "client_fault",
            "consumer_hsaid": environ.get("ntjp.consumer_hsaid"),
            "consumer_type": call.consumer_type if call else None,
            "via_platform": bool(environ.get("ntjp.via_platform")),
        }
        return Measured(body, measured_since(environ, started), observation, self.observe)

    # -- routing ------------------------------------------------------------------------------

    def _handle(self, contract: Contract | None, environ) -> tuple[str, list, bytes, str]:
        method = environ.get("REQUEST_METHOD", "GET")
        if contract is None:
            path = environ.get("PATH_INFO", "")
            body = (f"No service at {path}. Services: " + ", ".join(sorted(self.contracts)) + "\n").encode()
            return "404 Not Found", [("Content-Type", "text/plain; charset=utf-8")], body, "not_found"
        if method in ("GET", "HEAD"):
            return self._metadata(contract, environ)
        if method != "POST":
            raise RivtaFault(CLIENT, f"HTTP method {method} is not supported; SOAP requests are POSTed")
        return self._call(contract, environ)

    def _metadata(self, contract: Contract, environ) -> tuple[str, list, bytes, str]:
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        base = base_url(environ)
        if "wsdl" in query or "WSDL" in query:
            return "200 OK", [("Content-Type", _XML)], contract.wsdl(base), "metadata"
        if "xsd" in query:
            xsd = contract.xsd(query["xsd"][0], base)
            if xsd is not None:
                return "200 OK", [("Content-Type", _XML)], xsd, "metadata"
            return "404 Not Found", [("Content-Type", "text/plain")], b"No such schema\n", "not_found"
        body = f"{contract.name} (RIV-TA rivtabp21). WSDL: {base}{contract.path}?wsdl\n".encode()
        return "200 OK", [("Content-Type", "text/plain; charset=utf-8")], body, "metadata"

    # -- a SOAP call --------------------------------------------------------------------------

    def _call(self, contract: Contract, environ) -> tuple[str, list, bytes, str]:
        if self.authorise is not None:
            call = calls.current.get()
            consumer_type = self.authorise(environ, contract)
            if call is not None:
                call.consumer_type = consumer_type
        content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        if content_type == "application/soap+xml":
            raise RivtaFault(VERSION_MISMATCH, "SOAP 1.2 is not supported; RIV-TA uses SOAP 1.1 (text/xml)")
        if content_type != "text/xml":
            raise RivtaFault(CLIENT, f"Content-Type must be text/xml for SOAP 1.1, not '{content_type or 'none'}'")
        raw = self._read_body(environ)
        if contract.reader is not None:
            question = self.questions.get(contract.path, raw)
            if question is UNSEEN:
                question = contract.reader(self._checked(contract, environ, raw)[0])
                self.questions.remember(contract.path, raw, question)
            elif self.inject_faults:
                _inject(environ)
            return "200 OK", [("Content-Type", _XML)], _envelope(contract.handler(question)), "ok"
        request, data = self._checked(contract, environ, raw)
        if contract.handler is not None:
            return "200 OK", [("Content-Type", _XML)], _envelope(contract.handler(request)), "ok"
        return self._dispatch(contract, environ, data)

    def _checked(self, contract: Contract, environ, raw: bytes) -> tuple[etree._Element, bytes]:
        """The request element, once the body has parsed safely, its envelope, address and element
        are this endpoint's and it is valid against the contract; and the body as UTF-8."""
        try:
            # UTF-8 from here on, whatever the consumer's encoding: the adapters parse this, not the raw body.
            data = loader.decode(raw)
            root = loader.parse_utf8(data)
        except loader.UnsafeXml as exc:
            raise RivtaFault(CLIENT, str(exc)) from None
        if self.inject_faults:  # a slow or failing producer, after the request is in: the producer's time
            _inject(environ)
        request = self._check_envelope(contract, root)
        self._validate(contract, request)
        return request, data

    def _read_body(self, environ) -> bytes:
        limit = self.max_body_bytes
        try:
            declared = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            raise RivtaFault(CLIENT, "Invalid Content-Length") from None
        if declared > limit:
            raise RivtaFault(CLIENT, f"Request body larger than {limit} bytes")
        stream = environ["wsgi.input"]
        try:
            data = stream.read(declared if declared >= 0 else limit + 1)
        except Exception as exc:  # broken chunked framing, a body shorter than declared, too slow
            raise RivtaFault(CLIENT, f"The request body could not be read: {_reason(exc)}") from None
        finally:
            # Latency is ours from here: the time a client takes to upload is not the producer's.
            environ["ntjp.request_read_at"] = time.perf_counter()
        if len(data) > limit:
            raise RivtaFault(CLIENT, f"Request body larger than {limit} bytes")
        if not data:
            raise RivtaFault(CLIENT, "Empty request body")
        return data

    def _check_envelope(self, contract: Contract, root: etree._Element) -> etree._Element:
        if root.tag == _ENVELOPE12:
            raise RivtaFault(VERSION_MISMATCH, "SOAP 1.2 envelope; RIV-TA uses SOAP 1.1")
        if root.tag != _ENVELOPE11:
            raise RivtaFault(VERSION_MISMATCH, "Not a SOAP 1.1 envelope")
        header_tag, body_tag = _HEADER, _BODY
        parts = [c for c in root if isinstance(c.tag, str)]
        tags = [c.tag for c in parts]
        if body_tag not in tags:
            raise RivtaFault(CLIENT, "SOAP envelope has no Body")
        if tags not in ([body_tag], [header_tag, body_tag]):
            raise RivtaFault(CLIENT, "A SOAP envelope holds an optional Header, then one Body, and nothing else")
        if (root.text or "").strip() or any((c.tail or "").strip() for c in parts):
            raise RivtaFault(CLIENT, "A SOAP envelope holds no text outside its Header and Body")
        header = parts[0] if len(parts) == 2 else None
        body = parts[-1]
        if contract.addressed:
            self._check_logical_address(header)
        children = [c for c in body if isinstance(c.tag, str)]
        if len(children) != 1:
            raise RivtaFault(CLIENT, "SOAP Body must hold exactly one request element")
        request = children[0]
        if request.tag != contract.request_element:
            name = etree.QName(request).localname
            raise RivtaFault(
                CLIENT, f"Unknown operation '{name}' at {contract.path}; this endpoint answers {contract.name}"
            )
        return request

    def _check_logical_address(self, header: etree._Element | None) -> None:
        addresses = [] if header is None else header.findall(_LOGICAL_ADDRESS)
        if not addresses or not (addresses[0].text or "").strip():
            raise RivtaFault(CLIENT, f"LogicalAddress header ({_LOGICAL_ADDRESS}) is missing")
        if len(addresses) > 1:
            raise RivtaFault(CLIENT, "More than one LogicalAddress header")
        address = addresses[0].text.strip()
        if address not in self.logical_addresses:
            raise RivtaFault(CLIENT, f"LogicalAddress '{address}' is not served by this producer")

    def _validate(self, contract: Contract, request: etree._Element) -> None:
        if not contract.schema.validate(request):
            error = contract.schema.error_log.last_error
            message = error.message if error is not None else "invalid"
            raise RivtaFault(CLIENT, f"Request does not conform to the {contract.name} schema: {message}")

    def _dispatch(self, contract: Contract, environ, data: bytes) -> tuple[str, list, bytes, str]:
        inner = dict(environ)
        inner["wsgi.input"] = io.BytesIO(data)
        inner["CONTENT_LENGTH"] = str(len(data))
        inner["CONTENT_TYPE"] = _XML
        inner["QUERY_STRING"] = ""
        inner["HTTP_SOAPACTION"] = f'"{contract.soap_action}"'
        captured: dict = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        body = b"".join(contract.wsgi(inner, start_response))
        status = captured.get("status", "500 Internal Server Error")
        if not status.startswith("500"):
            return status, [("Content-Type", _XML)], body, "ok"
        # Spyne answers every fault with 500 (SOAP 1.1); only the fault code tells whose fault it was.
        code = etree.fromstring(body).findtext(f"{{{ns.SOAP11_ENV}}}Body/{{{ns.SOAP11_ENV}}}Fault/faultcode") or ""
        # "Client" or a subcode of it ("Client.XMLSyntaxError"): the consumer's mistake, not ours.
        local = code.rpartition(":")[2]
        outcome = "client_fault" if local == CLIENT or local.startswith(CLIENT + ".") else "server_fault"
        return status, [("Content-Type", _XML)], body, outcome

    def _fault(self, code: str, message: str) -> tuple[str, list, bytes]:
        return "500 Internal Server Error", [("Content-Type", _XML)], envelope(code, message)


def _open_call(contract: Contract | None, environ, cid: str) -> Call | None:
    """The call record of a SOAP request (a POST to a contract's path), for the adapter and the audit."""
    if contract is None or environ.get("REQUEST_METHOD") != "POST":
        return None
    via_platform = bool(environ.get("ntjp.via_platform"))
    return Call(
        contract.name,
        cid,
        # A platform call without the original-consumer header is the platform's own: audited
        # under its HSA-id, so `hosp audit --consumer` finds it.
        environ.get("ntjp.consumer_hsaid") or (environ.get("ntjp.platform_hsaid") if via_platform else None),
        via_platform,
        environ.get("ntjp.platform_hsaid"),
        consumer_correlation_id=None if via_platform else sent_correlation_id(environ),
    )


def _log_call(environ, call: Call | None, status: str, outcome: str, started: float) -> None:
    """One line per call: who (the TLS peer and the consumer), what, how it ended, how long it took."""
    logs.info(
        log,
        "call",
        {
            "path": environ.get("PATH_INFO", ""),
            "method": environ.get("REQUEST_METHOD"),
            "status": int(status.split()[0]),
            "outcome": outcome,
            "caller_hsaid": environ.get("ntjp.caller_hsaid"),
            "consumer_hsaid": environ.get("ntjp.consumer_hsaid"),
            "via_platform": environ.get("ntjp.via_platform"),
            "consumer_type": call.consumer_type if call else None,
            "consumer_correlation_id": call.consumer_correlation_id if call else None,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


def measured_since(environ, started: float) -> float:
    """Where a call's recorded time begins: when its request had been read, less the time it waited
    for a worker thread before that (``ntjp_waited``, set by the transport). So a call queued behind
    busy threads is recorded with its wait, and a client's own slow upload is not counted."""
    waited = getattr(environ.get("gunicorn.socket"), "ntjp_waited", 0.0)
    return environ.get("ntjp.request_read_at", started) - waited


class Measured:
    """The response body; gunicorn calls ``close`` once it is written, which ends the measurement."""

    def __init__(self, body: bytes, started: float, observation: dict, observe) -> None:
        self.body, self.started, self.observation, self.observe = body, started, observation, observe

    def __iter__(self):
        yield self.body

    def close(self) -> None:
        try:
            self.observe(Observation(seconds=time.perf_counter() - self.started, **self.observation))
        except Exception:  # measuring must never break a call
            log.exception("measurement failed")


def _reason(exc: Exception) -> str:
    """What went wrong with the body, in words, without echoing what the client sent."""
    text = str(exc).strip()
    name = type(exc).__name__
    if name == "RequestTooSlow" or isinstance(exc, TimeoutError):
        return "it was not received within the request deadline"
    if "chunk" in name.lower() or "chunk" in text.lower():
        return "invalid chunked transfer encoding"
    if name == "NoMoreData" or "more data" in text.lower():
        return "the body ended before its declared length"
    return "the connection broke while reading it"


def _inject(environ) -> None:
    delay = environ.get("HTTP_X_NTJP_INJECT_DELAY_MS")
    if delay and delay.isdigit():
        time.sleep(min(int(delay), 60_000) / 1000)
    if environ.get("HTTP_X_NTJP_INJECT_FAULT") == "server":
        raise RivtaFault(SERVER, "Injected server fault (fault injection is switched on)")


def _envelope(response: bytes) -> bytes:
    """A handler's serialised response element (UTF-8) in a SOAP 1.1 envelope."""
    return (
        b"<?xml version='1.0' encoding='UTF-8'?>"
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        + response
        + b"</soapenv:Body></soapenv:Envelope>"
    )


def base_url(environ) -> str:
    scheme = environ.get("wsgi.url_scheme", "https")
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    return f"{scheme}://{host}"
