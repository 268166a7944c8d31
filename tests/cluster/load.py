"""Steady load through HAProxy, counted per call, as the cluster tests need it.

Each client is a thread with its own keep-alive mutual-TLS connection (http.client, as a plain
consumer would use it: a connection the server closed is opened again for the next call, a call
that fails is counted and not retried). Every call is recorded: when it started and ended, what
it asked, the HTTP status, the SOAP fault code, the correlation id the producer answered with, and
a digest of the body.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

FMB = "urn:riv:processmanagement:decisionsupport:insurancemedicinedecisionsupport"
HOSP = "urn:riv:strategicresourcemanagement:persons:healthcareprofessional"
LOGICAL_ADDRESS = "SE2021000555"
_FAULTCODE = re.compile(rb"<faultcode>(?:[^<:]*:)?([^<]*)</faultcode>")


def envelope(responder: str, contract: str, inner: str = "") -> bytes:
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
        f'<LogicalAddress xmlns="urn:riv:itintegration:registry:1">{LOGICAL_ADDRESS}</LogicalAddress></s:Header>'
        f'<s:Body><r:{contract} xmlns:r="{responder}:{contract}Responder:1" xmlns:c="{responder}:1">{inner}'
        f"</r:{contract}></s:Body></s:Envelope>"
    ).encode()


@dataclass
class Result:
    kind: str
    started: float
    ended: float
    status: int | None  # None: no HTTP answer at all (connection refused, reset, timed out)
    fault: str | None
    correlation_id: str | None
    digest: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Job:
    kind: str  # a name for the figures: "fmb", "hosp-get", "hosp-search"
    url: str  # https://host:port
    contract: str
    bodies: list[bytes]
    client: str = "region"


class Load:
    """``with Load(jobs, tls_dir) as load: ...``; ``load.results`` afterwards."""

    def __init__(self, jobs: list[Job], tls_dir: Path, *, timeout: float = 20.0) -> None:
        self.jobs, self.tls_dir, self.timeout = jobs, Path(tls_dir), timeout
        self.results: list[Result] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(job,), daemon=True) for job in jobs]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)

    def _context(self, client: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.tls_dir / "ca.pem"))
        ctx.load_cert_chain(str(self.tls_dir / "clients" / f"{client}.pem"),
                            str(self.tls_dir / "clients" / f"{client}-key.pem"))  # fmt: skip
        return ctx

    def _run(self, job: Job) -> None:
        host, port = job.url.removeprefix("https://").rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), context=self._context(job.client), timeout=self.timeout)
        path = f"/{job.contract}/1/rivtabp21"
        i = 0
        while not self._stop.is_set():
            body = job.bodies[i % len(job.bodies)]
            i += 1
            started = time.monotonic()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": "text/xml; charset=utf-8"})
                reply = conn.getresponse()
                data = reply.read()
                fault = _FAULTCODE.search(data)
                result = Result(job.kind, started, time.monotonic(), reply.status,
                                fault.group(1).decode() if fault else None, reply.getheader("x-skltp-correlation-id"),
                                hashlib.sha256(data).hexdigest())  # fmt: skip
                if reply.will_close:
                    conn.close()  # http.client opens a new one for the next call
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                result = Result(job.kind, started, time.monotonic(), None, None, None, None, type(exc).__name__)
                time.sleep(0.05)
            with self._lock:
                self.results.append(result)
        conn.close()

    # -- figures ------------------------------------------------------------------------------------

    def between(self, start: float, end: float) -> list[Result]:
        with self._lock:
            return [r for r in self.results if start <= r.started < end]

    def wait_for_calls(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.results) < n and time.monotonic() < deadline:
            time.sleep(0.1)


def figures(results: list[Result]) -> str:
    by_kind: dict[str, list[Result]] = {}
    for r in results:
        by_kind.setdefault(r.kind, []).append(r)
    lines = []
    for kind, rs in sorted(by_kind.items()):
        failed = [r for r in rs if not r.ok]
        lines.append(f"{kind:12s} calls {len(rs):6d}  failed {len(failed):4d} ({len(failed) / len(rs):.2%})")
    return "\n".join(lines)
