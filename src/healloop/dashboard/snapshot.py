"""A DOM snapshot with the healed element outlined, for the event page's snapshot frame.

The agent records the element it healed to as the start of its outer HTML (``element_html`` of the
heal, cut at 120 characters). Its start tag names the tag and the attributes; the snapshot's elements
with that tag and those attribute values are outlined. The snapshot is parsed as a browser parses it
(html5lib), and served in a sandbox (no script runs), as the plain artifact is."""

from __future__ import annotations

import re
import warnings

import html5lib
from html5lib.constants import DataLossWarning
from lxml import etree

MARK = "data-healloop-healed"
_START = re.compile(r"^\s*<[A-Za-z][^<>]*>")
_STYLE = (f"[{MARK}] {{ outline: 3px solid #e0007a !important; outline-offset: 2px; "
          "background: rgba(224, 0, 122, .08) !important; }")


def _tag_and_attrs(element_html: str) -> tuple[str, dict[str, str]] | None:
    m = _START.match(element_html or "")
    if not m:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataLossWarning)
        frag = html5lib.parseFragment(m.group(0), treebuilder="lxml", namespaceHTMLElements=False)
    elements = [c for c in frag if isinstance(c.tag, str)]
    if not elements:
        return None
    el = elements[0]
    return el.tag, dict(el.attrib)


def highlight(html: bytes, element_html: str) -> tuple[bytes, int]:
    """The snapshot with each element matching the healed one's start tag marked, and how many were.
    Nothing matched: the snapshot unchanged, and 0."""
    wanted = _tag_and_attrs(element_html)
    if wanted is None:
        return html, 0
    tag, attrs = wanted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataLossWarning)
        doc = html5lib.parse(html, treebuilder="lxml", namespaceHTMLElements=False)
    found = 0
    for el in doc.iter(tag):
        if all(el.get(k) == v for k, v in attrs.items()):
            el.set(MARK, "")
            found += 1
    if not found:
        return html, 0
    head = doc.find(".//head")
    if head is None:
        head = etree.Element("head")
        doc.getroot().insert(0, head)
    style = etree.SubElement(head, "style")
    style.text = _STYLE
    return b"<!doctype html>\n" + etree.tostring(doc.getroot(), method="html", encoding="utf-8"), found
