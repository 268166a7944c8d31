"""The servers the tests start do not take each other's ports.

Two pytest processes (pytest-xdist) start servers side by side. A port asked of the kernel (bind to
port 0, then closed) can be handed out again before the server binds it, and a producer whose
operations listener cannot bind serves on without it: a test's plain-HTTP request to /metrics then
reached the other process's TLS server and was reset (CI, once).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests import helpers


def _ephemeral() -> range:
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    return range(low, high + 1)


def test_ports_are_outside_the_kernels_ephemeral_range_and_never_handed_out_twice():
    ports = [helpers.free_port() for _ in range(20)]
    assert len(set(ports)) == len(ports)
    assert not set(ports) & set(_ephemeral())


def test_each_pytest_process_has_a_block_of_its_own():
    code = "from tests.helpers import free_port; print(free_port())"
    first = {}
    for worker in ("gw0", "gw1", "gw2"):
        env = dict(os.environ, PYTEST_XDIST_WORKER=worker)
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=helpers.REPO, capture_output=True,
                             text=True, check=True)  # fmt: skip
        first[worker] = int(out.stdout)
    blocks = {port // helpers._PORT_BLOCK for port in first.values()}
    assert len(blocks) == 3, first


def test_a_server_whose_operations_listener_cannot_bind_is_refused(latest_db, tls_dir, tmp_path, monkeypatch):
    with socket.socket() as holder:  # something else already listens on the operations port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        ports = iter([helpers.free_port(), taken])
        monkeypatch.setattr(helpers, "free_port", lambda: next(ports))
        with pytest.raises(RuntimeError, match="operations listener not started"):
            helpers.start_server(latest_db, tls_dir, tmp_path / "server.log")
