"""Waiting for a worker thread is the producer's time, and is recorded: 8 calls that queue behind each
other on a worker with one thread are measured as their callers waited, not as the 0.5 s each spent
being handled. (That a client's own slow upload is not recorded: tests/test_xml_input.py.)"""

from __future__ import annotations

import threading
import time

import pytest

from tests.helpers import envelope, metric_sum, metrics_once, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.once]

CALLS, DELAY_MS = 8, 500


def test_calls_queued_behind_each_other_are_recorded_with_their_wait(latest_db, tls_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NTJP_THREADS", "1")
    config = tmp_path / "producer.toml"
    config.write_text("[producer]\ninject_faults = true\n")
    server = start_server(latest_db, tls_dir, tmp_path / "server.log", workers=1, extra=["--config", str(config)])
    try:
        waited: list[float] = []
        start = threading.Barrier(CALLS)

        def caller() -> None:
            session = server.session()
            session.headers["Connection"] = "close"
            body = envelope("GetVersions")
            headers = {"Content-Type": "text/xml; charset=utf-8", "x-ntjp-inject-delay-ms": str(DELAY_MS)}
            start.wait()
            began = time.monotonic()
            response = session.post(f"{server.base_url}/GetVersions/1/rivtabp21", data=body, headers=headers,
                                    timeout=60)  # fmt: skip
            assert response.status_code == 200
            waited.append(time.monotonic() - began)

        threads = [threading.Thread(target=caller) for _ in range(CALLS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(waited) == CALLS
        metrics = metrics_once(server.ops_url, "ntjp_call_duration_seconds_count", CALLS, contract="GetVersions",
                               outcome="ok")  # fmt: skip
        recorded = metric_sum(metrics, "ntjp_call_duration_seconds_sum", contract="GetVersions", outcome="ok")
        handled = CALLS * DELAY_MS / 1000
        print(f"\n{CALLS} queued calls: callers waited {sum(waited):.1f} s in all (longest {max(waited):.1f} s), "
              f"recorded {recorded:.1f} s, handling alone {handled:.1f} s")  # fmt: skip
        assert max(waited) >= (CALLS - 1) * DELAY_MS / 1000, "the calls did queue behind each other"
        # Recorded: each call's wait plus its handling, i.e. what its caller saw, less the TLS handshake
        # and the network; not the 4 s of handling alone.
        assert 0.85 * sum(waited) <= recorded <= sum(waited)
    finally:
        stop_server(server)


def test_a_call_longer_than_the_worker_timeout_is_answered_and_recorded_with_its_time(latest_db, tls_dir, tmp_path):
    """gunicorn's ``timeout`` is the worker's heartbeat, kept by its event loop, not a limit on a call:
    a call that takes longer is neither killed nor lost from the figures (the fine histogram has no
    upper end). Here the timeout is 2 s and the call takes 4 s."""
    config = tmp_path / "producer.toml"
    config.write_text("[producer]\ninject_faults = true\ntimeout = 2\nops_flush_seconds = 1\n")
    server = start_server(latest_db, tls_dir, tmp_path / "server.log", workers=1, extra=["--config", str(config)])
    try:
        session = server.session()
        headers = {"Content-Type": "text/xml; charset=utf-8", "x-ntjp-inject-delay-ms": "4000"}
        response = session.post(f"{server.base_url}/GetVersions/1/rivtabp21", data=envelope("GetVersions"),
                                headers=headers, timeout=60)  # fmt: skip
        assert response.status_code == 200
        metrics = metrics_once(server.ops_url, "ntjp_call_duration_seconds_count", 1, contract="GetVersions",
                               outcome="ok")  # fmt: skip
        recorded = metric_sum(metrics, "ntjp_call_duration_seconds_sum", contract="GetVersions", outcome="ok")
        assert 4.0 <= recorded < 5.0
        assert "WORKER TIMEOUT" not in server.log_path.read_text()
    finally:
        stop_server(server)
