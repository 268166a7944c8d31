"""The import contracts in pyproject.toml (checked by `make lint`) catch an import against the layers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.once

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(src: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT), "--config", str(REPO / "pyproject.toml"), "--no-cache"], cwd=src.parent,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_tree_keeps_its_contracts():
    done = _lint(REPO / "src")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


def test_a_domain_module_importing_the_plumbing_breaks_a_contract(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(REPO / "src" / "ntjp_producer", src / "ntjp_producer",
                    ignore=shutil.ignore_patterns("__pycache__", "contract"))  # fmt: skip
    services = src / "ntjp_producer" / "fmb" / "services.py"
    services.write_text(services.read_text() + "\nfrom ntjp_producer.rivta import faults  # noqa\n")
    done = _lint(src)
    assert done.returncode != 0
    assert "The domain knows no SOAP, plumbing, transport or monitoring BROKEN" in done.stdout
    assert "ntjp_producer.fmb.services -> ntjp_producer.rivta.faults" in done.stdout
