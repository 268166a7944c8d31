"""The one XML parser all input goes through.

Requests come from the network, so the parser never loads a DTD, never resolves an entity, never
touches the network or the file system, and refuses documents that are deeper than any RIV-TA
message needs to be. A document that declares a DTD at all is refused: SOAP forbids DTDs, and
refusing them outright closes the entity-expansion and external-entity attacks in one place.
"""

from __future__ import annotations

from lxml import etree

MAX_DEPTH = 64


class UnsafeXml(ValueError):
    """Not well-formed, or well-formed but something a SOAP message never contains."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse(data: bytes) -> etree._Element:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnsafeXml("DTDs and entity declarations are not allowed in SOAP messages")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"Malformed XML: {exc.msg}") from None
    except ValueError as exc:  # e.g. an encoding declaration lxml cannot use
        raise UnsafeXml(f"Malformed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UnsafeXml("DTDs and entity declarations are not allowed in SOAP messages")
    depth_of = {root: 1}
    for el in root.iterdescendants():
        depth = depth_of[el.getparent()] + 1
        if depth > MAX_DEPTH:
            raise UnsafeXml(f"XML nested deeper than {MAX_DEPTH} levels")
        depth_of[el] = depth
    return root
