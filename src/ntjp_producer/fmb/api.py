"""The FMB JSON API: Socialstyrelsen's open FMB API, served from the same domain as the SOAP services.

Webcert and journal systems poll ``/fmb/typfall?inlinehtmlmarkup=true`` and
``/fmb/forsakringsmedicinskdiagnosinformation?inlinehtmlmarkup=true``; a region can point them
here instead. Each item's ``attributes`` are given back exactly as imported, so a client written
for the open API reads them unchanged; the producer's own version, validity and active state (the
ones GetFmb answers with) travel beside them in the item's ``meta``.

The data changes only on import, so every answer carries an ETag and Last-Modified, and a poller
that already has the data gets 304 without a body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, quote

from ntjp_producer import clock, logs, refusals
from ntjp_producer.fmb.models import DIAGNOSINFORMATION, TYPFALL
from ntjp_producer.fmb.openapi import document as openapi_document
from ntjp_producer.fmb.services import Dokument, Dokumentsamling, FmbService
from ntjp_producer.fmb.text import html_to_text
from ntjp_producer.rivta import faults
from ntjp_producer.rivta.observation import Observer
from ntjp_producer.rivta.wsgi import CORRELATION_HEADER, Measured, base_url, correlation_id_of, measured_since

log = logging.getLogger(__name__)

PREFIX = "/fmb"
# Path segment -> (stored kind, JSON:API type, the relationships the open API always carried).
COLLECTIONS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "typfall": (TYPFALL, "typfall", {"forsakringsmedicinskdiagnosinformation": None}),
    "forsakringsmedicinskdiagnosinformation": (
        DIAGNOSINFORMATION,
        "forsakringsmedicinskdiagnosinformation",
        {"typfall": []},
    ),
}
PARAMETERS = ("inlinehtmlmarkup", "diagnoskod", "avenejaktiva")
# Read-mostly public data: caches may keep it a while, then must ask again (cheaply, with the ETag).
CACHE_CONTROL = "public, max-age=300, must-revalidate"
_JSON = "application/json; charset=utf-8"


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or []


_REASONS = {200: "OK", 304: "Not Modified", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed"}
_REASONS |= {500: "Internal Server Error", 503: "Service Unavailable"}


class FmbJsonApi:
    """WSGI application for everything under ``/fmb/``."""

    def __init__(self, fmb: FmbService, *, base_url: str | None = None, observe: Observer | None = None,
                 service: str = "fmb") -> None:  # fmt: skip
        """``observe`` measures each call like the RIV-TA plumbing's (route as the contract: ``ROUTES``)."""
        self.fmb = fmb
        self.base_url = base_url.rstrip("/") if base_url else None
        self.observe = observe
        self.service = service

    def __call__(self, environ, start_response):
        cid = correlation_id_of(environ)
        token = logs.correlation_id.set(cid)
        started = time.perf_counter()
        status, headers, body = 500, [], b""
        try:
            status, headers, body = self._handle(environ)
        except ApiError as exc:
            status, headers, body = self._error(exc)
        except refusals.Refused as refusal:
            answer = faults.answer_for(refusal)
            status, headers, body = self._error(ApiError(answer.status, answer.title, str(refusal), [*answer.headers]))
        except Exception:
            log.exception("unhandled error")
            status, headers, body = self._error(
                ApiError(500, "Internal Server Error", f"Internal error; correlation id {cid}")
            )
        finally:
            logs.info(
                log,
                "call",
                {
                    "path": environ.get("PATH_INFO", ""),
                    "method": environ.get("REQUEST_METHOD"),
                    "status": status,
                    "outcome": "ok" if status < 400 else ("client_error" if status < 500 else "server_error"),
                    "caller_hsaid": environ.get("ntjp.caller_hsaid"),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            logs.correlation_id.reset(token)
        headers = [*headers, (CORRELATION_HEADER, cid)]
        if status != 304:
            headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {_REASONS.get(status, '')}".strip(), headers)
        sent = b"" if environ.get("REQUEST_METHOD") == "HEAD" or status == 304 else body
        if self.observe is None:
            return [sent]
        observation = {
            "service": self.service,
            "contract": route_of(environ.get("PATH_INFO", "")),
            "outcome": "ok" if status < 400 else ("client_fault" if status < 500 else "server_fault"),
            "consumer_hsaid": environ.get("ntjp.consumer_hsaid"),
            "consumer_type": None,
            "via_platform": bool(environ.get("ntjp.via_platform")),
        }
        return Measured(sent, measured_since(environ, started), observation, self.observe)

    # -- routing ------------------------------------------------------------------------------

    def _handle(self, environ) -> tuple[int, list[tuple[str, str]], bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            raise ApiError(405, "Method Not Allowed", f"{method} is not allowed; this API is read-only",
                           [("Allow", "GET, HEAD")])
        path = environ.get("PATH_INFO", "")
        parts = _segments(path)
        base = self.base_url or base_url(environ)
        if parts == ["openapi.json"]:
            _only_parameters(environ, ())
            return 200, [("Content-Type", _JSON)], _dump(openapi_document(base))
        if not parts or parts[0] not in COLLECTIONS or len(parts) > 2 or (len(parts) == 2 and not parts[1]):
            raise ApiError(404, "Not Found", f"No resource at {path}; see {base}{PREFIX}/openapi.json")
        query = _only_parameters(environ, PARAMETERS)
        markup = _boolean(query, "inlinehtmlmarkup")
        aven_ej_aktiva = _boolean(query, "avenejaktiva")
        diagnoskoder = [k for v in query.get("diagnoskod", []) for k in v.split(",")]
        if any(not k.strip() for k in diagnoskoder):
            raise ApiError(400, "Bad Request", "diagnoskod must not be empty")
        kind, type_, relationships = COLLECTIONS[parts[0]]
        item_id = parts[1] if len(parts) == 2 else None
        samling = self.fmb.dokument(  # its refusals are answered through the one table, as on SOAP
            kind,
            diagnoskoder=diagnoskoder or None,
            ids=[item_id] if item_id is not None else None,
            aven_ej_aktiva=aven_ej_aktiva or item_id is not None,
        )
        if item_id is not None:
            if not samling.dokument:
                raise ApiError(404, "Not Found", f"No {type_} with id '{item_id}'")
            if not samling.dokument[0].aktiv and not aven_ej_aktiva:
                raise ApiError(
                    404, "Not Found", f"{type_} '{item_id}' is no longer active; ask with avenejaktiva=true to see it"
                )

        etag = _etag(samling, environ.get("QUERY_STRING", ""))
        modified = samling.last_modified.astimezone(dt.UTC).replace(microsecond=0)
        headers = [
            ("ETag", etag),
            ("Last-Modified", format_datetime(modified, usegmt=True)),
            ("Cache-Control", CACHE_CONTROL),
        ]
        if _not_modified(environ, etag, modified):
            return 304, headers, b""
        self_link = base + path + (("?" + environ["QUERY_STRING"]) if environ.get("QUERY_STRING") else "")
        resources = [self._resource(d, type_, relationships, base, parts[0], markup) for d in samling.dokument]
        doc = {
            "meta": _meta(samling),
            "links": {"self": self_link},
            "data": resources[0] if item_id is not None else resources,
        }
        return 200, [("Content-Type", _JSON), *headers], _dump(doc)

    def _resource(
        self, d: Dokument, type_: str, relationships: dict, base: str, segment: str, markup: bool
    ) -> dict[str, Any]:
        return {
            "links": {"self": f"{base}{PREFIX}/{segment}/{quote(d.id, safe='')}"},
            "type": type_,
            "id": d.id,
            "attributes": d.attributes if markup else _plain(d.attributes),
            "relationships": relationships,
            "meta": {
                "version": d.version,
                "aktiv": d.aktiv,
                "giltighetsperiod": {
                    "start": d.giltighet.start.isoformat(),
                    "slut": d.giltighet.slut.isoformat() if d.giltighet.slut else None,
                },
                "senastAndrad": clock.stamp(d.senast_andrad),
            },
        }

    def _error(self, exc: ApiError) -> tuple[int, list[tuple[str, str]], bytes]:
        body = {"errors": [{"status": str(exc.status), "title": exc.title, "detail": exc.detail}]}
        return exc.status, [("Content-Type", _JSON), ("Cache-Control", "no-store"), *exc.headers], _dump(body)


# -- helpers ---------------------------------------------------------------------------------------


# The JSON API's routes, as the "contract" its calls are measured under (a bounded set: never the path).
ROUTES = ("fmb/typfall", "fmb/forsakringsmedicinskdiagnosinformation", "fmb/openapi.json", "fmb/other")


def _segments(path: str) -> list[str]:
    """``/fmb/typfall/abc`` -> ``["typfall", "abc"]``; nothing outside the prefix."""
    return path[len(PREFIX):].strip("/").split("/") if path.startswith(PREFIX + "/") else []


def route_of(path: str) -> str:
    parts = _segments(path)
    route = f"fmb/{parts[0]}" if parts else ""
    return route if route in ROUTES else "fmb/other"


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _meta(samling: Dokumentsamling) -> dict[str, Any]:
    return {
        "version": samling.release_version,
        "buildtimestamp": samling.release_built,
        "senasteVersionsuppdatering": samling.version.senaste_versionsuppdatering,
        "senateAndring": samling.version.senate_andring,
        "count": len(samling.dokument),
    }


def _plain(value: Any) -> Any:
    """The attributes with each ``{"markup": html}`` text replaced by ``{"text": plain}``."""
    if isinstance(value, dict):
        if set(value) == {"markup"} and (value["markup"] is None or isinstance(value["markup"], str)):
            return {"text": html_to_text(value["markup"])}
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _only_parameters(environ, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    try:
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True, strict_parsing=False,
                         errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "Bad Request", "The query string is not UTF-8") from None
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        known = ", ".join(allowed) or "none"
        raise ApiError(400, "Bad Request", f"Unknown parameter '{unknown[0]}'; parameters here: {known}")
    return query


def _boolean(query: dict[str, list[str]], name: str) -> bool:
    values = query.get(name)
    if not values:
        return False
    if len(values) > 1:
        raise ApiError(400, "Bad Request", f"{name} given more than once")
    value = values[0].strip().lower()
    if value not in ("true", "false"):
        raise ApiError(400, "Bad Request", f"{name} must be true or false, not '{values[0][:40]}'")
    return value == "true"


def _etag(samling: Dokumentsamling, query: str) -> str:
    """Changes when an import changes the data or a validity day turns; differs per query."""
    v = samling.version
    digest = hashlib.sha256(query.encode()).hexdigest()[:12]
    return f'"{v.senaste_versionsuppdatering}-{int(samling.last_modified.timestamp())}-{digest}"'


def _not_modified(environ, etag: str, modified: dt.datetime) -> bool:
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or etag in tags
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if since:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError, IndexError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return modified <= when
    return False

