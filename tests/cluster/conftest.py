"""The whole production topology on loopback (deploy/cluster), once for the cluster tests.

Run by ``make test-cluster`` (NTJP_CLUSTER_TESTS=1); the ordinary suite leaves this folder out.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "deploy" / "cluster"
# The load is one consumer asking for thousands of persons a minute: harvest protection would
# rightly refuse it within seconds, so the nodes get a quota the tests do not reach.
ENV = {**os.environ, "NTJP_HARVEST_QUOTA_PERSONS": "100000000"}


class Cluster:
    def __init__(self, root: Path, base_port: int) -> None:
        self.root, self.base_port = root, base_port

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(CLUSTER), "--dir", str(self.root), "--base-port", str(self.base_port), *args],
            capture_output=True, text=True, check=check, timeout=600, env=ENV,
        )  # fmt: skip

    def status(self) -> dict:
        return json.loads(self.run("status", "--json").stdout)

    def component(self, name: str) -> dict:
        return next(c for c in self.status()["components"] if c["name"] == name)


def _base_port() -> int:
    """A base for deploy/cluster's ports (the base plus offsets up to 444) below the ephemeral
    range, where no outgoing connection takes its local port (a fixed base of 48000, inside it,
    once found 48102 held by one), and where nothing listens."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for base in range(low - 1000, 1024, -1000):
        if all(_free(base + offset) for offset in range(445)):
            return base
    raise RuntimeError(f"no 445 free ports below the ephemeral range ({low}-)")


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    root.chmod(0o755)  # the database members run as the postgres user when the tests run as root
    for parent in root.parents:
        if parent == Path("/"):
            break
        if os.geteuid() == 0 and not (parent.stat().st_mode & 0o001):
            parent.chmod(parent.stat().st_mode | 0o001)  # traversable, not readable
    c = Cluster(root, int(os.environ.get("NTJP_CLUSTER_BASE_PORT") or _base_port()))
    up = c.run("up", check=False)
    if up.returncode != 0:
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((root / "logs").glob("*.log")))
        c.run("down", "--keep", check=False)
        pytest.fail(f"deploy/cluster up failed:\n{up.stdout}\n{up.stderr}\n{logs}")
    yield c
    c.run("down", "--keep", check=False)
