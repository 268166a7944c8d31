"""A wheel built from the tree, installed into a fresh virtualenv, serves: the contract files ship
inside the package, nothing is read from the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import pytest
import requests

from tests.helpers import LATEST, envelope, free_port

pytestmark = [pytest.mark.slow, pytest.mark.once]
REPO = Path(__file__).resolve().parents[1]


def test_a_wheel_serves_get_versions_from_a_fresh_virtualenv(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
                   check=True, timeout=300)  # fmt: skip
    (wheel,) = dist.glob("ntjp_producer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ntjp_producer/contract/wsdl/GetVersionsInteraction_1.0_RIVTABP21.wsdl" in names
    assert any(n.startswith("ntjp_producer/contract/schemas/core_components/") for n in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    # This environment's pip installs into the new one (pip --python), with the dependencies from the
    # package index (pip's cache makes that quick after the first time).
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", str(wheel)], check=True,
                   timeout=900)  # fmt: skip
    work = tmp_path / "elsewhere"  # not the source tree: nothing may be found there by accident
    work.mkdir()
    cli = [str(env_dir / "bin" / "ntjp-producer")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NTJP_", "PYTHON", "PROMETHEUS"))}
    run = {"cwd": work, "env": env, "check": True, "timeout": 300, "capture_output": True}
    subprocess.run([*cli, "certs", "init", "tls"], **run)
    url = f"sqlite:///{work / 'fmb.db'}"
    subprocess.run([*cli, "fmb", "import", str(LATEST), "--db", url], **run)
    port = free_port()
    server = subprocess.Popen([*cli, "serve", "--service", "fmb", "--db", url, "--tls-dir", "tls",
                               "--bind", f"127.0.0.1:{port}", "--ops-bind", "", "--workers", "1"],
                              cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        session = requests.Session()
        session.trust_env = False
        session.verify = str(work / "tls" / "ca.pem")
        session.cert = (str(work / "tls" / "clients" / "region.pem"), str(work / "tls" / "clients" / "region-key.pem"))
        deadline, reply = time.monotonic() + 60, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                reply = session.post(f"https://127.0.0.1:{port}/GetVersions/1/rivtabp21",
                                     data=envelope("GetVersions").encode(),
                                     headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=5)  # fmt: skip
                break
            except requests.ConnectionError:
                time.sleep(0.3)
        assert reply is not None, server.stderr.read().decode()[-2000:] if server.poll() is not None else "no answer"
        assert reply.status_code == 200 and b"fmbSenasteVersionsuppdatering" in reply.content
        wsdl = session.get(f"https://127.0.0.1:{port}/GetVersions/1/rivtabp21?wsdl", timeout=5)
        assert wsdl.status_code == 200 and b"GetVersionsResponderInterface" in wsdl.content
    finally:
        server.terminate()
        server.wait(timeout=30)
