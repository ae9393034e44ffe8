"""Weighing the elements of a snapshot as the one a broken locator meant.

Evidence comes from clues the broken locator and the spec give: the attribute it named (a renamed
``data-testid`` most likely moved to a new ``data-testid`` value on an element of the same kind), the
text, role, name, label or placeholder it named, the tag and ancestors a CSS selector or XPath named,
the name the spec gives the element (``const emailInput = ...``), and what the test types into it.
Independent clues combine as a noisy-or. Then what the test does with the element gates it: a field
that is filled must be editable, a checkbox checkable, a select a select; a click prefers something
clickable. Elements other locators of the spec still find are someone else's and weigh little.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property

from healloop.agent.healing.dom import NAME_FROM_CONTENT, Dom, Element
from healloop.agent.healing.locators import (
    ALT,
    CONTAINS,
    CSS,
    LABEL,
    LINK_TEXT,
    PARTIAL_LINK_TEXT,
    PLACEHOLDER,
    PLAYWRIGHT,
    ROLE,
    TESTID,
    TEXT,
    TITLE,
    XPATH,
    Step,
)
from healloop.agent.healing.words import (
    GENERIC,
    STOP,
    canon,
    contains_text,
    fits_input,
    framework_word,
    generated,
    label_words,
    nameless,
    similarity,
    text_similarity,
    typed_kind,
    words,
)

TEST_ID_ATTRS = (
    "data-testid",
    "data-test-id",
    "data-test",
    "data-cy",
    "data-qa",
    "data-e2e",
    "data-id",
    "data-automation-id",
    "data-automation",
    "data-hook",
    "data-selector",
    "data-role",
    "data-pw",
)
# Attributes that give an element its accessible name.
NAME_ATTRS = ("aria-label", "title", "alt", "placeholder")
# How much a matching value of each attribute says about identity.
# All the hand-written classes of a selector whose generated class changed, on one element alone.
_UNIQUE_CLASSES = 0.8
_ATTR_WEIGHT = {
    "id": 0.9,
    "name": 0.9,
    "class": 0.55,
    "for": 0.6,
    "href": 0.6,
    "type": 0.3,
    "value": 0.6,
    "aria-label": 0.85,
    "placeholder": 0.8,
    "title": 0.75,
    "alt": 0.8,
    "role": 0.3,
}
_MIN_SIGNAL = 0.3  # similarities below this are noise, not evidence
_SUPPORTED = 0.3  # what the locator said must fit this well before the spec's context adds to it
_FLOOR = 0.15  # in the soft product, a clue that does not fit at all weighs this much, not zero
_NEAR_SAME = 0.85  # a text this similar is the same text respelled, not a part of it
SUBSTRING = "substring"  # a text clue matched as Playwright matches getByText: inside, any case


@dataclass
class Clues:
    """What the broken step and the spec say about the element that was meant."""

    attrs: list[tuple[str, str, str]] = field(default_factory=list)  # (attribute, value, operator)
    texts: list[tuple[str, str]] = field(default_factory=list)  # (kind, value): text, name, label, ...
    role: str | None = None
    tag: str | None = None
    words: list[str] = field(default_factory=list)  # names the spec gives it
    # (attribute, value, operator) of containers the locator passes through (form#login, fieldset[@id])
    ancestors: list[tuple[str, str, str]] = field(default_factory=list)
    typed: str | None = None
    action: str | None = None
    expects: str | None = None  # the text an assertion expects the element to show
    states: bool = False  # the spec asserts whether it is enabled: only a control can be
    value: str | None = None  # the value the spec asserts the field holds
    option: str | None = None  # the option the test picks in it (select_option('Spectrograph'))
    comment: set[str] = field(default_factory=set)  # words of the spec's comment on its locator

    def describe(self) -> dict[str, object]:
        return {
            k: v
            for k, v in {
                "attrs": self.attrs,
                "texts": self.texts,
                "role": self.role,
                "tag": self.tag,
                "names": self.words,
                "action": self.action,
                "asserts_enabled": self.states,
                "option": self.option,
                "comment": sorted(self.comment),
            }.items()
            if v
        }


_ATTR_SEL = re.compile(
    r"""\[\s*([\w:-]+)\s*(?:([~|^$*]?=)\s*(?:"((?:\\.|[^"\\])*)"|'((?:\\.|[^'\\])*)'|([^\]\s]*)))?\s*[is]?\s*\]"""
)
_COMPOUND_SPLIT = re.compile(r"\s*[>+~]\s*|\s+(?![^\[]*\])(?![^(]*\))")


def last_compound(selector: str) -> str:
    parts = [p for p in _COMPOUND_SPLIT.split(selector.strip()) if p]
    return parts[-1] if parts else ""


def css_clues(selector: str, clues: Clues) -> None:
    compound = last_compound(selector)
    m = re.match(r"^([a-zA-Z][\w-]*)", compound)
    if m:
        clues.tag = m.group(1).lower()
    for am in _ATTR_SEL.finditer(compound):
        value = next((v for v in am.group(3, 4, 5) if v is not None), None)
        if value is not None:
            clues.attrs.append((am.group(1).lower(), value, am.group(2) or "="))
    plain = _ATTR_SEL.sub("", compound)
    plain = re.sub(r"(?<!\\):[\w-]+(?:\([^)]*\))?", "", plain)  # pseudo-classes, not an escaped \:
    for kind, value in re.findall(r"([#.])((?:\\[0-9a-fA-F]{1,6}\s?|\\.|[\w-])+)", plain):
        clues.attrs.append(("id" if kind == "#" else "class", css_unescape(value), "="))
    for text in re.findall(r""":(?:has-text|text|text-is|contains)\(\s*["']([^"']+)["']""", compound):
        clues.texts.append((TEXT, text))


def css_unescape(ident: str) -> str:
    r"""A CSS identifier as the attribute holds it: ``\:r5\:`` → ``:r5:``, ``\31 23`` → ``123``."""
    return re.sub(
        r"\\([0-9a-fA-F]{1,6})\s?|\\(.)",
        lambda m: chr(int(m.group(1), 16)) if m.group(1) else m.group(2),
        ident,
    )


_XP_ATTR = re.compile(r"""@([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_XP_CONTAINS_ATTR = re.compile(r"""contains\(\s*@([\w:-]+)\s*,\s*(?:"([^"]*)"|'([^']*)')\s*\)""")
_XP_TEXT = re.compile(
    r"""(?:text\(\)|normalize-space\((?:text\(\)|\.)?\)|\.)\s*=\s*(?:"([^"]*)"|'([^']*)')"""
)
_XP_CONTAINS_TEXT = re.compile(
    r"""contains\(\s*(?:text\(\)|normalize-space\((?:text\(\)|\.)?\)|\.|string\(\))\s*,\s*(?:"([^"]*)"|'([^']*)')\s*\)"""
)


