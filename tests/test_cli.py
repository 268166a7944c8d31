"""The command line's answers to an operator's usual mistakes: a clear line and an exit code,
never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import SAMPLE, free_port


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ntjp_producer", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["fmb", "import", "/nonexistent-release", "--db", "sqlite:///{tmp}/a.db"], 3, "is not a folder"),
        (["fmb", "import", str(SAMPLE), "--db", "nonsense"], 2, "database not usable"),
        (["fmb", "import", str(SAMPLE), "--db", "postgresql://nobody@127.0.0.1:{port}/x"], 2, "database not usable"),
        (["serve", "--db", "sqlite:///{tmp}/a.db", "--tls-dir", "/nonexistent-tls"], 2, "ca.pem is missing"),
        (["serve", "--db", "sqlite:///{tmp}/a.db", "--bind", "nonsense"], 2, "--bind must be HOST:PORT"),
        (["db", "upgrade", "--config", "/nonexistent.toml"], 2, "No such file"),
    ],
)
def test_operator_mistakes_get_a_clear_message(tmp_path, args, code, message):
    args = [a.format(tmp=tmp_path, port=free_port()) for a in args]
    result = run(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "Call it with curl" not in result.stdout, "nothing is advertised that does not run"
