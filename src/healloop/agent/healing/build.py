"""A new locator step for the chosen element, in the style of the one that broke.

Options are tried in order of how close they stay to what the test wrote: the same kind with the new
value (a renamed ``data-testid`` gets the new test id, a ``getByRole`` stays a ``getByRole`` with the
new name), the same CSS with only the broken part changed or a combinator relaxed (an element wrapped
in a new container), then a fresh locator of the same form on a stable attribute. Generated values
(``:r3:``, ``mat-input-2``, hashed classes) are never written. Each option is checked: with the other
steps unchanged it must find exactly the element meant, nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from healloop.agent.healing.dom import Dom, Element
from healloop.agent.healing.locators import (
    ALT,
    CONTAINS,
    CSS,
    CYPRESS,
    LABEL,
    LINK_TEXT,
    PARTIAL_LINK_TEXT,
    PLACEHOLDER,
    PLAYWRIGHT,
    ROLE,
    SELENIUM,
    TESTID,
    TEXT,
    TITLE,
    XPATH,
    Step,
)
from healloop.agent.healing.paths import xpath_relaxed, xpath_steps
from healloop.agent.healing.score import _ATTR_SEL, TEST_ID_ATTRS, last_compound
from healloop.agent.healing.words import generated, similarity

_IDENT = re.compile(r"^-?[A-Za-z_][\w-]*$")
_CSS_MODULE = re.compile(r"^([A-Za-z][\w-]*?__)[A-Za-z0-9_-]{5}$")
_POSITIONAL = re.compile(
    r":(?:nth-child|nth-of-type|nth-last-child|nth-last-of-type)\([^)]*\)|:(?:first|last)-(?:child|of-type)|:eq\(\d+\)|:first\b|:last\b"
)


class Builder:
    """Options for replacing one step, each validated by ``check`` (the whole locator resolves to the
    intended elements)."""

    def __init__(
        self,
        dom: Dom,
        *,
        test_id_attr: str,
        flavor: str,
        check: Callable[[Step], bool],
        call_based: bool,
        tl: bool,
        reads: bool = False,
    ) -> None:
        self.dom, self.test_id_attr, self.flavor = dom, test_id_attr, flavor
        self.check = check
        self.call_based = call_based  # the step is its own call, so its method may change
        self.tl = tl  # Testing Library query (exact matching)
        self.reads = reads  # the test reads or asserts the element's text

    def build(self, old: Step, el: Element) -> Step | None:
        for option in self.options(old, el):
            if option != old and not self._by_what_is_read(option, el) and self.check(option):
                return option
        return None

    def _by_what_is_read(self, step: Step, el: Element) -> bool:
        """A locator built from the very text the test reads (getByText('$86.40') for a total the
        test expects to be $86.40) finds the element only while the assertion holds: a changed total
        would fail as "not found", and the assertion would check nothing."""
        text = " ".join(self.dom.text(el).split())
        return self.reads and bool(text) and any(text in (v or "") for v in (step.value, step.name))

    def options(self, old: Step, el: Element) -> Iterator[Step]:
        yield from self._same_kind(old, el)
        if self.flavor == CYPRESS and old.kind == CSS and not self.tl and self.dom.clickable(el):
            # Cypress finds a control by its text as readily as by a selector: when none of the
            # element's own is left (its data-cy dropped), cy.contains('button', /^Add ingredient$/),
            # the whole text, so that "Add ingredient group" is not found too.
            text = " ".join(self.dom.text(el).split())
            if text and len(text) <= 60 and "/" not in text:
                exact = re.sub(r"([\\^$.*+?()\[\]{}|])", r"\\\1", text)
                yield Step(CONTAINS, self.dom.tag(el), f"^{exact}$", regex="")
        if not self.call_based:
            yield from self._by_own_text(old, el)
            return  # a selector string stays a selector string
        if self.flavor == PLAYWRIGHT or self.tl:
            yield from self._testing_api(el, skip=old.kind)
            if not self.tl or self.flavor == PLAYWRIGHT:  # Playwright's getBy* can become locator()
                yield from self._css(None, el)
        elif self.flavor == SELENIUM:
            if old.kind not in ("id", CSS, XPATH) and el.get("id") and not generated(el.get("id")):
                yield Step("id", el.get("id"))
            if old.kind != "name" and el.get("name") and not generated(el.get("name")):
                yield Step("name", el.get("name"))
            yield from self._css(None, el)
            yield from self._xpath_by_label(el)
            text = self.dom.text(el)
            if text and len(text) <= 60 and "'" not in text:  # Selenium has no getByText: an XPath
                yield Step(XPATH, f"//{self.dom.tag(el)}[normalize-space()='{text}']")
        elif self.flavor == CYPRESS and old.kind == CONTAINS:
            yield from self._css(None, el)

    def _by_own_text(self, old: Step, el: Element) -> Iterator[Step]:
        """In a selector string (``sel.pauseButton``), where no cy.contains or getByText can be
        written: the old selector, relaxed as a wrapper breaks it, narrowed to the control's whole
        text (jQuery's ``:contains`` in Cypress, ``:text-is`` in Playwright), for a control that has
        nothing of its own left to name it ("Pause my box" beside "Skip next box", both .chakra-button)."""
        if old.kind != CSS or self.flavor not in (CYPRESS, PLAYWRIGHT) or not self.dom.clickable(el):
            return
        text = " ".join(self.dom.text(el).split())
        if not text or len(text) > 40 or any(c in text for c in "\"\\()"):
            return
        pseudo = f':contains("{text}")' if self.flavor == CYPRESS else f':text-is("{text}")'
        for base in [*_relaxed(old.value or ""), self.dom.tag(el)]:
            if not re.search(r":(?:visible|hidden|first|last|eq|has-text|text|text-is|contains)\b", base):
                yield Step(CSS, base + pseudo)

    # -- same kind
    def _same_kind(self, old: Step, el: Element) -> Iterator[Step]:
        dom, kind = self.dom, old.kind
        if kind == TESTID:
            value = dom.get(el, self.test_id_attr)
            if value and not generated(value):
                yield Step(TESTID, value, exact=old.exact)
        elif kind == ROLE:
            role, name = dom.role(el), dom.name(el)
            if role and name:
                yield Step(ROLE, role, name, old.exact)
                if not old.exact:
                    yield Step(ROLE, role, name, True)
            elif role and old.name is None:
                yield Step(ROLE, role)
        elif kind == TEXT:
            text = _own_text(el) if self.tl else dom.text(el)
            if text and len(text) <= 80:
                yield Step(TEXT, text, exact=old.exact)
                if not old.exact and not self.tl:
                    yield Step(TEXT, text, exact=True)
        elif kind == LABEL:
            for label in dom.labels(el, terms=False):
                yield Step(LABEL, label, exact=old.exact)
        elif kind == PLACEHOLDER:
            if el.get("placeholder"):
                yield Step(PLACEHOLDER, el.get("placeholder"), exact=old.exact)
        elif kind == ALT:
            if el.get("alt"):
                yield Step(ALT, el.get("alt"), exact=old.exact)
        elif kind == TITLE:
            if el.get("title"):
                yield Step(TITLE, el.get("title"), exact=old.exact)
        elif kind == CONTAINS:
            text = dom.text(el)
            if text and len(text) <= 80:
                if old.value and self.check(Step(CONTAINS, old.value, text)):
                    yield Step(CONTAINS, old.value, text)
                yield Step(CONTAINS, "", text)
                yield Step(CONTAINS, dom.tag(el), text)
        elif kind == CSS:
            yield from self._css(old.value, el)
        elif kind == XPATH:
            yield from self._xpath(old.value, el)
        elif kind == "id":
            if el.get("id") and not generated(el.get("id")):
                yield Step("id", el.get("id"))
        elif kind == "name":
            if el.get("name"):
                yield Step("name", el.get("name"))
        elif kind in (LINK_TEXT, PARTIAL_LINK_TEXT) and dom.tag(el) == "a" and dom.text(el):
            yield Step(kind, dom.text(el))

    def _testing_api(self, el: Element, *, skip: str) -> Iterator[Step]:
        """The locators Playwright and Testing Library recommend, most robust first."""
        dom = self.dom
        exact = self.tl
        value = dom.get(el, self.test_id_attr)
        if skip != TESTID and value and not generated(value):
            yield Step(TESTID, value, exact=exact)
        role, name = dom.role(el), dom.name(el)
        by_label = [Step(LABEL, label, exact=exact) for label in dom.labels(el, terms=False)] \
            if skip != LABEL else []
        if dom.editable(el):
            # A field by its label, as Playwright advises for form fields; its accessible name may
            # join two labels ("Title Title" for Vuetify's floating copy) that no one would write.
            yield from by_label
        if skip != ROLE and role and name and role not in ("generic", "paragraph", "presentation"):
            yield Step(ROLE, role, name, exact)
            yield Step(ROLE, role, name, True)
        if not dom.editable(el):
            yield from by_label
        if skip != PLACEHOLDER and el.get("placeholder"):
            yield Step(PLACEHOLDER, el.get("placeholder"), exact=exact)
        text = _own_text(el) if self.tl else dom.text(el)
        if skip != TEXT and text and len(text) <= 60:
            yield Step(TEXT, text, exact=exact)

    # -- CSS
    def _css(self, old: str | None, el: Element) -> Iterator[Step]:
        for selector in self._css_texts(old, el):
            yield Step(CSS, selector)

    def _css_texts(self, old: str | None, el: Element) -> Iterator[str]:
        quote = _quote_style(old or "")
        if old:
            substituted = list(self._substitute(old, el, quote))
            for sel in substituted:
                yield sel
            for sel in [old, *substituted]:
                yield from _relaxed(sel)
        prefix = _prefix(old) if old else ""
        for compound in self._stable_compounds(el, quote):
            if prefix:
                yield f"{prefix} {compound}"
            yield compound
        if prefix:
            # The container was rebuilt too (li.thread-row:has-text('x') is now div[role=row]): name
            # the new container the same way, keeping what filtered it, then the element inside it.
            for head in self._new_container(prefix, el, quote):
                for compound in self._stable_compounds(el, quote, positional=True):
                    yield f"{head} {compound}"
        # An element with nothing stable of its own (a <dd> holding a total): by a near container
        # that has something (div.summary__row--total dd).
        tag = self.dom.tag(el)
        for depth, box in enumerate(el.iterancestors()):
            if depth >= 8 or self.dom.tag(box) in ("body", "html"):
                break
            component = bool(_COMPONENT.match(self.dom.tag(box)))
            if depth >= 3 and not component:
                continue  # a plain box this far up names a region, not the element
            for compound in self._stable_compounds(box, quote):
                yield f"{compound} {tag}"
            if component:
                # A component's own tag (Angular's app-hb-reading, a web component) names it as the
                # app's source does, and survives every rebuild that renumbers the ids inside it.
                yield f"{self.dom.tag(box)} {tag}"
        # Last, a modifier class (ant-tag-orange, card--active): it names the element's state as
        # often as the element, and a test reading "In maintenance" through the orange of that
        # state, or the other rows' tests through the same helper, would break with the state.
        for compound in self._stable_compounds(el, quote, modifiers=True):
            if prefix:
                yield f"{prefix} {compound}"
            yield compound

    def _new_container(self, prefix: str, el: Element, quote: str) -> Iterator[str]:
        dom = self.dom
        last = re.split(r"\s+(?![^\[]*\])(?![^(]*\))|\s*>\s*", prefix.strip())[-1]
        filters = "".join(re.findall(r""":(?:has-text|contains|text)\([^)]*\)""", last))
        texts = re.findall(r""":(?:has-text|contains|text)\(\s*["']([^"']+)["']""", last)
        def holds(a: Element) -> bool:
            return all(t.lower() in dom.text(a).lower() for t in texts) and dom.tag(a) not in ("body", "html")

        box = next((a for a in el.iterancestors() if texts and holds(a)), None)
        if box is None:
            return
        role = box.get("role")
        if role:
            yield f"{_attr('role', role, quote)}{filters}"
        yield f"{dom.tag(box)}{filters}"
        for name in TEST_ID_ATTRS:
            if box.get(name) and not generated(box.get(name)):
                yield _attr(name, box.get(name), quote)

    def _substitute(self, old: str, el: Element, quote: str) -> Iterator[str]:
        """The old selector with the values of its last compound that no longer match replaced by the
        element's own: ``[data-cy="submit"]`` → ``[data-cy="submit-order"]``."""
        dom = self.dom
        compound = last_compound(old)
        head = old[: old.rfind(compound)] if compound and old.endswith(compound) else ""
        new = compound
        attrs = dom.attrs(el)
        for am in _ATTR_SEL.finditer(compound):
            name = am.group(1).lower()
            value = next((v for v in am.group(3, 4, 5) if v is not None), None)
            got = attrs.get(name)
            if value is None or got is None or got == value or (generated(got) and name not in TEST_ID_ATTRS):
                continue
            new = new.replace(am.group(0), _attr(name, got, quote, am.group(2) or "="), 1)
        for hm in re.finditer(r"#([\w-]+)", _ATTR_SEL.sub("", compound)):
            got = el.get("id")
            if got and got != hm.group(1) and not generated(got):
                new = new.replace(hm.group(0), f"#{got}" if _IDENT.match(got) else _attr("id", got, quote), 1)
        own = (el.get("class") or "").split()
        for cm in re.finditer(r"\.([\w-]+)", _ATTR_SEL.sub("", compound)):
            if cm.group(1) in own:
                continue
            best = max(
                (c for c in own if not generated(c)), key=lambda c: similarity(cm.group(1), c), default=None
            )
            if best and similarity(cm.group(1), best) >= 0.25:  # a word, or a synonym, in common
                new = re.sub(rf"\.{re.escape(cm.group(1))}(?![\w-])", f".{best}", new, count=1)
        tag = re.match(r"^[a-zA-Z][\w-]*", new)
        if tag and tag.group(0).lower() != dom.tag(el):
            new = dom.tag(el) + new[tag.end() :]
        new_head = self._substitute_head(head, el, quote)
        if new != compound or new_head != head:
            yield new_head + new
            if head and new != compound:
                yield new
        if new_head != head:
            # The container got a new name, and the element itself has nothing stable of its own:
            # keep the container's new name and place the element in it.
            for compound_ in self._stable_compounds(el, quote, positional=True):
                yield f"{new_head.rstrip()} {compound_}"

    def _substitute_head(self, head: str, el: Element, quote: str) -> str:
        """Ancestor compounds whose attribute is gone, renamed after the nearest same-tag ancestor
        holding the old value under another attribute (``tr[data-id='1042']`` → ``[data-row-key]``)."""
        dom = self.dom
        out = head
        for am in _ATTR_SEL.finditer(head):
            name = am.group(1).lower()
            value = next((v for v in am.group(3, 4, 5) if v is not None), None)
            if value is None:
                continue
            before = head[: am.start()]
            tag_m = re.search(r"([a-zA-Z][\w-]*)[^\s>+~]*$", before)
            tag = tag_m.group(1).lower() if tag_m and not before.endswith((" ", ">")) else None
            boxes = [a for a in el.iterancestors() if tag in (None, dom.tag(a))]
            if any(dom.get(a, name) == value for a in boxes):
                continue
            for box in boxes:
                other = next((k for k, v in dom.attrs(box).items() if v == value and k != name), None)
                if other:
                    out = out.replace(am.group(0), _attr(other, value, quote, am.group(2) or "="), 1)
                    break
            else:
                # The row became another element too (a <tr data-order> now a grid's <div row-id>):
                # the nearest ancestor holding the value, under its own tag and attribute.
                for box in el.iterancestors() if tag else ():
                    other = next((k for k, v in dom.attrs(box).items() if v == value and k != name), None)
                    if other:
                        new = f"{dom.tag(box)}{_attr(other, value, quote, am.group(2) or '=')}"
                        out = out.replace(f"{tag}{am.group(0)}", new, 1)
                        break
        return out

    def _stable_compounds(
        self, el: Element, quote: str, *, positional: bool = False, modifiers: bool = False
    ) -> Iterator[str]:
        """Stable ways to name ``el`` alone; with ``modifiers``, only its modifier classes."""
        dom = self.dom
        tag = dom.tag(el)
        attrs = dom.attrs(el)
        for name in (self.test_id_attr, *TEST_ID_ATTRS):
            value = attrs.get(name)
            if value and not generated(value):
                yield _attr(name, value, quote)
        ident = attrs.get("id")
        if ident and not generated(ident):
            yield f"#{ident}" if _IDENT.match(ident) else _attr("id", ident, quote)
        for name in ("name", "aria-label", "placeholder", "title", "alt", "for", "formcontrolname",
                     "ng-reflect-name", "autocomplete"):
            value = attrs.get(name)
            if value and not generated(value) and len(value) <= 60:
                yield f"{tag}{_attr(name, value, quote)}"
        classes = [c for c in (attrs.get("class") or "").split() if not generated(c) and _IDENT.match(c)]
        counts = {c: sum(1 for e in dom.content if c in (e.get("class") or "").split()) for c in classes}
        for cls in sorted(classes, key=lambda c: counts[c]):
            if modifiers == _modifier(cls):
                yield f"{tag}.{cls}"
        if modifiers:
            return
        for cls in (attrs.get("class") or "").split():
            module = _CSS_MODULE.match(cls)
            if module:  # CSS modules: the name part is the component's, the hash changes every build
                yield f"{tag}{_attr('class', module.group(1), quote or chr(34), '*=')}"
        for name, value in attrs.items():
            # A row's key (data-row-key, data-id, row-id): what the app names it by.
            if (name.startswith("data-") or name == "row-id") and name not in TEST_ID_ATTRS and value \
                    and len(value) <= 60 and not generated(value) and not name.startswith("data-v-"):
                yield f"{tag}{_attr(name, value, quote)}"
        for name in ("type", "value", "href", "role"):
            value = attrs.get(name)
            if name == "value" and dom.editable(el):
                continue  # what a field holds is its state, and what the tests type or expect in it
            if value and len(value) <= 60 and not generated(value):
                yield f"{tag}{_attr(name, value, quote)}"
        parent = el.getparent()
        if positional and parent is not None:  # only ever inside a named container
            same = [c for c in parent if isinstance(c.tag, str)]
            yield f"{tag}:nth-child({same.index(el) + 1})"

    # -- XPath
    def _xpath_by_label(self, el: Element) -> Iterator[Step]:
        """A field found by its label's text, when only a generated id ties them (Selenium has no
        getByLabel): ``//select[@id=//label[normalize-space()='Sort by']/@for]``."""
        dom = self.dom
        ident = el.get("id")
        for label in dom._labels_for.get(ident or "", []) if ident else []:
            text = dom.text(label)
            if text and "'" not in text:
                yield Step(XPATH, f"//{dom.tag(el)}[@id=//label[normalize-space()='{text}']/@for]")
        for ref in (el.get("aria-labelledby") or "").split():
            named = dom.by_id(ref)
            text = dom.text(named) if named is not None else ""
            if text and "'" not in text:
                tag = dom.tag(named)
                by_name = f"//{tag}[normalize-space()='{text}']/@id"
                yield Step(XPATH, f"//{dom.tag(el)}[@aria-labelledby={by_name}]")

    def _xpath(self, old: str, el: Element) -> Iterator[Step]:
        dom = self.dom
        quote = "'" if "'" in old or '"' not in old else '"'
        steps = xpath_steps(old)
        new_steps = [self._xpath_step(s, el, i == len(steps) - 1) for i, s in enumerate(steps)]
        new = "".join(new_steps)
        if new != old:
            yield Step(XPATH, new)
        for source in dict.fromkeys([old, new]):
            for relaxed, kept in xpath_relaxed(source):
                if kept > _BARE_LAST:  # not the step stripped of what named it: //tr[...]//button
                    yield Step(XPATH, relaxed)
        attrs, tag, text = dom.attrs(el), dom.tag(el), dom.text(el)
        head = "".join(new_steps[:-1])
        for name in (self.test_id_attr, *TEST_ID_ATTRS, "id", "name", "aria-label", "placeholder"):
            value = attrs.get(name)
            if value and not generated(value) and quote not in value:
                if head:
                    yield Step(XPATH, f"{head}//{tag}[@{name}={quote}{value}{quote}]")
                yield Step(XPATH, f"//{tag}[@{name}={quote}{value}{quote}]")
        if text and len(text) <= 60 and quote not in text:
            style = "text()" if "text()" in old else "normalize-space()"
            yield Step(XPATH, f"//{tag}[{style}={quote}{text}{quote}]")

    def _xpath_step(self, step: str, el: Element, last: bool) -> str:
        """One location step with its predicates' values taken from the element (the last step) or
        from the nearest ancestor of the same tag that has the attribute (an ancestor step)."""
        dom = self.dom
        m = re.match(r"^(/{1,2})([\w*-]+)", step)
        if not m:
            return step
        tag = m.group(2).lower()
        if last:
            source = el
            if tag not in ("*", dom.tag(el)):
                step = m.group(1) + dom.tag(el) + step[m.end():]
        else:
            source = None
        text = dom.text(el) if last else ""
        out = step
        for pm in re.finditer(r"""@([\w:-]+)\s*=\s*(["'])(.*?)\2""", step):
            name = pm.group(1).lower()
            holder = source if last else next(
                (a for a in el.iterancestors() if tag in ("*", dom.tag(a)) and a.get(name) is not None), None
            )
            got = dom.get(holder, name) if holder is not None else None
            if got and got != pm.group(3) and not generated(got) and pm.group(2) not in got:
                out = out.replace(pm.group(0), f"@{pm.group(1)}={pm.group(2)}{got}{pm.group(2)}", 1)
            elif holder is None and not last:
                # The container lost that attribute: name it by its class most like the old value.
                box = next((a for a in el.iterancestors() if tag in ("*", dom.tag(a))), None)
                classes = [c for c in ((box.get("class") or "").split() if box is not None else [])
                           if not generated(c) and pm.group(2) not in c]
                best = max(classes, key=lambda c: similarity(pm.group(3), c), default=None)
                if best and similarity(pm.group(3), best) >= 0.5:
                    q = pm.group(2)
                    has_class = f"contains(concat(' ',normalize-space(@class),' '),{q} {best} {q})"
                    out = out.replace(pm.group(0), has_class, 1)
        if last and text:
            equal = r"""((?:text\(\)|normalize-space\([^)]*\)|\.)\s*=\s*)(["'])(.*?)\2"""
            for pm in re.finditer(equal, step):
                q = pm.group(2)
                if q in text:
                    continue
                if pm.group(1).startswith("text()") and text not in [el.text, *(c.tail for c in el)]:
                    # The words moved into a <span>, or sit beside an icon with spaces around them:
                    # no text node equals them, so text()= never would; the whole text says them.
                    out = out.replace(pm.group(0), f"normalize-space()={q}{text}{q}", 1)
                elif text != pm.group(3):
                    out = out.replace(pm.group(0), f"{pm.group(1)}{q}{text}{q}", 1)
            for pm in re.finditer(
                r"""(contains\(\s*(?:text\(\)|\.|normalize-space\([^)]*\))\s*,\s*)(["'])(.*?)\2""", step
            ):
                if pm.group(3) not in text and pm.group(2) not in text:
                    out = out.replace(pm.group(0), f"{pm.group(1)}{pm.group(2)}{text}{pm.group(2)}", 1)
        return out


# xpath_relaxed's weight for the last step stripped of its predicates: it finds the element by where
# it is only, and a locator that no longer names it would find whatever else comes to stand there.
_BARE_LAST = 0.4


# Class names of a state or a colour: is-open, card--active, ant-tag-orange, badge_red.
_STATE_CLASS = re.compile(
    r"(?:^|[-_])(?:is|has)[-_]|(?:^|[-_])(?:active|selected|checked|disabled|open|closed|current|expanded|"
    r"collapsed|focused|hover|error|success|warning|danger|red|green|blue|orange|yellow|purple|gray|grey)$"
)


def _modifier(cls: str) -> bool:
    """A class that says which state the element is in (``ant-tag-orange`` for "In maintenance",
    ``card--active``, ``is-selected``) rather than what the element is."""
    return bool(_STATE_CLASS.search(cls))


# A custom element's tag: a component's name (app-hb-reading, sl-input), never a built-in element's.
_COMPONENT = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)+$")