_AXIS = re.compile(
    r"^(?:(following-sibling|preceding-sibling|following|preceding|descendant-or-self|descendant|child|self)::)"
)


def xpath_clues(expr: str, clues: Clues) -> None:
    steps = re.split(r"/(?![^\[]*\])", expr.strip())
    last = steps[-1]
    axis = _AXIS.match(last)
    if axis:
        last = last[axis.end() :]
        before = steps[-2] if len(steps) > 1 else ""
        if axis.group(1) in ("following-sibling", "following") and re.match(r"^label\b", before):
            # //label[text()='ZIP code']/following-sibling::input: the field that label labels.
            for tm in list(_XP_TEXT.finditer(before)) + list(_XP_CONTAINS_TEXT.finditer(before)):
                clues.texts.append((LABEL, tm.group(1) if tm.group(1) is not None else tm.group(2)))
    m = re.match(r"^([a-zA-Z][\w-]*)", last)
    if m and m.group(1) not in ("text", "node"):
        clues.tag = m.group(1).lower()
    for am in _XP_ATTR.finditer(last):
        clues.attrs.append(
            (am.group(1).lower(), am.group(2) if am.group(2) is not None else am.group(3), "=")
        )
    for am in _XP_CONTAINS_ATTR.finditer(last):
        clues.attrs.append(
            (am.group(1).lower(), am.group(2) if am.group(2) is not None else am.group(3), "*=")
        )
    for tm in list(_XP_TEXT.finditer(last)) + list(_XP_CONTAINS_TEXT.finditer(last)):
        clues.texts.append((TEXT, tm.group(1) if tm.group(1) is not None else tm.group(2)))


def ancestor_clues(path: str, kind: str, clues: Clues) -> None:
    """Attributes the ancestor part of a CSS selector or an XPath names."""
    if kind == CSS:
        for compound in [c for c in re.split(r"\s*[>+~]\s*|\s+(?![^\[]*\])(?![^(]*\))", path) if c]:
            tmp = Clues()
            css_clues(compound, tmp)
            clues.ancestors += tmp.attrs
            clues.ancestors += [("#text", value, "*=") for _, value in tmp.texts]  # li:has-text('x')
    else:
        for am in _XP_ATTR.finditer(_without_child_tests(path)):
            value = am.group(2) if am.group(2) is not None else am.group(3)
            clues.ancestors.append((am.group(1).lower(), value, "="))
        # A container holding this text: exactly, as an element's whole text ([.//span[text()='X']]),
        # or anywhere in it (contains()).
        for pattern, op in ((_XP_TEXT, "="), (_XP_CONTAINS_TEXT, "*=")):
            for tm in pattern.finditer(path):
                clues.ancestors.append(("#text", tm.group(1) if tm.group(1) is not None else tm.group(2), op))


def _without_child_tests(path: str) -> str:
    """The XPath less its predicates that test a child element (li[span[@class='name']]): their
    attributes are a descendant's of that step, not an ancestor's of the element meant."""
    out, i = [], 0
    while i < len(path):
        m = re.match(r"\[(?:\.?//)?[A-Za-z_][\w.-]*(?![\w.-]*\s*\()", path[i:]) if path[i] == "[" else None
        if m:
            depth, j = 0, i
            while j < len(path):
                depth += {"[": 1, "]": -1}.get(path[j], 0)
                j += 1
                if depth == 0:
                    break
            i = j
            continue
        out.append(path[i])
        i += 1
    return "".join(out)


def logit(p: float) -> float:
    p = min(max(p, 0.02), 0.98)
    return math.log(p / (1 - p))


def clues_of(
    step: Step,
    *,
    test_id_attr: str,
    action: str | None,
    typed: str | None,
    words: list[str],
    flavor: str = PLAYWRIGHT,
) -> Clues:
    clues = Clues(action=action, typed=typed, words=[w for w in words if w])
    kind = step.kind
    if kind == CSS:
        css_clues(step.value, clues)
    elif kind == XPATH:
        xpath_clues(step.value, clues)
    elif kind == TESTID:
        clues.attrs.append((test_id_attr, step.value, "="))
    elif kind in ("id", "name"):
        clues.attrs.append((kind, step.value, "="))
    elif kind == ROLE:
        clues.role = step.value
        if step.name:
            clues.texts.append(("name", step.name))
    elif kind in (TEXT, LINK_TEXT, PARTIAL_LINK_TEXT):
        clues.texts.append((TEXT if kind != PARTIAL_LINK_TEXT and (step.exact or flavor != PLAYWRIGHT)
                            else SUBSTRING, step.value))
        if kind != TEXT:
            clues.tag = "a"
    elif kind in (LABEL, PLACEHOLDER, ALT, TITLE):
        clues.texts.append((kind, step.value))
    elif kind == CONTAINS:
        if step.name:
            clues.texts.append((CONTAINS, step.name))
        if step.value:
            css_clues(step.value, clues)
    return clues


@dataclass
class Scored:
    element: Element
    score: float
    evidence: float
    factor: float
    reasons: list[str]
    # The same evidence as a sum of log-odds, each clue counted in full (not averaged): how two
    # candidates compare. A clue only one of them fits moves this by its whole weight.
    weight: float = 0.0


# Roles one control moves between when a design system restyles it.
_ROLE_FAMILIES = (
    frozenset({"button", "link", "menuitem", "tab"}),
    frozenset({"checkbox", "switch", "menuitemcheckbox"}),
    frozenset({"radio", "menuitemradio", "option", "tab"}),
    frozenset({"combobox", "listbox", "textbox", "searchbox"}),
)
# Tags that say what an element is, so a locator naming one has named a kind of element.
_TELLING_TAGS = frozenset({
    "nav", "form", "table", "dialog", "header", "footer", "aside", "main", "section", "fieldset", "ul", "ol",
    "select", "textarea", "thead", "tbody", "tfoot", "details", "summary", "figure", "article",
})
# Containers that are a place on the page (a form, a row): part of what a name like login-error names.
_PLACES = frozenset({"form", "fieldset", "section", "dialog", "tr", "li", "article", "aside"})
# Containers a test does not click as a whole.
_CONTAINERS = frozenset({
    "dialog", "form", "table", "section", "nav", "main", "header", "footer", "aside", "ul", "ol", "fieldset",
    "tbody", "thead", "body", "h1", "h2", "h3", "h4", "h5", "h6",
})
# Elements that hold content of their own: text inside one of these is theirs, not their parent's.
_BOXES = frozenset({
    "div", "p", "form", "ul", "ol", "li", "table", "tr", "td", "th", "section", "article", "aside", "nav",
    "header", "footer", "main", "fieldset", "input", "button", "select", "textarea", "label", "h1", "h2",
    "h3", "h4", "h5", "h6", "dl", "dt", "dd", "dialog", "details", "figure",
})
# Words in a name that say what kind of element it is.
KIND_WORDS = {
    "row": {"tr", "row"}, "cell": {"td", "cell", "gridcell"},
    "item": {"li", "listitem", "option", "menuitem"},
    "link": {"a", "link"}, "btn": {"button"}, "button": {"button"}, "input": {"input", "textarea", "textbox"},
    "field": {"input", "textarea", "select", "textbox"}, "checkbox": {"checkbox"}, "radio": {"radio"},
    "select": {"select", "combobox", "listbox"}, "dropdown": {"select", "combobox", "listbox", "menu"},
    "table": {"table"}, "list": {"ul", "ol", "list"}, "heading": {"h1", "h2", "h3", "h4", "heading"},
    "title": {"h1", "h2", "h3", "heading"}, "tab": {"tab"}, "dialog": {"dialog"}, "modal": {"dialog"},
    "textarea": {"textarea"}, "img": {"img"}, "image": {"img"}, "form": {"form"},
    "toggle": {"switch", "checkbox"},
    "switch": {"switch", "checkbox"}, "menu": {"menu", "menubar", "nav"}, "nav": {"nav", "navigation"},
    # Consents and preferences are ticked.
    "error": {"alert"}, "alert": {"alert", "alertdialog"}, "status": {"status"},
    "accept": {"checkbox", "switch"}, "agree": {"checkbox", "switch"}, "consent": {"checkbox", "switch"},
    "remember": {"checkbox", "switch"}, "optin": {"checkbox", "switch"}, "subscribe": {"checkbox", "switch"},
}
# Words of a locator that name what a form's submit button does.
_FORM_ACTIONS = frozenset({"submit", "signin", "signup", "checkout", "save", "next", "search", "subscribe",
                           "register", "apply", "create", "add", "accept"})


