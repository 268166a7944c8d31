"""Slow and stalled clients cannot starve the well-behaved ones (FMB and HoSp, default 2 workers).

Held open for the whole run, and reopened whenever the producer drops them: 24 connections that send
the first five bytes of a TLS handshake and stop (no certificate needed), and 8 requests with a valid
certificate that trickle their body a byte at a time. Meanwhile two well-behaved consumers call the
producer, each call on a new connection (so each must get its handshake through). Of the calls begun
in the last 20 s, at least 80 % must be answered within 10 s. The figures are printed (-s shows them).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest
import requests

from tests.helpers import envelope

pytestmark = [pytest.mark.slow, pytest.mark.once]

RUN_SECONDS = 30.0
MEASURED_SECONDS = 20.0
STALLED, TRICKLING = 24, 8


def _port(server) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def _stalled_handshake(port: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"\x16\x03\x01\x00\xc8")  # a TLS record header, and then nothing
                s.settimeout(0.5)
                while not stop.is_set():
                    try:
                        if s.recv(1) == b"":
                            break  # the producer dropped us: come back
                    except TimeoutError:
                        continue
        except OSError:
            time.sleep(0.1)


def _trickling_body(server, path: str, stop: threading.Event) -> None:
    ctx = ssl.create_default_context(cafile=str(server.tls_dir / "ca.pem"))
    ctx.load_cert_chain(
        str(server.tls_dir / "clients" / "region.pem"), str(server.tls_dir / "clients" / "region-key.pem")
    )
    while not stop.is_set():
        try:
            with (
                socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as raw,
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
            ):
                s.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\n"
                    "Content-Length: 100000\r\n\r\n".encode()
                )
                while not stop.is_set():
                    s.sendall(b"<")
                    time.sleep(0.5)
        except OSError:  # cut off at the deadline (or answered): start again
            time.sleep(0.05)


def _well_behaved(server, contract: str, body: str, client: str, stop: threading.Event, results: list) -> None:
    while not stop.is_set():
        begun = time.monotonic()
        session = server.session(client)  # a new connection for every call
        try:
            r = session.post(
                f"{server.base_url}/{contract}/1/rivtabp21",
                data=body.encode(),
                headers={"Content-Type": "text/xml; charset=utf-8"},
                timeout=10,
            )
            ok = r.status_code == 200
        except requests.RequestException:
            ok = False
        finally:
            session.close()
        results.append((begun, time.monotonic() - begun, ok))


def _run(server, contract: str, body: str, client: str) -> tuple[int, int, float]:
    stop = threading.Event()
    results: list = []
    path = f"/{contract}/1/rivtabp21"
    threads = [threading.Thread(target=_stalled_handshake, args=(_port(server), stop)) for _ in range(STALLED)]
    threads += [threading.Thread(target=_trickling_body, args=(server, path, stop)) for _ in range(TRICKLING)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # the attack is in place before anyone well-behaved calls
    started = time.monotonic()
    callers = [
        threading.Thread(target=_well_behaved, args=(server, contract, body, client, stop, results)) for _ in range(2)
    ]
    for t in callers:
        t.start()
    time.sleep(RUN_SECONDS)
    stop.set()
    for t in threads + callers:
        t.join(timeout=15)
    window = [r for r in results if r[0] >= started + RUN_SECONDS - MEASURED_SECONDS]
    answered = sum(1 for _, seconds, ok in window if ok and seconds <= 10)
    slowest = max((seconds for _, seconds, ok in window if ok), default=float("nan"))
    return answered, len(window), slowest


def test_fmb_answers_while_slow_clients_hold_connections(server):
    answered, calls, slowest = _run(server, "GetVersions", envelope("GetVersions"), "region")
    print(
        f"\nFMB GetVersions under {STALLED} stalled handshakes + {TRICKLING} trickling bodies: "
        f"{answered} of {calls} calls in the last {MEASURED_SECONDS:.0f} s answered within 10 s; "
        f"slowest {slowest:.2f} s"
    )
    assert calls >= 10 and answered >= 0.8 * calls


def test_hosp_answers_while_slow_clients_hold_connections(hosp_server, hosp_extract):
    import json

    pnr = json.loads(hosp_extract.read_text().splitlines()[0])["personnummer"]
    body = envelope("GetHealthcareProfessional", f"<r:personalIdentityNumber>{pnr}</r:personalIdentityNumber>")
    answered, calls, slowest = _run(hosp_server, "GetHealthcareProfessional", body, "ivo")
    print(
        f"\nHoSp GetHealthcareProfessional under {STALLED} stalled handshakes + {TRICKLING} trickling bodies: "
        f"{answered} of {calls} calls in the last {MEASURED_SECONDS:.0f} s answered within 10 s; "
        f"slowest {slowest:.2f} s"
    )
    assert calls >= 10 and answered >= 0.8 * calls
