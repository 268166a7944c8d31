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


def _bare_worker():
    """A ProducerWorker with only what the hand-over and the quit handler touch."""
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from ntjp_producer.transport.worker import ProducerWorker

    worker = object.__new__(ProducerWorker)
    worker.tpool, worker.alive = ThreadPoolExecutor(1), True
    worker.cfg = SimpleNamespace(worker_int=lambda _worker: None)
    return worker


def _exit_codes(act, seconds: float = 5.0) -> list:
    """``act`` run on a thread standing for the worker's main one: the exit codes it raised, or an
    assertion if it was still waiting after ``seconds``."""
    import threading

    codes = []

    def main_thread():
        try:
            act()
        except SystemExit as exc:
            codes.append(exc.code)

    thread = threading.Thread(target=main_thread, daemon=True)
    thread.start()
    thread.join(timeout=seconds)
    assert not thread.is_alive(), "the quit handler waits for a lock its own thread holds"
    return codes


def test_the_quit_signal_during_a_hand_over_does_not_hang_the_worker():
    """SIGQUIT landing while the worker's main thread hands a request to its thread pool (inside
    ``submit``, holding the pool's lock, maybe starting a pool thread): the worker still exits at
    once, after the hand-over, with the request handed over and every pool thread one the exit
    stops; it used to hang until the master killed it (a Ctrl-C took 10 s, about one time in seven
    on a busy machine)."""
    from concurrent.futures import thread as pool_threads
    from types import SimpleNamespace

    worker = _bare_worker()
    worker.handle = lambda conn: "answered"
    handed = []
    worker.method_queue = SimpleNamespace(defer=lambda _finish, _conn, future: handed.append(future))
    submit = worker.tpool.submit

    def submit_interrupted(*args):
        with worker.tpool._shutdown_lock:  # where submit holds it when the signal lands
            worker.handle_quit(signal.SIGQUIT, None)
        return submit(*args)

    worker.tpool.submit = submit_interrupted
    codes = _exit_codes(lambda: worker.enqueue_req(SimpleNamespace()))
    assert codes == [0] and worker.alive is False, "the worker exits once the request is handed over"
    assert [f.result(timeout=5) for f in handed] == ["answered"]
    assert set(worker.tpool._threads) <= set(pool_threads._threads_queues), "a pool thread the exit would wait for"
    worker.tpool.shutdown()


def test_a_worker_told_to_stop_while_it_boots_stops():
    """A stop that reaches a new worker before its own signal handlers are in place (it still runs
    the master's, which queue the signal where nobody reads it) is held and acted on once they are:
    the worker exits instead of serving on until the master kills it. In a process of its own, as
    signal handlers are the process's."""
    import subprocess
    import sys

    code = """
import os, signal, time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from ntjp_producer.transport.worker import ProducerWorker
worker = object.__new__(ProducerWorker)
worker.tpool, worker.alive, worker.PIPE = ThreadPoolExecutor(1), True, os.pipe()
for fd in worker.PIPE:
    os.set_blocking(fd, False)
worker.cfg = SimpleNamespace(worker_int=lambda _worker: None)
worker.hold_stop_signals()
os.kill(os.getpid(), signal.SIGQUIT)  # the master's quick stop, while the worker boots
time.sleep(0.2)
print("held", worker._held, flush=True)
worker.init_signals()
time.sleep(2)
print("served on", flush=True)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.split("\n")[:2] == [f"held [{int(signal.SIGQUIT)}]", ""], (done.stdout, done.stderr)
    assert done.returncode == 0, done.stderr


def test_a_second_quit_signal_during_the_first_does_not_hang_the_worker():
    """A Ctrl-C gives each worker two signals: SIGINT from the terminal, SIGQUIT from the master.
    The second can land while the first is being handled, wherever that holds the thread pool's
    lock; the handler must not wait for it (``make run`` took 10 s to stop after Ctrl-C)."""
    worker = _bare_worker()

    def second_signal():
        with worker.tpool._shutdown_lock:  # where a pool shutdown in the first handler holds it
            worker.handle_quit(signal.SIGINT, None)

    assert _exit_codes(second_signal) == [0]
    worker.handle_quit(signal.SIGQUIT, None)  # once exiting, another stop signal is let pass, not raised
    worker.tpool.shutdown()