class Scorer:
    def __init__(self, dom: Dom, clues: Clues, *, claimed: dict[Element, str],
                 neighbours: list[Element] | None = None, unique: bool = True,
                 relaxed: dict[Element, tuple[float, str]] | None = None,
                 where: tuple[set[Element], str] | None = None) -> None:
        self.dom, self.clues, self.claimed = dom, clues, claimed
        # The broken step alone was meant to find one element (not a row among rows narrowed by its
        # text or position afterwards): a name many elements share then fits it poorly.
        self.unique = unique
        self.relaxed = relaxed or {}  # elements the broken step finds alone once what broke is out
        self.where = where  # (elements, why): inside what the locator's scope or path still finds
        # Elements the same test still finds: the one it lost is most likely near them.
        self.neighbours = neighbours or []
        self._near_ancestors = {a for n in self.neighbours for a in (n, *n.iterancestors())}
        self._sizes: dict[Element, int] = {}
        self.closest = 0  # the smallest shared subtree over the pool, set by prepare()
        self._present: dict[str, bool] = {}
        self._role_names: dict[str | None, list[frozenset[str]]] = {}
        self.only_free = None
        self.word_counts: dict[str, int] = {}
        self.class_counts: dict[str, int] = {}
        for el in dom.content:
            for cls in set((el.get("class") or "").split()):
                self.class_counts[cls] = self.class_counts.get(cls, 0) + 1
            for w in {canon(w) for cls in (el.get("class") or "").split() for w in words(cls)}:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1

    def text_present(self, value: str) -> bool:
        got = self._present.get(value)
        if got is None:
            got = self._present[value] = contains_text(self.dom.text(self.dom.body), value, case=True)
        return got

    def prepare(self, pool: list[Element]) -> None:
        # Closeness is measured against the candidates the test could mean: ones it can act on that
        # no other locator already finds (a field's own label is close to it and means nothing).
        able = [el for el in pool if el not in self.claimed and self.dom.visible(el) and self.gate(el)]
        sizes = [s for s in (self._shared(el) for el in able) if s]
        self.closest = min(sizes) if sizes else 0
        # By elimination: when the test types into (checks, selects) a field, and the area holding the
        # test's other elements has exactly one such field that no other locator of the spec uses,
        # that field is most likely the one.
        self.only_free: Element | None = None
        if self.clues.action in ("fill", "check", "select") and self.neighbours:
            area = self._area()
            free = [el for el in pool if el in area and el not in self.claimed and self.dom.visible(el)
                    and self.gate(el)]
            if len(free) == 1:
                self.only_free = free[0]

    @cached_property
    def shapes(self) -> dict[tuple[str, str], int]:
        """How many elements carry each generated value's form, per attribute the locator named
        (headlessui-combobox-input-:r7: is of the form headlessui-combobox-input-:r:)."""
        out: dict[tuple[str, str], int] = {}
        for attr, value, _ in self.clues.attrs:
            if generated(value):
                for el in self.dom.elements:
                    got = el.get(attr)
                    if got and generated(got):
                        key = (attr, _generated_shape(got))
                        out[key] = out.get(key, 0) + 1
        return out

    def _area(self) -> set[Element]:
        """The elements inside the smallest subtree holding all of the test's other elements."""
        common = None
        for n in self.neighbours:
            chain = [n, *n.iterancestors()]
            common = chain if common is None else [a for a in chain if a in set(common)]
        top = common[0] if common else self.dom.body
        return set(top.iter())

    def gate(self, el: Element) -> bool:
        action = self.clues.action
        if (action == "enable" or self.clues.states) and not self.dom.can_disable(el):
            return False
        if action == "fill":
            return self.dom.editable(el)
        if action == "check":
            return self.dom.checkable(el)
        if action == "select":
            return self.dom.selectable(el)
        return True

    def _size(self, el: Element) -> int:
        size = self._sizes.get(el)
        if size is None:
            size = self._sizes[el] = sum(1 for d in el.iter() if isinstance(d.tag, str))
        return size

    def _shared(self, el: Element) -> int:
        """Elements in the smallest subtree holding ``el`` and one of the test's other elements."""
        if not self._near_ancestors:
            return 0
        for a in el.iterancestors():
            if a in self._near_ancestors:
                size = self._sizes.get(a)
                if size is None:
                    size = self._sizes[a] = sum(1 for d in a.iter() if isinstance(d.tag, str))
                return size
        return 0

    def _near(self, el: Element) -> tuple[float, str] | None:
        """Closest to the test's other elements among the elements it could be (the same form as the
        fields the test fills, not the newsletter box in the footer)."""
        size = self._shared(el)
        if not size or not self.closest:
            return None
        closeness = min(1.0, self.closest / size)
        if closeness < 0.5:
            return None
        return 0.3 * closeness, "as close to the elements the test still finds as any candidate"

    def _ancestor_signal(self, attr: str, value: str, op: str, el: Element) -> tuple[float, str]:
        """A clue about a container the locator passed through, fit by the element's ancestors."""
        if attr == "#text":  # the row holding kofi.mensah@example.com, not the page holding it
            page = self._size(self.dom.body)
            want = " ".join(value.split())
            for a in el.iterancestors():
                if self._size(a) > page / 4:
                    break
                if contains_text(self.dom.text(a), value):
                    # text()='Wonderwall' is not a row of "Wonderwall (acoustic)": an exact test the
                    # row no longer passes exactly weighs less than one it does.
                    if op != "=" or any(" ".join(self.dom.text(d).split()) == want for d in a.iter()
                                        if isinstance(d.tag, str)):
                        return 0.85, f"inside a container holding {value!r}"
                    return 0.6, f"inside a container holding {value!r}, though not as a whole text"
            return 0.0, ""
        best, why = 0.0, ""
        wanted = {canon(w) for w in words(value) if w not in STOP}
        for a in list(el.iterancestors())[:8]:
            names = self._names(a)
            strength, reason = self._attr_signal(attr, value, op, self.dom.attrs(a), names)
            # Every word of the old name among the container's names, attribute names included
            # (li.thread-row → <div class="row" data-thread-id="t-3391">).
            said = {canon(w) for _, v in names for w in words(v)}
            said |= {canon(w) for k in self.dom.attrs(a) if k.startswith("data-") for w in words(k[5:])}
            if len(wanted) >= 2 and wanted <= said and strength < 0.7:
                strength, reason = 0.7, f"every word of {value!r} among its names"
            if strength > best:
                best, why = strength, f"an ancestor: {reason}"
        return best, why

    def _names(self, el: Element) -> list[tuple[str, str]]:
        """What names a container: its attributes (not its text, which is its children's)."""
        out: list[tuple[str, str]] = []
        for k, v in self.dom.attrs(el).items():
            if k == "class":
                out += [("class", c) for c in v.split()]
            elif v and k not in ("style",) and len(v) <= 120:
                out.append((k, v))
        legend = next((c for c in el if isinstance(c.tag, str) and c.tag in ("legend", "caption")), None)
        if legend is not None:
            out.append(("label", self.dom.text(legend)))
        return out

    def _same_name(self, owner: str) -> bool:
        """Another locator finding the element by the very name this one looked for (getByLabel
        and getByRole with the same name) points at the same element, not at someone else's."""
        values = [v for _, v in self.clues.texts] + [v for _, v, _ in self.clues.attrs]
        return any(len(v) >= 3 and v.lower() in owner.lower() for v in values)

    def _opened_by_test(self, el: Element) -> bool:
        """Inside a collapsed menu, dropdown or panel whose toggle the test clicks (a toggle it finds
        with another locator, which controls or sits beside the hidden container)."""
        hidden = [a for a in (el, *el.iterancestors()) if not self.dom.visible(a)]
        if not hidden:
            return False
        top = hidden[-1]  # the outermost hidden container
        ids = {a.get("id") for a in hidden if a.get("id")}
        for toggle in self.claimed:
            controls = set((toggle.get("aria-controls") or "").split())
            is_toggle = controls or toggle.get("aria-expanded") is not None or toggle.get("aria-haspopup")
            if not is_toggle:
                continue
            if controls & ids or (top.getparent() is not None and top.getparent() in toggle.iterancestors()):
                return True
        # A wizard's next step, hidden until the test clicks its Next / Continue button in the same form.
        box = next((a for a in top.iterancestors() if self.dom.tag(a) in ("form", "main", "section")), None)
        for step in self.claimed:
            said = {canon(w) for w in words(self.dom.name(step) or self.dom.text(step))}
            advances = "next" in said and self.dom.clickable(step)
            if advances and box is not None and box in step.iterancestors():
                return True
        return False

    def _kind_word(self, el: Element) -> tuple[float, str] | None:
        """A locator whose name says what kind of element it was (``invoice-row``, ``email-input``,
        ``save-btn``) fits an element of that kind."""
        said = {w for _, v, _ in self.clues.attrs for w in words(v)}
        dom = self.dom
        tag, role = dom.tag(el), dom.role(el) or ""
        for word in said:
            kinds = KIND_WORDS.get(word)
            if kinds and (tag in kinds or role in kinds):
                return 0.3, f"a {tag}, as the word {word!r} in the locator says"
        return None

    def _form_action(self, el: Element) -> tuple[float, str] | None:
        dom = self.dom
        said = {canon(w) for _, v, _ in self.clues.attrs for w in words(v)}
        said |= {canon(w) for _, v in self.clues.texts for w in words(v)}
        said |= {canon(w) for v in self.clues.words for w in words(v)}  # SAVE = (By.CSS_SELECTOR, ...)
        if not said & _FORM_ACTIONS:
            return None
        tag, kind = dom.tag(el), (el.get("type") or "").lower()
        in_form = el.get("form") is not None or any(dom.tag(a) == "form" for a in el.iterancestors())
        if (tag == "button" and kind in ("submit", "") and in_form) or (tag == "input" and kind == "submit"):
            return 0.3, "the form's submit button, and the locator named a form action"
        return None

    def identity(self, el: Element) -> list[tuple[str, str]]:
        """(what, value) pairs that name an element: attributes, accessible name, labels, text."""
        dom = self.dom
        out = []
        for k, v in dom.attrs(el).items():
            if (
                not v
                or k in ("style", "tabindex", "width", "height", "src", "d", "viewbox")
                or k.startswith("on")
            ):
                continue
            if k == "class":
                out += [("class", c) for c in v.split()]
            elif len(v) <= 120:
                out.append((k, v))
        name = dom.name(el)
        if name and len(name) <= 120:
            out.append(("name", name))
        for label in dom.labels(el):
            out.append(("label", label))
        text = dom.text(el)
        if text and len(text) <= 80 and text != name and self._own_content(el):
            out.append(("text", text))
        if dom.tag(el) == "select":  # what a select chooses among says what it is ("1 guest", "2 guests")
            options = [dom.text(o) for o in el.iter("option")][:6]
            out += [("option", o) for o in options if o]
        return out

    def _own_content(self, el: Element) -> bool:
        """Its text is its own, not a container's sum of its children's (a form holding an error
        message is not named by that message)."""
        return not any(isinstance(c.tag, str) and self.dom.tag(c) in _BOXES for c in el.iter() if c is not el)

    def score(self, el: Element) -> Scored:
        """Evidence that ``el`` is the element meant, times the gates of what the test does with it.

        What the locator itself said (each attribute, the classes, each text) must all fit: they
        combine as a soft product, so an element fitting both the text and the container a locator
        named beats one fitting only the text. What the spec says around it (the name it gives the
        element, what it types, the elements beside it, a form action) only adds to that."""
        dom, clues = self.dom, self.clues
        ident = self.identity(el)
        attrs = dom.attrs(el)
        named: list[tuple[float, str]] = []
        for attr, value, op in clues.attrs:
            if attr != "class":
                named.append(self._attr_signal(attr, value, op, attrs, ident, self._container_words(el)))
        classes = [value for attr, value, _ in clues.attrs if attr == "class"]
        if classes:
            named.append(self._class_signal(classes, el, attrs, ident))
        for kind, value in clues.texts:
            named.append(self._text_signal(kind, value, el, ident))
        if not self._moved_here(el, ident):
            for attr, value, op in clues.ancestors:
                named.append(self._ancestor_signal(attr, value, op, el))
        if clues.tag in _TELLING_TAGS:
            # The locator named a tag that says what the element is (a <nav>, a <form>, a <select>).
            same = dom.tag(el) == clues.tag
            named.append((0.7, f"a <{clues.tag}>, as the locator says") if same else (0.0, ""))
        if self.relaxed:  # then not being found that way is a clue too
            named.append(self.relaxed.get(el, (0.0, "")))
        reasons = [f"{why} ({s:.2f})" for s, why in sorted(named, reverse=True) if s >= _MIN_SIGNAL]
        core = 0.0
        weight = 0.0
        if clues.attrs and all(nameless(v) for _, v, _ in clues.attrs) and not clues.texts:
            # A generated name (mat-input-2, :r3:) says only what kind of element it was: an element of
            # that kind is as likely as any; what the spec says around it decides.
            kinds = {w for _, v, _ in clues.attrs for w in words(v) if w in KIND_WORDS}
            role = dom.role(el) or ""
            fits = any(dom.tag(el) in KIND_WORDS[w] or role in KIND_WORDS[w] for w in kinds)
            kind = (0.5, f"of the kind the generated name {clues.attrs[0][1]!r} names")
            neutral = (0.35, "") if not kinds else (0.1, "")
            named = [kind if fits else neutral]
        if named:
            product = 1.0
            for strength, _ in named:
                product *= _FLOOR + (1 - _FLOOR) * min(strength, 1.0)
            core = (product ** (1 / len(named)) - _FLOOR) / (1 - _FLOOR)
            weight = sum(logit(_FLOOR + (1 - _FLOOR) * min(strength, 1.0)) for strength, _ in named)
        support: list[tuple[float, str]] = []
        wrapper = self._wrapper_names(el) if clues.words or clues.comment else []
        subject = set(words(dom.subject))
        for word in clues.words:
            # episodeTitle on a page headed "Edit episode": the page's subject is every field's, so
            # the name says Title; the search field's "Search episodes" is no closer for "episode".
            own = "-".join(w for w in words(word) if w not in subject) or word
            best = max((max(similarity(word, v), similarity(own, v)) for _, v in ident), default=0.0)
            if best >= 0.5:
                support.append((0.4 * best, f"the spec calls it {word!r}"))
                continue
            # START_DATE for an input whose label says "First day off", in div.form-field.start-date:
            # the field's own wrapper is named for it.
            best = max((max(similarity(word, v), similarity(own, v)) for v in wrapper), default=0.0)
            if best >= 0.8:
                support.append((0.4 * best, f"the spec calls it {word!r}, as the field around it is named"))
        if clues.typed:
            hint = typed_kind(clues.typed)
            if hint:
                kind, hint_words = hint
                if dom.input_type(el) == kind or any(
                    any(w in v.lower() for w in hint_words)
                    for k, v in ident
                    if k in ("name", "id", "label", "placeholder", "autocomplete", "type", "aria-label")
                ):
                    support.append(
                        (0.45, f"the test types {clues.typed[:30]!r} into it, which fits a {kind} field")
                    )
        if clues.typed and _shaped_like_example(clues.typed, el.get("placeholder") or ""):
            # "e.g. SK21 FRY" and the test types "SK21 FRY": a field asks for values of that form.
            support.append((0.45, f"the test types {clues.typed[:30]!r}, shaped like its placeholder's "
                                  f"example {el.get('placeholder')[:40]!r}"))
        if clues.expects and " ".join(dom.text(el).split()) == " ".join(clues.expects.split()):
            # It shows exactly what the test expects (a total of $86.40): had the locator found it,
            # the assertion would pass. A regression changes the text, so this never hides one.
            support.append((0.45, f"shows {clues.expects[:30]!r}, the text the test expects"))
        support += self._commented(el, ident, wrapper)
        if clues.option and self.dom.tag(el) == "select" and _offers(el, clues.option):
            support.append((0.45, f"offers {clues.option[:30]!r}, the option the test picks"))
        if clues.value and el.get("value") == clues.value and self.dom.editable(el):
            # It holds the value a test expects of it (a salary field at 78000 after a reset).
            support.append((0.45, f"holds {clues.value[:30]!r}, the value the spec expects of it"))
        if el is self.only_free:
            support.append((0.45, f"the only {self.clues.action}-able element beside the test's others "
                                  "that no other locator uses"))
        if self.where and el in self.where[0]:
            support.append((0.45, self.where[1]))
        for extra in (self._near(el), self._form_action(el), self._kind_word(el)):
            if extra is not None:
                support.append(extra)
        evidence = core
        if core >= _SUPPORTED:  # support only adds to what the locator said, never stands alone
            # Added as log-odds: support two candidates share moves both alike and leaves the lead
            # between them as it was (a noisy-or would squeeze it near 1).
            odds = logit(core)
            for strength, why in sorted(support, reverse=True):
                odds += 2.2 * strength
                weight += 2.2 * strength
                reasons.append(f"{why} (+{strength:.2f})")
            evidence = 1 / (1 + math.exp(-odds))
        factor, gates = self._factor(el)
        # A gate (not editable, hidden, someone else's) counts twice as log-odds: it is about what the
        # test can do with the element, which no name makes up for.
        weight += 2 * math.log(max(factor, 1e-6))
        return Scored(el, evidence * factor, evidence, factor, reasons + gates, weight)

    def _attr_signal(
        self, attr: str, value: str, op: str, attrs: dict[str, str], ident: list[tuple[str, str]],
        place: set[str] | None = None,
    ) -> tuple[float, str]:
        """The attribute a locator named, on this element: the same attribute with a similar value is
        the strongest sign (a renamed test id stays a test id); the old value in another attribute,
        the label or the text supports it, or stands in for it when the attribute is gone."""
        weight = 1.0 if attr in TEST_ID_ATTRS else _ATTR_WEIGHT.get(attr, 0.8)
        if generated(value):
            weight *= 0.4  # a generated value only says what kind of element it was
        primary, why = 0.0, ""
        if attr in attrs:
            primary, why = _op_similarity(value, attrs[attr], op), f"{attr} {value!r} ~ {attrs[attr]!r}"
            shape = _generated_shape(attrs[attr])
            if (op == "=" and generated(value) and generated(attrs[attr]) and shape == _generated_shape(value)
                    and self.shapes.get((attr, shape)) == 1 and len(words(shape)) >= 2):
                # Only the number moved, and no other element has an id of that form (the page's one
                # Headless UI combobox input): the form says which element, not just what kind.
                weight, primary = _ATTR_WEIGHT.get(attr, 0.8), 0.9
                why += f", the only {attr} of that form on the page"
            if op == "=" and primary < 0.6 and place:
                # "toolbar-bold" in a toolbar (aria-label "Formatting"), now "format-bold": with the
                # words naming its container taken out of both, the two names say the same.
                stems = {_stem(w) for w in place}
                old_own = [canon(w) for w in words(value) if _stem(canon(w)) not in stems]
                new_own = [canon(w) for w in words(attrs[attr]) if _stem(canon(w)) not in stems]
                if old_own and old_own == new_own and len(old_own) < len(words(value)):
                    primary, why = 0.8, f"{attr} {value!r} ~ {attrs[attr]!r}, less what names its container"
        if attr in NAME_ATTRS:
            # The accessible name moved between attributes (a title became an aria-label).
            for other in NAME_ATTRS:
                if other != attr and other in attrs:
                    s = similarity(value, attrs[other]) * 0.85
                    if s > primary:
                        primary, why = s, f"{attr} {value!r} ~ {other} {attrs[other]!r}"
        if attr in TEST_ID_ATTRS or attr == "id":
            # Another test-id attribute: a project moving from data-cy to data-testid, say. Weaker,
            # since a component library's own test ids sit beside the project's.
            for other in TEST_ID_ATTRS:
                if other != attr and other in attrs:
                    s = similarity(value, attrs[other]) * 0.6
                    if s > primary:
                        primary, why = s, f"{attr} {value!r} ~ {other} {attrs[other]!r}"
        cross, cross_why = 0.0, ""
        for what, v in ident:
            if what == attr or what in TEST_ID_ATTRS:
                continue
            s = similarity(value, v)
            if what == "class" and self.unique and self.class_counts.get(v, 0) > 1:
                s /= self.class_counts[v]  # a class several elements share cannot be a renamed test id
            if s > cross:
                cross, cross_why = s, f"{what} {v!r}"
        cross_weight = 0.75 if attr in TEST_ID_ATTRS or attr in ("id", "name") else 0.6
        # A composite name (track-row-tr_7Hq2) may be spread over several attributes now: the row's
        # class says "track row", another attribute holds the id. All its words there fit it.
        wanted = [w for w in words(value) if w not in STOP]
        if len(wanted) >= 3:
            said = {canon(w) for what, v in ident if what != "text" for w in words(v)}
            covered = sum(1 for w in wanted if canon(w) in said) / len(wanted)
            if covered >= 0.99 and cross < 0.8:
                cross, cross_why = 0.8, "every word of it spread over its attributes"
        if attr in attrs and generated(attrs[attr]) and not generated(value):
            # The framework now generates this attribute (an id became ":r1:"): the old name had to
            # go somewhere else, so finding it there is as good as finding it in place.
            cross_weight = 0.95
        if primary >= _MIN_SIGNAL:
            support = 0.5 * cross if cross >= _MIN_SIGNAL else 0.0
            strength = 1 - (1 - weight * primary) * (1 - weight * support)
            return strength, why + (f", and {cross_why}" if support else "")
        return weight * cross_weight * cross, f"{attr} {value!r} ~ {cross_why}"

    def _moved_here(self, el: Element, ident: list[tuple[str, str]]) -> bool:
        """The element moved out of the container the locator named (a "Place order" button from the
        order summary's footer to an action bar): the locator less its container finds it alone, and
        the spec's own name for it (PLACE_ORDER) is its name. Then where it was says nothing of it."""
        found_alone = self.relaxed.get(el, (0.0, ""))[0] >= 0.7
        if not (found_alone and self.clues.ancestors and self.clues.words):
            return False
        own = [v for k, v in ident if k in ("name", "label", "text", "aria-label", "value", "title")]
        return any(similarity(word, v) >= 0.9 for word in self.clues.words for v in own)

    def _commented(
        self, el: Element, ident: list[tuple[str, str]], wrapper: list[str]
    ) -> list[tuple[float, str]]:
        """What the spec's comment on the locator says, on this element: the kind it names ("composer
        textarea") and the words of its name, label, classes or wrapper ("gross annual salary")."""
        comment = {canon(w) for w in self.clues.comment}
        if not comment:
            return []
        dom = self.dom
        tag, role = dom.tag(el), dom.role(el) or ""
        kinds = [w for w in comment if w in KIND_WORDS]
        if kinds and not any(tag in KIND_WORDS[w] or role in KIND_WORDS[w] for w in kinds):
            return []
        out = [(0.3, f"a {tag}, as the spec's comment on its locator says")] if kinds else []
        around = {canon(w) for _, v in ident for w in words(v)}
        around |= {canon(w) for v in wrapper for w in words(v)}
        hit = sorted(w for w in (comment - set(KIND_WORDS) - GENERIC) & around if not framework_word(w))
        if hit:
            # As much as a name the spec gives it (the spec calls it 'x', 0.4 at most): a comment is one.
            out.append((0.4, f"the spec's comment on its locator says {', '.join(hit)}"))
        return out

    def _wrapper_names(self, el: Element) -> list[str]:
        """The hand-written classes and ids of the wrappers that hold ``el`` and no other element of
        its kind (a field's <div class="form-field start-date">), two levels up at most."""
        out: list[str] = []
        tag = self.dom.tag(el)
        for depth, box in enumerate(el.iterancestors()):
            if depth >= 2 or sum(1 for d in box.iter(tag) if d is not el) > 0:
                break
            out += [c for c in (box.get("class") or "").split() if not generated(c)]
            if box.get("id") and not generated(box.get("id")):
                out.append(box.get("id"))
        return out

    def _container_words(self, el: Element) -> set[str]:
        """The words naming the nearest container that has a name of its own (a form#login, a
        fieldset, a row with an id): the place part of a name like ``login-error``."""
        for a in el.iterancestors():
            named = [v for k, v in self._names(a) if k != "class" or not generated(v)]
            boxy = self.dom.tag(a) in _PLACES
            if a.get("id") or a.get("aria-label") or boxy or any(a.get(t) for t in TEST_ID_ATTRS):
                return {canon(w) for v in named for w in words(v)}
        return set()

    def _class_signal(
        self, classes: list[str], el: Element, attrs: dict[str, str], ident: list[tuple[str, str]]
    ) -> tuple[float, str]:
        """One signal for all the classes a selector named, word by word and weighted by how rare each
        word is on the page: ``badge-primary`` fits ``badge bg-primary`` better than ``badge bg-success``
        (every badge has "badge"; only one is primary), and a design-system rename that splits or joins
        class names (``MuiButton-containedPrimary`` into ``-contained`` and ``-colorPrimary``) still fits."""
        wanted = {canon(w) for cls in classes for w in words(cls)}
        own = {canon(w) for cls in (attrs.get("class") or "").split() for w in words(cls)}
        if not wanted:
            return 0.0, "classes"
        # Words no class on the page has cannot be matched by a class: they weigh in what the element
        # is called (below), not here, where they would outweigh every word that can be matched.
        classy = {w for w in wanted if self.word_counts.get(w)} or wanted
        total = sum(self._idf(w) for w in classy)
        got = sum(self._idf(w) for w in classy & own)
        have = (attrs.get("class") or "").split()
        exact = sum(1 for c in classes if c in have)
        strength = got / total if total else 0.0
        if exact == len(classes):
            strength = 1.0
        kept = [c for c in classes if not generated(c)]
        if (kept and len(kept) < len(classes) and all(c in have for c in kept)
                and any(not set(words(c)) <= GENERIC for c in kept)):
            # Only a build hash changed (svelte-1x9k2ab, css-1b9x4m2): the classes a person wrote
            # are all there, on the one element of its kind that has them.
            tag = self.clues.tag
            holders = [e for e in self.dom.content if (not tag or self.dom.tag(e) == tag)
                       and all(c in (e.get("class") or "").split() for c in kept)]
            if holders == [el]:
                why = f"the only one with class {' '.join(kept)}; only a generated class changed"
                return _UNIQUE_CLASSES, why
        matched = sorted(wanted & own)
        # A design-system swap leaves no class word behind; what the classes said (checkout-btn,
        # login-error) may still be in the element's name, text or other attributes.
        said = {canon(w) for what, v in ident if what != "class" for w in words(v)}
        # "row-select": when kind words are all a class says, they are what it says
        core = {w for w in wanted if w not in GENERIC} or wanted
        # Every word alike here: how rare a word is among classes says nothing of names and texts.
        cross = len(core & said) / len(core) if core else 0.0
        if core & said and not core <= said and core <= said | self._container_words(el):
            # "login-error": the error is the element's, the login its form's (form#login)
            cross = max(cross, 0.85)
        if 0.6 * cross > _ATTR_WEIGHT["class"] * strength:
            return 0.6 * cross, f"what the classes said, {sorted(core & said)}, in its name or text"
        return _ATTR_WEIGHT["class"] * strength, f"class words {matched} of {sorted(wanted)}"

    def _idf(self, word: str) -> float:
        """How rare a class word is on the page (1 for a word no element has)."""
        n = self.word_counts.get(word, 0)
        return 1.0 / (1 + n) ** 0.5

    def _text_signal(
        self, kind: str, value: str, el: Element, ident: list[tuple[str, str]]
    ) -> tuple[float, str]:
        dom = self.dom
        if kind in (CONTAINS, SUBSTRING):
            # cy.contains and Playwright's getByText look for text inside an element: the text may well
            # still be there (the selector around it changed). The deepest element holding it is meant.
            case = kind == CONTAINS
            if contains_text(dom.text(el), value, case=case):
                inner = any(
                    isinstance(c.tag, str) and contains_text(dom.text(c), value, case=case) for c in el
                )
                # Alone, cy.contains means the deepest holder; with a selector, the selector's element
                # (a row) holds the text in a child (its cell) as well as the cell does.
                deep = inner and not (self.clues.attrs or self.clues.tag)
                return (0.7 if deep else 0.9), f"holds the text {value!r}" + (" in a child" if inner else "")
            kind = TEXT
        # An icon button's text is its accessible name; a group's or a form's name is not text.
        shows_name = dom.clickable(el) or (dom.role(el) or "") in NAME_FROM_CONTENT
        own = {
            TEXT: [dom.text(el), dom.name(el)] if shows_name else [dom.text(el)],
            "name": [dom.name(el)],
            LABEL: dom.labels(el) or [dom.name(el)],
            PLACEHOLDER: [el.get("placeholder") or ""],
            ALT: [el.get("alt") or ""],
            TITLE: [el.get("title") or ""],
        }.get(kind, [dom.text(el)])
        best, why, best_got = 0.0, "", ""
        for got in own:
            s = text_similarity(value, got)
            if s > best:
                best, why, best_got = s, f"{kind} {value!r} ~ {got!r}", got
        if 0 < best < _NEAR_SAME:
            # A name matched in part ("Email notifications" / "Email: Mentions") says only what the
            # shared words say: when more elements of this kind carry them ("Email: Comments", "Email:
            # Weekly digest"), the old name was split among them and points at none in particular.
            shared = label_words(value) & label_words(best_got)
            sharing = self._sharing(el, shared) if shared else 1
            if sharing > 1:
                best /= sharing ** 0.5
                why += f", as do {sharing - 1} more {dom.role(el) or dom.tag(el)} names"
        # "Search by composer", now "Composer, title or publisher": the search field searches by more
        # than it did, and still names what it searched by. Unless another field names it too.
        if (kind == PLACEHOLDER and best < 0.7 and self.clues.action == "fill" and dom.editable(el)
                and _broadened_search(value, el.get("placeholder") or "")
                and self._sharing(el, _searched_by(value)) == 1):
            best, why = 0.7, f"placeholder {value!r} ~ {el.get('placeholder')!r}, a search broadened"
        for what, v in ident:
            if what in ("type", "role", "inputmode", "class"):
                continue  # what kind of element it is, not what it is called
            same = text_similarity(value, v)
            # The very text as its value or id (value="send" for "Send") names the same control.
            machine = what in ("value", "id", *TEST_ID_ATTRS)  # ("name", ...) is the accessible name
            s = same * (0.85 if same == 1.0 and machine else 0.7)
            if s > best:
                best, why = s, f"{kind} {value!r} ~ {what} {v!r}"
        return 0.95 * best, why

    def _sharing(self, el: Element, shared: frozenset[str]) -> int:
        """Visible elements of ``el``'s role, no other locator's, whose names hold all of ``shared``."""
        role = self.dom.role(el)
        names = self._role_names.get(role)
        if names is None:
            names = self._role_names[role] = [
                label_words(self.dom.name(other)) for other in self.dom.content
                if other not in self.claimed and self.dom.role(other) == role and self.dom.visible(other)
            ]
        return sum(1 for n in names if shared <= n)

    def _factor(self, el: Element) -> tuple[float, list[str]]:
        dom, clues = self.dom, self.clues
        factor, why = 1.0, []
        for kind, value in clues.texts:
            # cy.contains(selector, text): the text is a filter; when the page still shows it, the
            # element meant is one that holds it.
            held = contains_text(dom.text(el), value, case=True)
            if kind == CONTAINS and not held and self.text_present(value):
                factor *= 0.3
                why.append(f"does not hold the text {value!r}, which the page still shows (×0.3)")
        action = clues.action
        if action == "fill" and not dom.editable(el):
            return 0.0, ["not editable, and the test types into it"]
        if action == "check" and not dom.checkable(el):
            return 0.0, ["not a checkbox or radio, and the test checks it"]
        if action == "select" and not dom.selectable(el):
            return 0.0, ["not a <select>, and the test selects an option in it"]
        if action == "select" and clues.option and dom.tag(el) == "select" and not _offers(el, clues.option):
            # Picking an option a select does not have fails as surely as filling a button.
            factor *= 0.3
            why.append(f"has no option {clues.option[:30]!r}, which the test picks (×0.3)")
        if (action == "enable" or clues.states) and not dom.can_disable(el):
            return 0.0, ["cannot be disabled, and the test asserts whether it is"]
        if action == "fill" and clues.typed and not _in_range(clues.typed, el):
            factor *= 0.4
            why.append(f"takes {el.get('min')}–{el.get('max')}; the test types {clues.typed[:20]!r} (×0.4)")
        if action == "fill" and clues.typed and not fits_input(clues.typed, dom.input_type(el)):
            factor *= 0.4
            why.append(f"a {dom.input_type(el)} input, and the test types {clues.typed[:30]!r} (×0.4)")
        if action == "click" and not dom.clickable(el):
            # Rows, cards and list items are clicked through handlers the markup does not show; a
            # dialog, a form or a table as a whole is not what a test clicks.
            box = dom.tag(el) in _CONTAINERS
            factor *= 0.4 if box else 0.75
            why.append(f"not a control or link, and the test clicks it (×{0.4 if box else 0.75})")
        if action == "read" and not dom.text(el):
            factor *= 0.5
            why.append("has no text, and the test reads its text (×0.5)")
        if clues.role:
            role = dom.role(el)
            if role != clues.role:
                # A link become a button, a checkbox become a switch: the same control, restyled.
                close = any({role, clues.role} <= family for family in _ROLE_FAMILIES)
                factor *= 0.7 if close else 0.2
                why.append(f"role {role} is not {clues.role}")
        if clues.tag and dom.tag(el) != clues.tag:
            close = {dom.tag(el), clues.tag} <= {"a", "button"} or {dom.tag(el), clues.tag} <= {
                "input",
                "textarea",
            }
            factor *= 0.7 if close else 0.45
            why.append(f"a <{dom.tag(el)}>, not a <{clues.tag}>")
            if self.where and el not in self.where[0]:
                # Another kind of element and outside where the locator's path still leads
                # (//form[@id='tree-request']//button): two changes at once, more likely another
                # element (the nav link of the same words) than the one the test meant.
                factor *= 0.5
                why.append("and outside where the locator's path still leads (×0.5)")
        if not dom.visible(el):
            if self._opened_by_test(el):
                why.append("hidden in the snapshot, inside a menu the test opens")
            else:
                # Hidden: gone, or in something the test would have to open first (and does not, as
                # far as the spec shows): a heal alone would not make the test pass.
                factor *= 0.5
                why.append("hidden in the snapshot (×0.5)")
        elif action in ("fill", "click", "check", "select") and dom.disabled(el) and not clues.states:
            # (A test that asserts it disabled expects it so at times.)
            factor *= 0.7
            why.append("disabled")
        owner = self.claimed.get(el)
        if owner and not self._same_name(owner):
            factor *= 0.3
            why.append(f"already found by another locator of the spec, {owner}")
        elif owner:
            why.append(f"also found by another locator of the spec by the same name, {owner}")
        return factor, why


