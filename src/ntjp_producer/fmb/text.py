"""The open API carries some texts as HTML; SOAP consumers get plain text.

Paragraphs and list items become lines, so the structure a physician reads survives, and nothing
of the markup (tags, entities) reaches a journal system that would show it literally.
"""

from __future__ import annotations

import re

from lxml import html

_BLOCKS = {"p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table"}
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


def html_to_text(markup: str | None) -> str | None:
    if markup is None:
        return None
    if not markup.strip():
        return None
    try:
        root = html.fragment_fromstring(markup, create_parent="div")
    except Exception:  # lxml raises a handful of types for input it cannot recover
        return _SPACES.sub(" ", markup).strip() or None
    lines: list[str] = []
    current: list[str] = []

    def flush() -> None:
        text = _SPACES.sub(" ", "".join(current)).strip()
        if text:
            lines.append(text)
        current.clear()

    def walk(el) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _BLOCKS:
            flush()
        if tag == "br":
            flush()
        if tag == "li":
            current.append("- ")
        if el.text and tag not in ("script", "style"):
            current.append(el.text)
        for child in el:
            walk(child)
            if child.tail:
                current.append(child.tail)
        if tag in _BLOCKS:
            flush()

    walk(root)
    flush()
    return "\n".join(lines) or None