def _own_text(el: Element) -> str:
    return " ".join("".join([el.text or "", *(c.tail or "" for c in el)]).split())


def _quote_style(selector: str) -> str:
    if re.search(r"=\s*'", selector):
        return "'"
    if re.search(r'=\s*"', selector) or not selector:
        return '"'
    return ""  # unquoted: [data-cy=submit]


def _attr(name: str, value: str, quote: str, op: str = "=") -> str:
    if quote == "" and _IDENT.match(value):
        return f"[{name}{op}{value}]"
    q = quote or '"'
    if q in value:
        q = "'" if q == '"' else '"'
    return f"[{name}{op}{q}{value}{q}]"


def _prefix(selector: str) -> str:
    compound = last_compound(selector)
    if not compound or not selector.endswith(compound):
        return ""
    return re.sub(r"\s*[>+~]?\s*$", "", selector[: -len(compound)]).strip()


def _relaxed(selector: str) -> Iterator[str]:
    """The same selector with what a wrapper or a reordering breaks taken out."""
    seen = {selector}
    out = []
    no_child = re.sub(r"\s*>\s*", " ", selector)
    no_pos = _POSITIONAL.sub("", selector)
    both = _POSITIONAL.sub("", no_child)
    out += [no_child, no_pos, both]
    parts = re.split(r"\s+(?![^\[]*\])(?![^(]*\))", both.strip())
    for i in range(1, len(parts)):
        out.append(" ".join(parts[i:]))
    for s in out:
        s = s.strip()
        if s and s not in seen and not s.endswith((">", "+", "~")):
            seen.add(s)
            yield s
