"""Stopping a node: SIGTERM drains it first (health says so, answers close their connections), then
it finishes what is in flight and exits; SIGINT (Ctrl-C) stops it at once."""

from __future__ import annotations

import http.client
import json
import signal
import ssl
import time
from pathlib import Path

import pytest
import requests

from tests.helpers import envelope, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.once]


def _connection(server) -> http.client.HTTPSConnection:
    t = server.tls_dir
    ctx = ssl.create_default_context(cafile=str(t / "ca.pem"))
    ctx.load_cert_chain(str(t / "clients" / "region.pem"), str(t / "clients" / "region-key.pem"))
    host, port = server.base_url.removeprefix("https://").split(":")
    return http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)


def _call(conn) -> http.client.HTTPResponse:
    conn.request("POST", "/GetVersions/1/rivtabp21", body=envelope("GetVersions").encode(),
                 headers={"Content-Type": "text/xml; charset=utf-8"})  # fmt: skip
    reply = conn.getresponse()
    reply.read()
    return reply


def _metrics_dir(server) -> Path:
    """The folder this run's workers keep their Prometheus files in, as the master logged it."""
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
    (path,) = [line["path"] for line in lines if line.get("message") == "metrics folder for this run"]
    return Path(path)


def test_sigterm_drains_then_stops(latest_db, tls_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NTJP_DRAIN_SECONDS", "3")
    server = start_server(latest_db, tls_dir, tmp_path / "server.log")
    try:
        metrics = _metrics_dir(server)
        assert metrics.is_dir() and metrics.name.startswith("ntjp-metrics-")
        conn = _connection(server)
        assert _call(conn).getheader("Connection") != "close"  # kept alive while serving
        assert requests.get(f"{server.ops_url}/health", timeout=5).status_code == 200

        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        health = requests.get(f"{server.ops_url}/health", timeout=5)
        assert (health.status_code, health.json()) == (503, {"status": "draining"})
        reply = _call(conn)  # the kept-alive connection is still answered, and told to go
        assert reply.status == 200 and reply.getheader("Connection") == "close"
        fresh = _connection(server)
        assert _call(fresh).status == 200, "new connections are still answered while draining"
        assert server.process.poll() is None

        server.process.wait(timeout=20)
        took = time.monotonic() - signalled
        assert 3 <= took < 15, took
        assert server.process.returncode == 0
        assert not metrics.exists(), "the run's temporary metrics folder is removed on exit"
    finally:
        stop_server(server)


def test_sigint_stops_at_once(latest_db, tls_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NTJP_DRAIN_SECONDS", "30")
    server = start_server(latest_db, tls_dir, tmp_path / "server.log")
    try:
        signalled = time.monotonic()
        metrics = _metrics_dir(server)
        server.process.send_signal(signal.SIGINT)
        server.process.wait(timeout=20)
        assert time.monotonic() - signalled < 5
        assert not metrics.exists()
    finally:
        stop_server(server)
