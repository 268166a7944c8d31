"""The command line's answers to an operator's usual mistakes: a clear line and an exit code,
never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import SAMPLE, free_port

# Each test names its own SQLite database (or none): the PostgreSQL pass has nothing to add.
pytestmark = pytest.mark.once


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


def test_hosp_serve_and_sla_mistakes_get_a_clear_message(tmp_path, tls_dir):
    db = f"sqlite:///{tmp_path}/h.db"
    bad_type = tmp_path / "bad.toml"
    bad_type.write_text('[consumers]\n"SE1" = { type = "pharmacy" }\n')
    broken = tmp_path / "broken.toml"
    broken.write_text("platform = [\n")
    cases = [
        (["serve", "--service", "hosp", "--db", db, "--tls-dir", str(tls_dir), "--consumers", "/nonexistent.toml"],
         "consumer registry /nonexistent.toml not found"),
        (["serve", "--service", "hosp", "--db", db, "--tls-dir", str(tls_dir), "--consumers", str(bad_type)],
         "has type 'pharmacy'"),
        (["serve", "--service", "hosp", "--db", db, "--tls-dir", str(tls_dir), "--consumers", str(broken)],
         "consumer registry"),
        (["sla", "report", "--service", "fmb", "--from", "yesterday", "--to", "2026-11-22", "--db", db],
         "--from and --to are dates"),
        (["hosp", "generate", "--count", "-1"], "--count must be 0 or more"),
    ]  # fmt: skip
    for args, message in cases:
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr + result.stdout
