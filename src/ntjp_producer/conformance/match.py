"""Holding an answer against a deployed shape, and saying where it differs.

A generated consumer (JAXB, .NET, zeep) binds elements by namespace, name and position; it drops an
element that is misspelt, in another namespace, out of order or nested differently, without an
error. So every difference is reported, with a path a person can follow to it, e.g.
``GetFmbResponse/beslutsunderlag[underlagsId 242]/villkor/urvalUtfordAtgard/utfordAtgard[2]/kod:
'codeSystemVersion' is missing``.
"""

from __future__ import annotations

from lxml import etree

from ntjp_producer.conformance.shapes import Node


def problems(element: etree._Element, shape: Node, *, limit: int = 50) -> list[str]:
    """Every way ``element`` differs from ``shape`` (at most ``limit``); empty when it conforms."""
    found: list[str] = []
    if element.tag != shape.tag:
        return [f"the element is {_name(element.tag)}, not {_name(shape.tag)}"]
    _check(element, shape, shape.name, found, limit)
    return found[:limit]


def _check(element: etree._Element, shape: Node, path: str, found: list[str], limit: int) -> None:
    if len(found) >= limit:
        return
    children = [c for c in element if isinstance(c.tag, str)]
    if shape.value is not None:
        if children:
            found.append(f"{path}: has child elements; deployed it is text ({shape.value.describe})")
        elif not shape.value.accepts(element.text or ""):
            found.append(f"{path}: {_shown(element.text)} is not {shape.value.describe}")
        return
    if (element.text or "").strip():
        found.append(f"{path}: has text {_shown(element.text)}; deployed it only holds elements")
    by_tag = {c.tag: (n, c) for n, c in enumerate(shape.children)}
    by_local = {c.name: c for c in shape.children}
    counts = dict.fromkeys(by_tag, 0)
    position = 0
    for child in children:
        if len(found) >= limit:
            return
        entry = by_tag.get(child.tag)
        if entry is None:
            local = etree.QName(child).localname
            expected = by_local.get(local)
            if expected is not None:
                found.append(
                    f"{path}: '{local}' is in namespace {etree.QName(child).namespace or 'none'}; "
                    f"deployed in {expected.namespace}"
                )
            else:
                found.append(f"{path}: '{local}' is not an element of the deployed shape")
            continue
        index, child_shape = entry
        if index < position:
            after = shape.children[position].name
            found.append(f"{path}: '{child_shape.name}' comes after '{after}'; deployed it comes before it")
        position = max(position, index)
        counts[child.tag] += 1
        n = counts[child.tag]
        if child_shape.max is not None and n > child_shape.max:
            found.append(f"{path}: '{child_shape.name}' occurs more than {child_shape.max} time(s)")
            continue
        _check(child, child_shape, f"{path}/{_step(child, child_shape, n)}", found, limit)
    for child_shape in shape.children:
        if counts[child_shape.tag] < child_shape.min:
            found.append(f"{path}: '{child_shape.name}' is missing")


def _step(element: etree._Element, shape: Node, n: int) -> str:
    if shape.max == 1:
        return shape.name
    label = _label(element, shape) if shape.label else None
    return f"{shape.name}[{label}]" if label else f"{shape.name}[{n}]"


def _label(element: etree._Element, shape: Node) -> str | None:
    """``underlagsId 242`` for a beslutsunderlag: which item a message is about, not only its position."""
    node, current = shape, element
    parts = (shape.label or "").split("/")
    for part in parts:
        child_shape = next((c for c in node.children if c.name == part), None)
        if child_shape is None:
            return None
        current = current.find(child_shape.tag)
        if current is None:
            return None
        node = child_shape
    text = (current.text or "").strip()
    return f"{parts[0]} {text}" if text else None


def _name(tag: str) -> str:
    q = etree.QName(tag)
    return f"'{q.localname}' in namespace {q.namespace or 'none'}"


def _shown(text: str | None) -> str:
    if not text:
        return "empty text"
    return repr(text if len(text) <= 60 else text[:57] + "...")
