"""A contract as the plumbing sees it: where it is served, which files define it, who answers.

Each endpoint serves its WSDL at ``?wsdl`` and every schema it imports at ``?xsd=PATH``, with the
relative ``schemaLocation``s of the files in ``wsdl/`` and ``schemas/`` rewritten to those URLs,
so a consumer can generate its client from the running producer alone.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lxml import etree

from ntjp_producer import contract_files

_IMPORT_XPATH = "//*[local-name()='import' or local-name()='include'][@schemaLocation]"


@dataclass
class Contract:
    name: str
    responder_ns: str
    wsgi: Callable | None = None  # a contract adapter as WSGI (Spyne), given the whole request
    major: int = 1
    # or: a contract adapter given the validated request element, answering the serialised response
    # element (UTF-8, its namespaces declared on it)
    handler: Callable[[Any], bytes] | None = None
    # With a reader, the handler is given what the reader made of the request element: a hashable
    # question with nothing of the caller in it. The plumbing then remembers the question of each
    # request it has checked, by its exact bytes (``RivtaApplication.questions``), so a consumer
    # asking the same thing again is not parsed and validated again. Contracts whose requests carry
    # personal data (HoSp) have no reader: their requests are not kept.
    reader: Callable[[etree._Element], Hashable] | None = None
    # Business contracts answer only the producer's own logical addresses; PingForConfiguration is
    # answered whatever the LogicalAddress header holds (the platform's probe sends "LogicalAddress").
    addressed: bool = True
    schema: etree.XMLSchema = field(init=False)

    def __post_init__(self) -> None:
        self.schema = etree.XMLSchema(etree.parse(str(contract_files.responder_xsd(self.name))))

    @property
    def path(self) -> str:
        return f"/{self.name}/{self.major}/rivtabp21"

    @property
    def request_element(self) -> str:
        return f"{{{self.responder_ns}}}{self.name}"

    @property
    def soap_action(self) -> str:
        return f"{self.responder_ns}:{self.name}"

    def wsdl(self, base_url: str) -> bytes:
        return _rewrite(contract_files.wsdl(self.name), base_url + self.path)

    def xsd(self, relative: str, base_url: str) -> bytes | None:
        """A schema under ``schemas/`` by its path there; None for anything else."""
        path = contract_files.schema(relative)
        if path is None:
            return None
        return _rewrite(path, base_url + self.path)


@lru_cache(maxsize=64)  # bounded: the endpoint URL comes from the caller's Host header
def _rewrite(path: Path, endpoint_url: str) -> bytes:
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    for el in tree.xpath(_IMPORT_XPATH):
        target = posixpath.normpath(posixpath.join(contract_files.relative_dir(path), el.get("schemaLocation")))
        el.set("schemaLocation", f"{endpoint_url}?xsd={quote(target)}")
    for addr in tree.xpath("//*[local-name()='address'][@location]"):
        addr.set("location", endpoint_url)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
