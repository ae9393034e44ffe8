"""A DOM snapshot parsed as a browser parses it, with what locators match on.

HTML5 parsing (html5lib, into an lxml tree) nests elements as Chromium does (a ``<tr>`` outside a
``<tbody>`` gets one, a ``<div>`` inside a ``<p>`` closes it), so CSS combinators, ``:nth-child`` and
XPath see the tree the test saw. Roles and accessible names follow the HTML-AAM and accname rules
that Playwright's ``getByRole`` and Testing Library's ``*ByRole`` implement, reduced to what a
snapshot shows: no stylesheet is applied, so visibility is read from the ``hidden`` attribute,
inline ``display:none`` / ``visibility:hidden``, ``type=hidden`` and closed ``<dialog>``/``<details>``.
"""

from __future__ import annotations

import re
import warnings
from functools import cached_property
from typing import Any

import html5lib
from html5lib.constants import DataLossWarning
from lxml import etree

Element = Any  # lxml.etree._Element; kept loose because lxml's stubs are not installed

_WS = re.compile(r"\s+")
# Not content: their text is never what a test reads or matches.
_NO_TEXT = frozenset({"script", "style", "noscript", "template", "head", "title", "meta", "link"})
_HIDDEN_STYLE = re.compile(r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)\b", re.I)
_CODED = re.compile(r"U([0-9A-F]{5})")

# Input types a person types text into (Playwright's fill accepts these).
TEXT_INPUTS = frozenset(
    {
        "",
        "text",
        "email",
        "password",
        "search",
        "tel",
        "url",
        "number",
        "date",
        "datetime-local",
        "month",
        "week",
        "time",
        "color",
        "range",  # Playwright's fill sets a slider's value
    }
)
_INPUT_ROLES = {
    "button": "button",
    "image": "button",
    "reset": "button",
    "submit": "button",
    "file": "button",
    "checkbox": "checkbox",
    "radio": "radio",
    "range": "slider",
    "number": "spinbutton",
}
_TAG_ROLES = {
    "article": "article",
    "aside": "complementary",
    "blockquote": "blockquote",
    "button": "button",
    "caption": "caption",
    "code": "code",
    "datalist": "listbox",
    "del": "deletion",
    "dfn": "term",
    "dialog": "dialog",
    "em": "emphasis",
    "fieldset": "group",
    "figure": "figure",
    "hr": "separator",
    "html": "document",
    "ins": "insertion",
    "main": "main",
    "math": "math",
    "menu": "list",
    "meter": "meter",
    "nav": "navigation",
    "ol": "list",
    "optgroup": "group",
    "option": "option",
    "output": "status",
    "p": "paragraph",
    "progress": "progressbar",
    "search": "search",
    "strong": "strong",
    "sub": "subscript",
    "sup": "superscript",
    "table": "table",
    "tbody": "rowgroup",
    "textarea": "textbox",
    "tfoot": "rowgroup",
    "thead": "rowgroup",
    "time": "time",
    "tr": "row",
    "ul": "list",
    "dd": "definition",
    "dt": "term",
    "details": "group",
    "h1": "heading",
    "h2": "heading",
    "h3": "heading",
    "h4": "heading",
    "h5": "heading",
    "h6": "heading",
}
# Roles whose accessible name comes from their content (accname 1.2, "name from content").
NAME_FROM_CONTENT = frozenset(
    {
        "button",
        "cell",
        "checkbox",
        "columnheader",
        "gridcell",
        "heading",
        "link",
        "menuitem",
        "menuitemcheckbox",
        "menuitemradio",
        "option",
        "radio",
        "row",
        "rowheader",
        "switch",
        "tab",
        "tooltip",
        "treeitem",
        "legend",
        "caption",
        "term",
    }
)
# Roles a person clicks.
CLICKABLE_ROLES = frozenset(
    {
        "button",
        "link",
        "menuitem",
        "menuitemcheckbox",
        "menuitemradio",
        "tab",
        "checkbox",
        "radio",
        "switch",
        "option",
        "treeitem",
        "gridcell",
        "combobox",
    }
)
_BLOCK = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    }
)
_CONTROLS = frozenset({"input", "select", "textarea", "button", "meter", "output", "progress"})


def normalize(text: str | None) -> str:
    """Whitespace collapsed and trimmed, as Playwright and Testing Library compare text."""
    return _WS.sub(" ", text or "").strip()


def _attr_name(name: str) -> str:
    # html5lib stores names that are not XML names (Vue's ":class", "@click") coded as "U0003Aclass".
    return _CODED.sub(lambda m: chr(int(m.group(1), 16)), name) if "U" in name else name