_EXAMPLE = re.compile(
    r"^\s*(?:e\.?\s?g\.?|eg|for example|such as|like|z\.\s?b\.|例如|如)\s*[:,]?\s*(.+)$", re.I)


def _shape(text: str) -> str:
    """Letters as a, digits as 9, the rest kept: "SK21 FRY" and "gx70 bnd" are both "aa99 aaa"."""
    return re.sub(r"\d", "9", re.sub(r"[^\W\d_]", "a", text.strip().lower()))


def _shaped_like_example(typed: str, placeholder: str) -> bool:
    """Whether the typed value has the form of the example a placeholder gives ("e.g. SK21 FRY"):
    mixed letters and digits, or digits with separators, at least four characters. A bare word or a
    bare number says nothing: many fields take those."""
    m = _EXAMPLE.match(placeholder)
    if not m:
        return False
    shape = _shape(typed)
    mixed = ("a" in shape and "9" in shape) or ("9" in shape and re.search(r"[^a9 ]", shape) is not None)
    return len(shape) >= 4 and mixed and shape == _shape(m.group(1))


def _offers(el: Element, option: str) -> bool:
    """A <select> has the option, by its label or its value (what select_option and select() match)."""
    want = " ".join(option.split())
    return any(" ".join("".join(o.itertext()).split()) == want or o.get("value") == option
               for o in el.iter("option"))


