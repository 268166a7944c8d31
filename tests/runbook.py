"""The commands docs/operations.md tells the person on call to run, as the tests run them.

Each entry is the argument list after ``ntjp-producer`` with ``{placeholders}`` the test fills in.
tests/test_runbook.py holds the runbook to these: every ``ntjp-producer`` command it shows is one of
them (same subcommand, same options), and each of them is in the runbook.
"""

from __future__ import annotations

COMMANDS: dict[str, list[str]] = {
    "backup SQLite": ["db", "backup", "--db", "{db}", "{dest}"],
    "restore SQLite": ["db", "restore", "{backup}", "--db", "{db}"],
    "restore SQLite over the old file": ["db", "restore", "{backup}", "--db", "{db}", "--replace"],
    "backup PostgreSQL, full": ["db", "backup", "--config", "{config}", "--type", "full"],
    "backup PostgreSQL, incremental": ["db", "backup", "--config", "{config}", "--type", "incr"],
    "restore PostgreSQL to a moment": [
        "db", "restore", "--config", "{config}", "--pg-data", "{pg_data}", "--to", "{to}",
    ],
    "import a HoSp delta": ["hosp", "import", "--delta", "{extract}", "--config", "{config}"],
}


def argv(name: str, **values: str) -> list[str]:
    return [part.format(**values) for part in COMMANDS[name]]
