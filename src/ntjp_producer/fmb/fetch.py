"""Fetching an FMB release from Socialstyrelsen's open API (or anything that answers like it).

A release is the two collections, ``{base}/typfall`` and
``{base}/forsakringsmedicinskdiagnosinformation``, asked for with ``inlinehtmlmarkup=true`` as
Webcert asks (the texts as published, HTML and all). Both are written into a folder in the release
format (``fmb/release.py``), so a fetched release goes through exactly the same checks and the same
all-or-nothing import as a folder on disk.

What a nightly job needs from a fetch:

- **Conditional GET.** The ETag and Last-Modified of the last fetch are kept in a small state
  file; when the source says 304 for both collections, nothing is downloaded or imported.
- **Bounded waits.** A connect and read timeout per request, and a size limit per document.
- **Retries with back-off** for what may pass (a refused or reset connection, a timeout, 429, 5xx),
  honouring Retry-After; any other answer (404, 401, a body that is not JSON) fails at once.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from ntjp_producer.fmb.release import FILES

log = logging.getLogger(__name__)

QUERY = "inlinehtmlmarkup=true"
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})


class FetchError(Exception):
    """The release could not be fetched; says which URL and why."""


@dataclass
class Fetched:
    folder: Path | None  # None: the source says nothing changed since the last fetch
    validators: dict[str, dict[str, str]]


def _urls(base: str) -> dict[str, str]:
    base = base.rstrip("/")
    return {filename: f"{base}/{filename.removesuffix('.json')}?{QUERY}" for filename in FILES.values()}


def load_validators(state: Path | None) -> dict[str, dict[str, str]]:
    if state is None or not state.is_file():
        return {}
    try:
        data = json.loads(state.read_text())
    except (OSError, ValueError):
        return {}  # a damaged state file costs one unconditional fetch, nothing more
    return data if isinstance(data, dict) else {}


def save_validators(state: Path, validators: dict[str, dict[str, str]]) -> None:
    state.parent.mkdir(parents=True, exist_ok=True)
    tmp = state.with_suffix(state.suffix + ".new")
    tmp.write_text(json.dumps(validators, indent=2))
    tmp.replace(state)


def fetch_release(
    base: str,
    folder: Path,
    *,
    validators: dict[str, dict[str, str]] | None = None,
    timeout: float = 30.0,
    attempts: int = 5,
    backoff: float = 2.0,
    context: ssl.SSLContext | None = None,
) -> Fetched:
    """Download both collections into ``folder``; ``Fetched.folder`` is None when both were unchanged.

    Raises FetchError when the source cannot be reached or answers something else than a document.
    """
    if not base.startswith(("https://", "http://")):
        raise FetchError(f"{base}: not an http(s) URL")
    validators = validators or {}
    urls = _urls(base)

    def get_all(conditional: bool) -> dict[str, tuple[int, bytes, Message]]:
        return {filename: _get(url, validators.get(url) if conditional else None, timeout, attempts, backoff,
                               context) for filename, url in urls.items()}  # fmt: skip

    # Conditional only as a pair: if either collection changed, both are fetched whole, so the
    # release folder is always one consistent download.
    answers = get_all(conditional=all(url in validators for url in urls.values()))
    unchanged = [filename for filename, (status, _, _) in answers.items() if status == 304]
    if len(unchanged) == len(urls):
        return Fetched(None, {url: validators[url] for url in urls.values()})
    if unchanged:  # one changed, one did not: both again, unconditionally
        answers = get_all(conditional=False)
    bodies = {filename: body for filename, (_, body, _) in answers.items()}
    new_validators = {urls[filename]: _validator(headers) for filename, (_, _, headers) in answers.items()}
    folder.mkdir(parents=True, exist_ok=True)
    for filename, body in bodies.items():
        (folder / filename).write_bytes(body)
    return Fetched(folder, new_validators)


def _validator(headers: Message) -> dict[str, str]:
    """What to ask with next time: the answer's ETag and Last-Modified, those it gave."""
    found = {"etag": headers.get("ETag"), "last_modified": headers.get("Last-Modified")}
    return {k: v for k, v in found.items() if v}


def _get(url: str, validator: dict[str, str] | None, timeout: float, attempts: int, backoff: float,
         context: ssl.SSLContext | None) -> tuple[int, bytes, Message]:  # fmt: skip
    headers = {"Accept": "application/vnd.api+json, application/json", "User-Agent": "ntjp-producer fmb import"}
    if validator:
        if validator.get("etag"):
            headers["If-None-Match"] = validator["etag"]
        if validator.get("last_modified"):
            headers["If-Modified-Since"] = validator["last_modified"]
    delay = backoff
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) checked above
        retry_after: float | None = None
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:  # noqa: S310
                body = reply.read(MAX_DOCUMENT_BYTES + 1)
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise FetchError(f"{url}: larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
                return reply.status, body, reply.headers  # case-insensitive lookups
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return 304, b"", exc.headers
            if exc.code not in _RETRIED_STATUS:
                raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
            reason = f"HTTP {exc.code}"
            retry_after = _retry_after(exc.headers.get("Retry-After"))
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out, TLS
            reason = _reason(exc)
        if attempt == attempts:
            raise FetchError(f"{url}: {reason}, {attempts} attempts") from None
        wait = min(retry_after if retry_after is not None else delay, 300.0)
        log.warning("FMB source did not answer; trying again", extra={"url": url, "reason": reason,
                                                                     "attempt": attempt, "wait_s": wait})  # fmt: skip
        time.sleep(wait)
        delay *= 2
    raise FetchError(f"{url}: no attempts")  # pragma: no cover - attempts >= 1


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


def _reason(exc: Exception) -> str:
    inner = getattr(exc, "reason", None)
    if isinstance(inner, TimeoutError) or isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(inner, ssl.SSLError) or isinstance(exc, ssl.SSLError):
        return f"TLS failed ({inner or exc})"
    if isinstance(inner, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(inner or exc).__name__}: {inner or exc}"