class Dom:
    """One parsed snapshot. Elements are lxml elements; every query is cached per element."""

    def __init__(self, html: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataLossWarning)
            tree = html5lib.parse(html or "", treebuilder="lxml", namespaceHTMLElements=False)
        self.root = tree.getroot()
        self.elements: list[Element] = [el for el in self.root.iter() if isinstance(el.tag, str)]
        self.order: dict[Element, int] = {el: i for i, el in enumerate(self.elements)}
        self._text: dict[Element, str] = {}
        self._name: dict[Element, str] = {}
        self._visible: dict[Element, bool] = {}
        self._attrs: dict[Element, dict[str, str]] = {}

    # -- structure
    @cached_property
    def body(self) -> Element:
        return next((el for el in self.elements if el.tag == "body"), self.root)

    @cached_property
    def content(self) -> list[Element]:
        """Elements a test can find: inside <body>, not script/style/template content."""
        out = []
        for el in self.body.iter():
            if not isinstance(el.tag, str) or el.tag in _NO_TEXT:
                continue
            if any(a.tag in ("template", "noscript") for a in el.iterancestors()):
                continue
            out.append(el)
        return out

    @cached_property
    def subject(self) -> str:
        """What the whole page is about, as its <title> and top heading say ("Edit episode"): words
        every control on it shares, so they never tell one control from another."""
        texts = [self.text(el) for el in self.elements if el.tag in ("title", "h1")
                 or (el.get("role") == "heading" and el.get("aria-level") == "1")]
        return " ".join(texts)

    @cached_property
    def _ids(self) -> dict[str, Element]:
        ids: dict[str, Element] = {}
        for el in self.elements:
            value = el.get("id")
            if value and value not in ids:
                ids[value] = el
        return ids

    def by_id(self, value: str) -> Element | None:
        return self._ids.get(value)

    def attrs(self, el: Element) -> dict[str, str]:
        got = self._attrs.get(el)
        if got is None:
            got = self._attrs[el] = {_attr_name(k): v for k, v in el.attrib.items()}
        return got

    def get(self, el: Element, name: str) -> str | None:
        return self.attrs(el).get(name)

    def tag(self, el: Element) -> str:
        return str(el.tag).lower()

    def input_type(self, el: Element) -> str:
        return (el.get("type") or "").strip().lower() if self.tag(el) == "input" else ""

    # -- text
    def text(self, el: Element) -> str:
        """Normalized text content; an input button's value is its text (as Playwright reads it)."""
        got = self._text.get(el)
        if got is None:
            if self.tag(el) == "input" and self.input_type(el) in ("button", "submit", "reset"):
                got = normalize(
                    el.get("value") or {"submit": "Submit", "reset": "Reset"}.get(self.input_type(el), "")
                )
            else:
                got = normalize("".join(self._raw_text(el)))
            self._text[el] = got
        return got

    def _raw_text(self, el: Element) -> list[str]:
        parts = [el.text or ""]
        for child in el:
            if isinstance(child.tag, str) and child.tag not in _NO_TEXT:
                parts += self._raw_text(child)
            parts.append(child.tail or "")
        return parts

    # -- visibility
    def visible(self, el: Element) -> bool:
        got = self._visible.get(el)
        if got is None:
            got = self._visible[el] = self._visible_uncached(el)
        return got

    def _visible_uncached(self, el: Element) -> bool:
        tag = self.tag(el)
        if tag in _NO_TEXT or (tag == "input" and self.input_type(el) == "hidden"):
            return False
        if el.get("hidden") is not None or _HIDDEN_STYLE.search(el.get("style") or ""):
            return False
        if tag == "dialog" and el.get("open") is None:
            return False  # a closed <dialog> is not displayed
        parent = el.getparent()
        if parent is None:
            return True
        ptag = self.tag(parent)
        if ptag == "dialog" and parent.get("open") is None:
            return False
        if ptag == "details" and parent.get("open") is None and tag != "summary":
            return False
        return self.visible(parent)

    def aria_hidden(self, el: Element) -> bool:
        return any((a.get("aria-hidden") or "").lower() == "true" for a in (el, *el.iterancestors()))

    # -- roles and names
    def role(self, el: Element) -> str | None:
        explicit = (el.get("role") or "").split()
        if explicit and explicit[0] not in ("presentation", "none"):
            return explicit[0]
        return self.implicit_role(el)

    def implicit_role(self, el: Element) -> str | None:
        tag = self.tag(el)
        if tag == "input":
            kind = self.input_type(el)
            if kind == "hidden":
                return None
            if kind == "search":
                return "combobox" if el.get("list") else "searchbox"
            if kind in _INPUT_ROLES:
                return _INPUT_ROLES[kind]
            return "combobox" if el.get("list") else "textbox"
        if tag in ("a", "area"):
            return "link" if el.get("href") is not None else None
        if tag == "select":
            multiple = el.get("multiple") is not None
            return "listbox" if multiple or int(_digits(el.get("size")) or 0) > 1 else "combobox"
        if tag == "img":
            return "presentation" if el.get("alt") == "" else "img"
        if tag == "li":
            parent = el.getparent()
            return "listitem" if parent is not None and self.tag(parent) in ("ul", "ol", "menu") else None
        if tag in ("td", "th"):
            table = next((a for a in el.iterancestors() if self.tag(a) == "table"), None)
            grid = table is not None and (table.get("role") or "") in ("grid", "treegrid")
            if tag == "td":
                return "gridcell" if grid else "cell"
            return "rowheader" if el.get("scope") == "row" else "columnheader"
        if tag in ("form", "section"):
            named = el.get("aria-label") or el.get("aria-labelledby") or el.get("title")
            return ("form" if tag == "form" else "region") if named else None
        if tag in ("header", "footer"):
            if any(self.tag(a) in ("article", "aside", "main", "nav", "section") for a in el.iterancestors()):
                return None
            return "banner" if tag == "header" else "contentinfo"
        return _TAG_ROLES.get(tag)

    def labels(self, el: Element, *, terms: bool = True) -> list[str]:
        """Texts of the labels of a control: aria-labelledby, <label for>, a wrapping <label>, aria-label;
        with ``terms``, also what labels a value to a reader (a <dd>'s <dt>, a cell's column header),
        which no browser's getByLabel finds it by."""
        out: list[str] = []
        for ref in (el.get("aria-labelledby") or "").split():
            target = self.by_id(ref)
            if target is not None:
                out.append(self.text(target))
        if self.tag(el) in _CONTROLS:
            ident = el.get("id")
            by_for = self._labels_for.get(ident, []) if ident else []
            out += [self._label_text(lab, el) for lab in by_for]
            wrapping = next((a for a in el.iterancestors() if self.tag(a) == "label"), None)
            # A label that wraps the control and names it with `for` too is one label, counted once
            # (Chromium's name for it is its text, not that text twice).
            if wrapping is not None and wrapping.get("for") in (None, ident) and wrapping not in by_for:
                out.append(self._label_text(wrapping, el))
        if el.get("aria-label"):
            out.append(normalize(el.get("aria-label")))
        if terms:
            out += self._term_labels(el)
        return [t for t in out if t]

    def _term_labels(self, el: Element) -> list[str]:
        """What labels a value that is not a form control: a <dd>'s <dt>, a cell's column header."""
        tag = self.tag(el)
        if tag == "dd":
            prev = el.getprevious()
            while prev is not None and not (isinstance(prev.tag, str) and self.tag(prev) == "dt"):
                prev = prev.getprevious()
            return [self.text(prev)] if prev is not None else []
        if tag == "td":
            row = el.getparent()
            table = next((a for a in el.iterancestors() if self.tag(a) == "table"), None)
            if row is None or table is None:
                return []
            index = [c for c in row if isinstance(c.tag, str)].index(el)
            head = next((r for r in table.iter("tr") if any(self.tag(c) == "th" for c in r)), None)
            if head is None or head is row:
                return []
            cells = [c for c in head if isinstance(c.tag, str)]
            return [self.text(cells[index])] if index < len(cells) and self.text(cells[index]) else []
        return []

    @cached_property
    def _labels_for(self) -> dict[str, list[Element]]:
        found: dict[str, list[Element]] = {}
        for el in self.elements:
            if el.tag == "label" and el.get("for"):
                found.setdefault(el.get("for"), []).append(el)
        return found

    def _label_text(self, label: Element, control: Element) -> str:
        """A label's text without the text of the control it wraps (a select's options, say)."""
        if control not in label.iterdescendants():
            return self.text(label)
        parts = [label.text or ""]
        for child in label:
            if child is not control and isinstance(child.tag, str) and child.tag not in _NO_TEXT and (
                self.tag(child) not in ("select", "textarea")
            ):
                parts += self._raw_text(child)
            parts.append(child.tail or "")
        return normalize("".join(parts))

    def name(self, el: Element) -> str:
        """The accessible name (accname 1.2, the steps a snapshot can answer)."""
        got = self._name.get(el)
        if got is None:
            got = self._name[el] = self._name_uncached(el)
        return got

    def _name_uncached(self, el: Element) -> str:
        refs = [self.by_id(r) for r in (el.get("aria-labelledby") or "").split()]
        refs = [r for r in refs if r is not None]
        if refs:
            return normalize(" ".join(self.text(r) for r in refs))
        if normalize(el.get("aria-label")):
            return normalize(el.get("aria-label"))
        tag, kind = self.tag(el), self.input_type(el)
        if tag == "input" and kind in ("button", "submit", "reset"):
            return self.text(el)
        if tag == "input" and kind == "image":
            return normalize(el.get("alt") or el.get("value") or "Submit")
        if tag in ("input", "select", "textarea"):
            labels = self.labels(el)
            if labels:
                return normalize(" ".join(labels))
            return normalize(el.get("title") or el.get("placeholder"))
        if tag in ("img", "area"):
            return normalize(el.get("alt") or el.get("title"))
        if tag == "fieldset":
            legend = next((c for c in el if isinstance(c.tag, str) and c.tag == "legend"), None)
            if legend is not None:
                return self.text(legend)
        if tag in ("table", "figure"):
            cap = next((c for c in el.iter("caption", "figcaption")), None)
            if cap is not None:
                return self.text(cap)
        if self.role(el) in NAME_FROM_CONTENT:
            text = self._content_name(el)
            if text:
                return text
        return normalize(el.get("title"))

    def _content_name(self, el: Element) -> str:
        parts = [el.text or ""]
        for child in el:
            if isinstance(child.tag, str) and child.tag not in _NO_TEXT and self.visible(child):
                if child.tag == "img":
                    parts.append(f" {child.get('alt') or ''} ")
                elif not self.aria_hidden(child):
                    # Block boxes are separated by a space in the name; inline ones run together.
                    pad = " " if self.tag(child) in _BLOCK else ""
                    # A child's own label stands for its content, as browsers compute it: an Ant icon
                    # <span role="img" aria-label="plus"> makes a button "plusAdd ingredient".
                    label = normalize(child.get("aria-label"))
                    parts.append(f"{pad}{label or self._content_name(child)}{pad}")
            parts.append(child.tail or "")
        return normalize("".join(parts))

    # -- what a test can do with an element
    def disabled(self, el: Element) -> bool:
        if el.get("disabled") is not None and self.tag(el) in (
            "button",
            "input",
            "select",
            "textarea",
            "option",
            "fieldset",
        ):
            return True
        return (el.get("aria-disabled") or "").lower() == "true"

    def can_disable(self, el: Element) -> bool:
        """It has an enabled state a test can assert: a form control, or anything with aria-disabled
        (Playwright's toBeDisabled, Cypress's be.disabled, Selenium's isEnabled)."""
        native = ("button", "input", "select", "textarea", "option", "optgroup", "fieldset")
        return self.tag(el) in native or el.get("aria-disabled") is not None

    def editable(self, el: Element) -> bool:
        """Text can be typed into it (Playwright's fill, Cypress's type, Selenium's send_keys)."""
        tag = self.tag(el)
        if tag == "input":
            return self.input_type(el) in TEXT_INPUTS and el.get("readonly") is None
        if tag == "textarea":
            return el.get("readonly") is None
        editable = (el.get("contenteditable") or "").lower()
        return editable in ("", "true", "plaintext-only") and el.get("contenteditable") is not None

    def checkable(self, el: Element) -> bool:
        if self.tag(el) == "input" and self.input_type(el) in ("checkbox", "radio"):
            return True
        return self.role(el) in ("checkbox", "radio", "switch", "menuitemcheckbox", "menuitemradio")

    def selectable(self, el: Element) -> bool:
        return self.tag(el) == "select"

    def clickable(self, el: Element) -> bool:
        """Made to be clicked: a control, a link, a clickable role, or a handler in the markup."""
        tag = self.tag(el)
        if tag in ("button", "summary", "label", "select", "option") or (
            tag == "a" and el.get("href") is not None
        ):
            return True
        if tag == "input" and self.input_type(el) != "hidden":
            return True
        if self.role(el) in CLICKABLE_ROLES:
            return True
        attrs = self.attrs(el)
        return any(k in attrs for k in ("onclick", "@click", "v-on:click", "ng-click", "(click)", "tabindex"))

    def ancestors(self, el: Element) -> list[Element]:
        return [a for a in el.iterancestors() if a is not self.root]

    def describe(self, el: Element) -> dict[str, Any]:
        """A short, plain description for history and reports."""
        attrs = {k: v[:80] for k, v in self.attrs(el).items() if k != "style"}
        return {
            "tag": self.tag(el),
            "attrs": dict(list(attrs.items())[:8]),
            "text": self.text(el)[:80],
            "role": self.role(el),
            "name": self.name(el)[:80],
        }

    def outer_html(self, el: Element, limit: int = 300) -> str:
        text = etree.tostring(el, encoding="unicode", method="html", with_tail=False)
        # An inline <svg> comes out of the HTML5 parser namespaced (<ns0:svg xmlns:ns0=...>): shown
        # as the page wrote it.
        text = re.sub(r'\s+xmlns:ns\d+="[^"]*"', "", re.sub(r"(</?)ns\d+:", r"\1", text))
        return text if len(text) <= limit else text[:limit] + "…"


def _digits(value: str | None) -> str:
    return "".join(c for c in value or "" if c.isdigit())
