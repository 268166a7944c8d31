"""docs/architecture.md matches the tree: every module it names exists, every package is named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.once

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "ntjp_producer"
DOC = (REPO / "docs" / "architecture.md").read_text()


def test_every_module_named_exists():
    modules = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    names = {Path(m).name for m in modules}
    for token in set(re.findall(r"(?<![\w/.-])((?:[a-z_]+/)?[a-z_]+\.py)\b", DOC)):
        if "/" in token:
            assert token in modules or (REPO / token).is_file(), f"docs/architecture.md names {token}: no such module"
        else:
            assert token in names, f"docs/architecture.md names {token}, which no package has"


def test_every_package_is_named():
    packages = [p.parent.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE]
    for package in packages:
        if package.startswith("storage/migrations"):
            continue  # Alembic's own folder, named as "Alembic migrations"
        assert f"{package}/" in DOC, f"docs/architecture.md does not name the package {package}/"