def _in_range(typed: str, el: Element) -> bool:
    """A number typed into a field with bounds (a 0–50 percent slider) is within them."""
    try:
        value = float(typed.strip().replace(",", ""))
    except ValueError:
        return True
    for bound, ok in ((el.get("min"), lambda b: value >= b), (el.get("max"), lambda b: value <= b)):
        try:
            if bound is not None and not ok(float(bound)):
                return False
        except ValueError:
            continue
    return True


def _stem(word: str) -> str:
    """Enough of a stem to see the container's "Formatting" in "format-bold"."""
    for end in ("ing", "ed", "s"):
        if word.endswith(end) and len(word) - len(end) >= 4:
            word = word[: -len(end)]
            # formatting → format, not formatt
            return word[:-1] if end != "s" and word[-1] == word[-2] and word[-1] not in "ls" else word
    return word


def _generated_shape(value: str) -> str:
    """A generated value with what the framework counted or hashed blanked: ``:r5:-form-item`` and
    ``:r9:-form-item`` are one shape, ``ember412`` and ``ember418`` another."""
    return re.sub(r"\d+", "0", re.sub(r":r[0-9a-z]+:", ":r:", value))


# A search field's placeholder says with these that it searches, not what it searches by.
_SEARCHING = frozenset({"search", "find", "filter", "look", "lookup"})


