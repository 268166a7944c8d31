"""Where the contract files (``wsdl/``, ``schemas/``) are, installed or in a source tree.

They ship inside the package as data; in a source checkout the repository's own folders are used,
so there is exactly one copy of the contract.
"""

from __future__ import annotations

import posixpath
from functools import cache
from pathlib import Path


@cache
def root() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "contract", here.parent.parent):
        if (candidate / "wsdl").is_dir() and (candidate / "schemas").is_dir():
            return candidate
    raise FileNotFoundError("contract files (wsdl/, schemas/) not found")


def wsdl(contract: str) -> Path:
    return root() / "wsdl" / f"{contract}Interaction_1.0_RIVTABP21.wsdl"


def responder_xsd(contract: str) -> Path:
    return root() / "schemas" / "interactions" / f"{contract}Interaction" / f"{contract}Responder_1.0.xsd"


@cache
def _schema_index() -> dict[str, Path]:
    base = root()
    return {p.relative_to(base).as_posix(): p for p in (base / "schemas").rglob("*.xsd")}


def schema(relative: str) -> Path | None:
    """A schema file by its path relative to the contract root (``schemas/...``), or None.

    Only files that exist under ``schemas/`` are ever returned: the lookup is against an index,
    never a path join, so ``../`` tricks find nothing.
    """
    return _schema_index().get(posixpath.normpath(relative))


def relative_dir(path: Path) -> str:
    return path.parent.relative_to(root()).as_posix()
