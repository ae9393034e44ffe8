# The selector healer healloop shipped until December 2026 (src/healloop/agent/selectors.py at
# 7a9a5b7), kept unchanged as the baseline bench/heal_corpus.py measures the current healer against.
"""Selector healing, in the manner of Healenium's tree matching: find the element a broken selector
meant in the DOM at failure, and build a new, stable selector for it.

Pure. The DOM is parsed with the standard library's ``html.parser`` into a small tree. Supported
selectors are single compound CSS selectors (``tag#id.class[attr=value]``; with combinators the last
compound is used) and Playwright ``text=`` selectors, which covers what test suites mostly write.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

STABLE_ATTRS = ("data-cy", "data-testid", "data-test", "id", "aria-label", "name")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_IMPLICIT_ROLE = {
    "button": "button",
    "a": "link",
    "input": "textbox",
    "select": "combobox",
    "form": "form",
    "textarea": "textbox",
    "nav": "navigation",
    "h1": "heading",
    "h2": "heading",
}

# Where broken selectors appear in Cypress, Playwright, Selenium and plain-test messages.
_MESSAGE_PATTERNS = [
    re.compile(r"Expected to find element:\s*`?(?P<s>.+?)`?,\s*but never found it"),
    re.compile(r"""(?:locator|waitForSelector|querySelector|\$)\(\s*(?P<q>['"`])(?P<s>.+?)(?P=q)\s*\)"""),
    re.compile(r"getByTestId\(\s*(?P<q>['\"`])(?P<s>.+?)(?P=q)\s*\)"),
    re.compile(r"""waiting for selector\s+(?P<q>['"`])(?P<s>.+?)(?P=q)"""),
    re.compile(r"""Unable to locate element:\s*\{"method":"css selector","selector":"(?P<s>.+?)"\}"""),
    re.compile(r"no such element:.*?css selector[^\w\[#.]*(?P<s>[\[#.\w][^\"]*?)\"?\s*(?:$|\})", re.M),
]


def selector_from_message(message: str) -> str | None:
    """The selector a failure message says was not found, or None."""
    for pattern in _MESSAGE_PATTERNS:
        m = pattern.search(message or "")
        if m:
            s = m.group("s").strip()
            if "getByTestId" in pattern.pattern:
                return f'[data-testid="{s}"]'
            return s
    return None


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element] = field(default_factory=list)
    text: str = ""
    index: int = 0  # position among the parent's element children

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def role(self) -> str | None:
        return self.attrs.get("role") or _IMPLICIT_ROLE.get(self.tag)

    def path(self) -> list[str]:
        out, node = [], self
        while node is not None and node.tag != "#root":
            out.append(node.tag)
            node = node.parent
        return out[::-1]

    def describe(self) -> dict[str, object]:
        return {"tag": self.tag, "attrs": dict(self.attrs), "text": self.text[:80]}


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self.stack = [self.root]
        self.all: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        parent = self.stack[-1]
        el = Element(tag, {k: v or "" for k, v in attrs}, parent, index=len(parent.children))
        parent.children.append(el)
        self.all.append(el)
        if tag not in _VOID:
            self.stack.append(el)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text:
            for el in self.stack[1:]:
                el.text = f"{el.text} {text}".strip() if el.text else text


def parse_dom(html: str) -> list[Element]:
    builder = _TreeBuilder()
    builder.feed(html or "")
    builder.close()
    return [el for el in builder.all if el.tag not in ("script", "style", "head", "meta", "link", "title")]


@dataclass(frozen=True)
class Compound:
    tag: str | None = None
    id: str | None = None
    classes: tuple[str, ...] = ()
    attrs: tuple[tuple[str, str | None], ...] = ()
    text: str | None = None


_ATTR = re.compile(r"""\[\s*([\w:-]+)\s*(?:([~|^$*]?=)\s*(?:"([^"]*)"|'([^']*)'|([^\]\s]*)))?\s*\]""")
_TOKEN = re.compile(r"#([\w-]+)|\.([\w-]+)")


def parse_selector(selector: str) -> Compound | None:
    s = selector.strip()
    if s.startswith("text="):
        return Compound(text=s[5:].strip().strip("'\""))
    last = re.split(r"\s*[>+~]\s*|\s+(?![^\[]*\])", s)[-1] if s else ""
    m = re.match(r"^([a-zA-Z][\w-]*|\*)?", last)
    tag = m.group(1) if m and m.group(1) and m.group(1) != "*" else None
    rest = last[m.end() :] if m else last
    attrs = tuple(
        (m.group(1), next((v for v in m.group(3, 4, 5) if v is not None), "") if m.group(2) else None)
        for m in _ATTR.finditer(rest)
    )
    plain = _ATTR.sub("", rest)
    ids = [i for i, _ in _TOKEN.findall(plain) if i]
    classes = tuple(c for _, c in _TOKEN.findall(plain) if c)
    if not (tag or ids or classes or attrs):
        return None
    return Compound(tag, ids[0] if ids else None, classes, attrs)


def matches(el: Element, c: Compound) -> bool:
    if c.text is not None:
        return el.text == c.text or (c.text in el.text and not any(c.text in ch.text for ch in el.children))
    if c.tag and el.tag != c.tag:
        return False
    if c.id and el.attrs.get("id") != c.id:
        return False
    if c.classes and not set(c.classes) <= el.classes:
        return False
    return all(name in el.attrs and (value is None or el.attrs[name] == value) for name, value in c.attrs)


def select(elements: list[Element], selector: str) -> list[Element]:
    c = parse_selector(selector)
    return [el for el in elements if matches(el, c)] if c else []


def _sim(a: str, b: str) -> float:
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


def _words(s: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", s.lower()) if w}


def _word_sim(a: str, b: str) -> float:
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / len(wa | wb) if wa and wb else 0.0


def _target_from_compound(c: Compound) -> Element:
    """A stand-in for the element a selector describes, when no passing snapshot shows the original."""
    attrs = {name: value or "" for name, value in c.attrs}
    if c.id:
        attrs["id"] = c.id
    if c.classes:
        attrs["class"] = " ".join(c.classes)
    return Element(c.tag or "", attrs, text=c.text or "")


def score(target: Element, candidate: Element, *, full: bool) -> tuple[float, list[str]]:
    """Similarity in [0, 1] and the reasons. ``full``: the target is a real element from a passing
    snapshot (tag, text, role and position weigh in); else only what the selector said is known."""
    reasons: list[str] = []
    parts: list[tuple[float, float]] = []
    for name, want in target.attrs.items():
        weight = 3.0 if name in STABLE_ATTRS else 1.5
        got = candidate.attrs.get(name)
        same = max(_sim(want, got), _word_sim(want, got)) if got is not None else 0.0
        # The same value under another stable attribute (data-cy renamed to data-testid, say).
        other = (
            max(
                (
                    max(_sim(want, v), _word_sim(want, v))
                    for k, v in candidate.attrs.items()
                    if k in STABLE_ATTRS and k != name
                ),
                default=0.0,
            )
            * 0.8
        )
        # Without a passing snapshot, the element's own text is the other clue to what was meant.
        text = 0.0
        if name in STABLE_ATTRS and not full and candidate.text and len(candidate.text) <= 80:
            squashed = re.sub(r"[^a-z0-9]", "", candidate.text.lower())
            text = 0.9 * max(
                _word_sim(want, candidate.text), _sim(re.sub(r"[^a-z0-9]", "", want.lower()), squashed)
            )
        best = max(same, other, text)
        parts.append((weight, best))
        if best > 0.5:
            how = "same attribute" if best == same else "another attribute" if best == other else "text"
            reasons.append(
                f"{name} {want!r} ~ {candidate.describe()['attrs']} / {candidate.text[:40]!r} "
                f"by {how} ({best:.2f})"
            )
    if not full and not target.tag:
        # Tests act on controls: between equal matches, prefer the one a user can interact with.
        parts.append((0.5, 1.0 if candidate.role in ("button", "link", "textbox", "combobox") else 0.0))
    if target.tag:
        parts.append((1.0, 1.0 if target.tag == candidate.tag else 0.0))
    if full:
        s = _sim(target.text, candidate.text)
        parts.append((2.0, s))
        if target.text and s > 0.5:
            reasons.append(f"text {target.text!r} ~ {candidate.text!r} ({s:.2f})")
        parts.append((1.0, 1.0 if target.role == candidate.role else 0.0))
        parts.append((1.0, _sim("/".join(target.path()), "/".join(candidate.path()))))
        parts.append((0.5, 1.0 if target.index == candidate.index else 0.0))
    if target.text and not full:
        parts.append((2.0, _sim(target.text, candidate.text)))
    total = sum(w for w, _ in parts)
    return (sum(w * s for w, s in parts) / total if total else 0.0), reasons


def _quote(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z_][\w-]*", value) else '"' + value.replace('"', '\\"') + '"'


def build_selector(el: Element, elements: list[Element], style_of: str | None = None) -> str | None:
    """A selector that finds exactly ``el``, preferring data-cy, data-testid, id, aria-label, name, text.
    With ``style_of`` (the broken selector), an attribute selector keeps that selector's quoting."""
    quoted = bool(style_of and re.search(r"=\s*[\"']", style_of))
    for name in STABLE_ATTRS:
        value = el.attrs.get(name)
        if not value:
            continue
        if name == "id" and re.fullmatch(r"[A-Za-z_][\w-]*", value):
            candidate = f"#{value}"
        else:
            candidate = f'[{name}="{value}"]' if quoted else f"[{name}={_quote(value)}]"
        if select(elements, candidate) == [el]:
            return candidate
    if el.text and len(el.text) <= 60:
        candidate = f"text={el.text}"
        if select(elements, candidate) == [el]:
            return candidate
    return None


@dataclass(frozen=True)
class Healing:
    old: str
    new: str
    score: float
    element: dict[str, object]
    reasons: list[str]
    runner_up: float

    def to_dict(self) -> dict[str, object]:
        return {
            "old_selector": self.old,
            "new_selector": self.new,
            "score": round(self.score, 3),
            "element": self.element,
            "reasons": self.reasons,
            "runner_up_score": round(self.runner_up, 3),
        }


def heal(
    selector: str, dom: str, passing_dom: str | None = None, *, threshold: float = 0.45
) -> Healing | None:
    """The best replacement for ``selector`` in ``dom``, or None when nothing is similar enough or two
    candidates are too close to tell apart (a wrong guess is worse than an escalation)."""
    compound = parse_selector(selector)
    if compound is None:
        return None
    elements = parse_dom(dom)
    if select(elements, selector):
        return None  # it is there: the selector is not what is broken
    target, full = _target_from_compound(compound), False
    if passing_dom:
        old = select(parse_dom(passing_dom), selector)
        if len(old) == 1:
            target, full = old[0], True
    ranked = sorted(((*score(target, el, full=full), el) for el in elements), key=lambda t: -t[0])
    if not ranked or ranked[0][0] < threshold:
        return None
    best_score, reasons, best = ranked[0]
    runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
    if best_score - runner_up < 0.05:
        return None
    new = build_selector(best, elements, style_of=selector)
    if new is None:
        return None
    return Healing(selector, new, best_score, best.describe(), reasons, runner_up)