def _searched_by(placeholder: str) -> frozenset[str]:
    return frozenset(w for w in label_words(placeholder) if w not in _SEARCHING)


def _broadened_search(old: str, new: str) -> bool:
    """``old`` is a search placeholder ("Search by composer") and ``new`` names everything it named
    and more ("Composer, title or publisher")."""
    first = words(old, False)[:1]
    if not first or first[0] not in _SEARCHING:
        return False
    want, got = _searched_by(old), _searched_by(new)
    return bool(want) and want < got


def _op_similarity(want: str, got: str, op: str) -> float:
    plain = re.sub(r"\\(.)", r"\1", want)  # *[id="\:r5\:-form-item"], as Selenium sends By.id
    if op == "=" and generated(plain) and generated(got):
        # Which number a framework handed out (:r5: or :rb:, ember412 or ember418) says nothing of
        # which element it is; the shape says what kind of element it was, alike for all of them.
        return 0.5 * similarity(_generated_shape(plain), _generated_shape(got))
    if op == "^=":
        return 1.0 if got.startswith(want) else similarity(want, got) * 0.8
    if op == "$=":
        return 1.0 if got.endswith(want) else similarity(want, got) * 0.8
    if op in ("*=", "~="):
        return 1.0 if want in got.split() or (op == "*=" and want in got) else similarity(want, got) * 0.8
    return similarity(want, got)
