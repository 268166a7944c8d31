"""docs/operations.md's commands are the ones the tests run: every ``ntjp-producer`` command it shows
parses with the real command line, every backup, restore and import it shows has the shape of one in
tests/runbook.py (which the backup tests run), and each of those is in the runbook."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from ntjp_producer.cli import build_parser
from tests.runbook import COMMANDS, argv

pytestmark = pytest.mark.once

RUNBOOK = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text()
KEPT = {("db", "backup"), ("db", "restore"), ("hosp", "import")}  # the runbook's backup and restore steps


def _runbook_commands() -> list[list[str]]:
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", RUNBOOK, re.S):
        lines += [line.strip() for line in block.splitlines() if line.strip().startswith("ntjp-producer ")]
    lines += re.findall(r"`(ntjp-producer [^`]+)`", RUNBOOK)
    return [shlex.split(line)[1:] for line in lines]


def _shape(args: list[str]) -> tuple[tuple[str, str], frozenset[str], int]:
    """Subcommand, the options given, and how many positional arguments."""
    namespace = build_parser().parse_args(args)
    options = frozenset(a for a in args if a.startswith("--"))
    positional = sum(1 for name in ("dest", "backup_file", "extract") if getattr(namespace, name, None))
    return (args[0], args[1]), options, positional


def test_every_command_in_the_runbook_parses():
    commands = _runbook_commands()
    assert len(commands) >= 10
    for args in commands:
        if any(part in ("EXTRACT", "…") for part in args):
            continue  # a placeholder the prose explains
        try:
            _shape(args)
        except SystemExit:
            pytest.fail(f"docs/operations.md: `ntjp-producer {shlex.join(args)}` is not a valid command")


def test_the_runbook_and_the_tests_run_the_same_backup_and_restore_commands():
    tested = {_shape(argv(name, **{k: "x" for k in ("db", "dest", "backup", "config", "pg_data", "to", "extract")}))
              for name in COMMANDS}  # fmt: skip
    shown = {_shape(args) for args in _runbook_commands() if tuple(args[:2]) in KEPT and "EXTRACT" not in args}
    assert shown <= tested, f"the runbook shows commands no test runs: {shown - tested}"
    assert tested <= shown, f"tests run commands the runbook does not show: {tested - shown}"
