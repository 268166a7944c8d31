"""The one XML parser all input goes through.

Requests come from the network, so the parser never loads a DTD, never resolves an entity, never
touches the network or the file system, and refuses documents that are deeper than any RIV-TA
message needs to be. A document that declares a DTD at all is refused: SOAP forbids DTDs, and
refusing them outright closes the entity-expansion and external-entity attacks in one place.

The refusal is decided on the document's text, not its bytes: a request is first decoded from
whatever encoding it is in (a byte-order mark, the UTF-16/32 byte patterns XML defines, or its
declaration; UTF-8 otherwise), so ``<!DOCTYPE`` in UTF-16 or UTF-32 is seen like any other and gets
the same fault text. lxml then only ever parses UTF-8 without a declaration, and a resolver that
answers every external reference with nothing stands behind that, in case libxml2 ever asks.
"""

from __future__ import annotations

import codecs
import re
import threading

from lxml import etree

MAX_DEPTH = 64
DTD_REFUSED = "DTDs and entity declarations are not allowed in SOAP messages"

# (byte-order mark or first bytes of "<?", codec), longest first: UTF-32's BOM starts like UTF-16's.
_SIGNATURES = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
_DECLARED = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
_DECLARATION = re.compile(r"^\ufeff?<\?xml[^>]*\?>")


class UnsafeXml(ValueError):
    """Not well-formed, or well-formed but something a SOAP message never contains."""


class _NothingResolver(etree.Resolver):
    def resolve(self, url, pubid, context):
        return self.resolve_string("", context)


_local = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's parser: an lxml parser may not be shared by threads, and making one per call
    costs as much as parsing a small request."""
    parser = getattr(_local, "parser", None)
    if parser is not None:
        return parser
    parser = _local.parser = etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    parser.resolvers.add(_NothingResolver())
    return parser


def _encoding(data: bytes) -> str:
    for signature, codec in _SIGNATURES:
        if data.startswith(signature):
            return codec
    declared = _DECLARED.match(data)
    if declared is None:
        return "utf-8"
    name = declared.group(1).decode("ascii")
    try:
        codecs.lookup(name)
    except LookupError:
        raise UnsafeXml(f"Malformed XML: unknown encoding '{name}'") from None
    return name


def decode(data: bytes) -> bytes:
    """The document as UTF-8 without an XML declaration; raises UnsafeXml for a DTD, for bytes
    that are not the encoding they claim, and for an unknown encoding."""
    encoding = _encoding(data)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise UnsafeXml(f"Malformed XML: the document is not valid {encoding.upper()}") from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise UnsafeXml(DTD_REFUSED)
    return _DECLARATION.sub("", text, count=1).encode("utf-8")


def parse_utf8(data: bytes) -> etree._Element:
    """Parse what ``decode`` returned."""
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"Malformed XML: {exc.msg}") from None
    except ValueError as exc:
        raise UnsafeXml(f"Malformed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UnsafeXml(DTD_REFUSED)
    if data.count(b"<") <= MAX_DEPTH:  # every element takes a '<': too few to nest that deep
        return root
    depth_of = {root: 1}
    for el in root.iterdescendants():
        depth = depth_of[el.getparent()] + 1
        if depth > MAX_DEPTH:
            raise UnsafeXml(f"XML nested deeper than {MAX_DEPTH} levels")
        depth_of[el] = depth
    return root


def parse(data: bytes) -> etree._Element:
    return parse_utf8(decode(data))
