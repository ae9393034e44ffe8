"""What a locator finds in a snapshot, with each runner's matching rules.

``resolve`` returns the elements in document order, or ``None`` when the locator cannot be evaluated
here (an unsupported CSS extension, invalid XPath): "cannot tell" is never "matches nothing".
"""

from __future__ import annotations

import re
from functools import lru_cache

from cssselect import HTMLTranslator, SelectorError
from lxml import etree

from healloop.agent.healing.dom import Dom, Element, normalize
from healloop.agent.healing.locators import (
    ALT,
    CONTAINS,
    CSS,
    CYPRESS,
    HAS_TEXT,
    LABEL,
    LINK_TEXT,
    NTH,
    PARTIAL_LINK_TEXT,
    PLACEHOLDER,
    PLAYWRIGHT,
    ROLE,
    TESTID,
    TEXT,
    TITLE,
    XPATH,
    Locator,
    Step,
)

_TRANSLATOR = HTMLTranslator()
# Pseudo-classes of Playwright and jQuery (Cypress) that CSS lacks, handled after the CSS match when
# they end the selector: :visible, :has-text("x"), :text("x"), :text-is("x"), :first, :last, :eq(n).
_TRAILING_PSEUDO = re.compile(
    r"""(?P<all>:(?P<name>visible|hidden|first|last|eq|has-text|text|text-is|contains)"""
    r"""(?:\(\s*(?:(?P<q>['"])(?P<arg>.*?)(?P=q)|(?P<num>-?\d+))\s*\))?)\s*$"""
)
# Cypress's cy.contains prefers these over a deeper element holding the text.
_CY_PREFERRED = ("input[type=submit]", "button", "a", "label")


@lru_cache(maxsize=512)
def _xpath(selector: str, scoped: bool) -> etree.XPath | None:
    try:
        expr = _TRANSLATOR.css_to_xpath(selector, prefix="descendant::" if scoped else "descendant-or-self::")
        return etree.XPath(expr)
    except (SelectorError, etree.XPathSyntaxError, ValueError, NotImplementedError):
        return None


@lru_cache(maxsize=512)
def _raw_xpath(expr: str) -> etree.XPath | None:
    try:
        return etree.XPath(expr)
    except (etree.XPathSyntaxError, ValueError):
        return None


class Resolver:
    def __init__(self, dom: Dom, *, test_id_attr: str = "data-testid") -> None:
        self.dom = dom
        self.test_id_attr = test_id_attr

    def resolve(self, locator: Locator) -> list[Element] | None:
        found: list[Element] = [self.dom.root]
        first = True
        for step in locator.steps:
            if step.kind == NTH:
                if not found or first:
                    return []
                idx = step.index if step.index is not None else 0
                found = [found[idx]] if -len(found) <= idx < len(found) else []
                continue
            if step.kind == HAS_TEXT:
                found = self.has_text(found, step)
                continue
            merged: dict[Element, None] = {}
            for scope in found:
                got = self.find(step, scope, locator.flavor, scoped=not first)
                if got is None:
                    return None
                for el in got:
                    merged[el] = None
            found = sorted(merged, key=self.dom.order.__getitem__)
            first = False
        return found

    def has_text(self, found: list[Element], step: Step) -> list[Element]:
        """Playwright's ``filter({ hasText })``: those of ``found`` whose text holds it."""
        return [el for el in found if _matches_text(self.dom.text(el), step.value, False, step.regex)]

    def find(self, step: Step, scope: Element, flavor: str, *, scoped: bool = True) -> list[Element] | None:
        dom = self.dom
        if step.kind == CSS:
            return self._css(step.value, scope, scoped)
        if step.kind == XPATH:
            return self._xpath(step.value, scope)
        if step.kind == "id":
            return [el for el in self._within(scope, scoped) if el.get("id") == step.value]
        if step.kind == "name":
            return [el for el in self._within(scope, scoped) if el.get("name") == step.value]
        pool = self._within(scope, scoped)
        pw = flavor == PLAYWRIGHT
        if step.kind == TESTID:
            return [
                el
                for el in pool
                if _matches_text(dom.get(el, self.test_id_attr), step.value, True, step.regex, raw=True)
            ]
        if step.kind == ROLE:
            out = [
                el
                for el in pool
                if dom.role(el) == step.value and dom.visible(el) and not dom.aria_hidden(el)
            ]
            if step.name is not None:
                out = [
                    el
                    for el in out
                    if _matches_text(dom.name(el), step.name, step.exact or not pw, step.regex)
                ]
            return out
        if step.kind == TEXT:
            if pw:
                return self._pw_text(pool, step)
            return [
                el
                for el in pool
                if _matches_text(_own_text(el), step.value, True, step.regex)
                and dom.tag(el) not in ("script", "style")
            ]
        if step.kind == LABEL:
            return [
                el
                for el in pool
                if any(
                    _matches_text(t, step.value, step.exact or not pw, step.regex)
                    for t in dom.labels(el, terms=False)
                )
            ]
        if step.kind == PLACEHOLDER:
            return [
                el
                for el in pool
                if el.get("placeholder") is not None
                and _matches_text(el.get("placeholder"), step.value, step.exact or not pw, step.regex)
            ]
        if step.kind == ALT:
            return [
                el
                for el in pool
                if dom.tag(el) in ("img", "area", "input")
                and el.get("alt") is not None
                and _matches_text(el.get("alt"), step.value, step.exact or not pw, step.regex)
            ]
        if step.kind == TITLE:
            return [
                el
                for el in pool
                if el.get("title") is not None
                and _matches_text(el.get("title"), step.value, step.exact or not pw, step.regex)
            ]
        if step.kind == CONTAINS:
            return self._cy_contains(step, scope, pool, scoped)
        if step.kind in (LINK_TEXT, PARTIAL_LINK_TEXT):
            exact = step.kind == LINK_TEXT
            return [
                el
                for el in pool
                if dom.tag(el) == "a"
                and dom.visible(el)
                and (
                    dom.text(el) == normalize(step.value) if exact else normalize(step.value) in dom.text(el)
                )
            ]
        return None

    def _within(self, scope: Element, scoped: bool) -> list[Element]:
        if scope is self.dom.root:
            return self.dom.content
        inside = set(scope.iterdescendants())
        out = [el for el in self.dom.content if el in inside]
        return [scope, *out] if not scoped else out

    def _css(self, selector: str, scope: Element, scoped: bool) -> list[Element] | None:
        post: list[tuple[str, str | None]] = []
        sel = selector.strip()
        while True:
            m = _TRAILING_PSEUDO.search(sel)
            if not m:
                break
            post.insert(
                0, (m.group("name"), m.group("arg") if m.group("arg") is not None else m.group("num"))
            )
            sel = sel[: m.start("all")].rstrip()
            if not sel or sel.endswith((">", "+", "~", ",")):
                sel += "*"
        # Inside the selector, Playwright's :has-text() reads as cssselect's :contains() (case aside)
        # and :visible is dropped (a snapshot has no layout); at the end they are applied exactly.
        sel = re.sub(r":has-text\(", ":contains(", sel)
        sel = re.sub(r":visible\b", "", sel)
        compiled = _xpath(sel, scoped and scope is not self.dom.root)
        if compiled is None:
            return None
        found = [el for el in compiled(scope) if isinstance(el, etree._Element) and isinstance(el.tag, str)]
        content = set(self.dom.content)
        found = [el for el in found if el in content]
        for name, arg in post:
            if name == "visible":
                found = [el for el in found if self.dom.visible(el)]
            elif name == "hidden":
                found = [el for el in found if not self.dom.visible(el)]
            elif name == "first":
                found = found[:1]
            elif name == "last":
                found = found[-1:]
            elif name == "eq":
                i = int(arg or 0)
                found = [found[i]] if -len(found) <= i < len(found) else []
            elif name in ("has-text", "contains"):
                case = name == "contains"  # jQuery's :contains is case-sensitive, Playwright's not
                found = [
                    el
                    for el in found
                    if _matches_text(self.dom.text(el), arg or "", False, None, case_sensitive=case)
                ]
            elif name in ("text", "text-is"):
                found = self._pw_text(found, Step("text", arg or "", exact=name == "text-is"))
        return found

    def _xpath(self, expr: str, scope: Element) -> list[Element] | None:
        compiled = _raw_xpath(expr)
        if compiled is None:
            return None
        try:
            got = compiled(scope if scope is not self.dom.root else self.dom.root.getroottree())
        except etree.XPathEvalError:
            return None
        if not isinstance(got, list):
            return None
        content = set(self.dom.content)
        return [el for el in got if isinstance(el, etree._Element) and el in content]

    def _pw_text(self, pool: list[Element], step: Step) -> list[Element]:
        """Playwright's text engine: the smallest elements whose text matches (not one that only
        matches through a single child)."""
        dom = self.dom
        matching = {el for el in pool if _matches_text(dom.text(el), step.value, step.exact, step.regex)}
        return [
            el
            for el in pool
            if el in matching and not any(isinstance(c.tag, str) and c in matching for c in el)
        ]

    def _cy_contains(
        self, step: Step, scope: Element, pool: list[Element], scoped: bool
    ) -> list[Element] | None:
        dom = self.dom
        text = step.name or ""
        holders = [
            el for el in pool if _matches_text(dom.text(el), text, False, step.regex, case_sensitive=True)
        ]
        if step.value:
            allowed = self._css(step.value, scope, scoped)
            if allowed is None:
                return None
            allowed_set = set(allowed)
            holders = [el for el in holders if el in allowed_set]
            deepest = [
                el
                for el in holders
                if not any(d in allowed_set and d in holders for d in el.iterdescendants())
            ]
            return deepest
        deepest = [el for el in holders if not any(isinstance(c.tag, str) and c in holders for c in el)]
        out: dict[Element, None] = {}
        for el in deepest:
            preferred = next((a for a in (el, *el.iterancestors()) if self._cy_preferred(a)), el)
            out[preferred] = None
        return sorted(out, key=dom.order.__getitem__)

    def _cy_preferred(self, el: Element) -> bool:
        tag = self.dom.tag(el)
        return tag in ("button", "a", "label") or (tag == "input" and self.dom.input_type(el) == "submit")


def _own_text(el: Element) -> str:
    """The element's own text nodes (Testing Library's getNodeText)."""
    return normalize("".join([el.text or "", *(c.tail or "" for c in el)]))


def _matches_text(
    got: str | None,
    want: str,
    exact: bool,
    regex: str | None,
    *,
    raw: bool = False,
    case_sensitive: bool = False,
) -> bool:
    if got is None:
        return False
    if regex is not None:
        flags = re.I if "i" in regex else 0
        try:
            return re.search(want, got if raw else normalize(got), flags) is not None
        except re.error:
            return False
    if raw:
        return got == want
    g, w = normalize(got), normalize(want)
    if exact:
        return g == w
    if case_sensitive:
        return w in g
    return w.lower() in g.lower()


def resolve(dom: Dom, locator: Locator, *, test_id_attr: str = "data-testid") -> list[Element] | None:
    return Resolver(dom, test_id_attr=test_id_attr).resolve(locator)


__all__ = ["CYPRESS", "Resolver", "resolve"]
