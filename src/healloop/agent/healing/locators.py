"""Locators as test suites write them, in every runner healloop supports: read from a spec's source
and from failure messages, compared, and written back in the same style.

A ``Locator`` is a chain of ``Step``s (outermost scope first). A ``Use`` is one place in a spec that
builds a locator, with the exact spans of its calls (so one argument can be rewritten in place) and
what the test then does with the element (fill, click, check, select, read).

Flavours decide semantics where runners differ: Playwright's ``getByRole``/``getByText`` match a name
or text as a case-insensitive substring, Testing Library's match the whole string exactly; Cypress's
``contains`` is case-sensitive; Selenium sends ``By.ID``/``By.NAME`` as CSS ``[id="..."]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from cssselect import SelectorError, parse

from healloop.agent.healing.source import Arg, Call, Literal, number

PLAYWRIGHT = "playwright"
CYPRESS = "cypress"
SELENIUM = "selenium"

# Step kinds.
CSS, XPATH, TESTID, ROLE, TEXT, LABEL, PLACEHOLDER, ALT, TITLE, CONTAINS, LINK_TEXT, PARTIAL_LINK_TEXT = (
    "css",
    "xpath",
    "testid",
    "role",
    "text",
    "label",
    "placeholder",
    "alt",
    "title",
    "contains",
    "link_text",
    "partial_link_text",
)
NTH = "nth"  # .first() / .last() / .nth(i) / .eq(i): picks one of the matches
HAS_TEXT = "has_text"  # Playwright's .filter({ hasText })

# Playwright (JS and Python) and Testing Library query methods → step kind.
_PW_METHODS = {
    "locator": CSS,
    "getByTestId": TESTID,
    "get_by_test_id": TESTID,
    "getByRole": ROLE,
    "get_by_role": ROLE,
    "getByText": TEXT,
    "get_by_text": TEXT,
    "getByLabel": LABEL,
    "get_by_label": LABEL,
    "getByPlaceholder": PLACEHOLDER,
    "get_by_placeholder": PLACEHOLDER,
    "getByAltText": ALT,
    "get_by_alt_text": ALT,
    "getByTitle": TITLE,
    "get_by_title": TITLE,
}
_TL_KINDS = {
    "Role": ROLE,
    "Text": TEXT,
    "LabelText": LABEL,
    "PlaceholderText": PLACEHOLDER,
    "TestId": TESTID,
    "AltText": ALT,
    "Title": TITLE,
}
_TL_METHODS = {
    f"{verb}{many}By{what}": kind
    for verb in ("find", "get", "query")
    for many in ("", "All")
    for what, kind in _TL_KINDS.items()
}
# Page-level Playwright methods whose first argument is a selector (page.click('#pay')).
_PW_SELECTOR_ACTIONS = {
    "click": "click",
    "dblclick": "click",
    "tap": "click",
    "hover": "click",
    "fill": "fill",
    "type": "fill",
    "press": "fill",
    "check": "check",
    "uncheck": "check",
    "setChecked": "check",
    "set_checked": "check",
    "selectOption": "select",
    "select_option": "select",
    "focus": None,
    "textContent": "read",
    "text_content": "read",
    "innerText": "read",
    "inner_text": "read",
    "inputValue": "fill",
    "input_value": "fill",
    "isVisible": None,
    "is_visible": None,
    "isChecked": "check",
    "is_checked": "check",
    "waitForSelector": None,
    "wait_for_selector": None,
    "querySelector": None,
    "query_selector": None,
    "$": None,
    "$$": None,
    "$eval": None,
    "setInputFiles": None,
    "set_input_files": None,
    "getAttribute": None,
    "get_attribute": None,
}
_CY_METHODS = {"get": CSS, "find": CSS, "contains": CONTAINS}
_BY_KINDS = {
    "ID": "id",
    "id": "id",
    "NAME": "name",
    "name": "name",
    "CSS_SELECTOR": CSS,
    "css": CSS,
    "XPATH": XPATH,
    "xpath": XPATH,
    "LINK_TEXT": LINK_TEXT,
    "linkText": LINK_TEXT,
    "PARTIAL_LINK_TEXT": PARTIAL_LINK_TEXT,
    "partialLinkText": PARTIAL_LINK_TEXT,
    "CLASS_NAME": "class_name",
    "className": "class_name",
    "TAG_NAME": "tag_name",
    "tagName": "tag_name",
}
_SELENIUM_OLD = {  # find_element_by_id("x") and friends (Selenium 3)
    f"find_element{s}_by_{k}": v
    for s in ("", "s")
    for k, v in (
        ("id", "id"),
        ("name", "name"),
        ("css_selector", CSS),
        ("xpath", XPATH),
        ("link_text", LINK_TEXT),
        ("class_name", "class_name"),
    )
}

@dataclass(frozen=True)
class Step:
    kind: str
    value: str = ""
    name: str | None = None  # getByRole's name; cy.contains's text when a selector is given too
    exact: bool = False
    regex: str | None = None  # flags of a regex value or name ("" when none); None: plain string
    index: int | None = None  # NTH: 0-based, -1 for last

    def key(self) -> str:
        """Identity for comparing the same locator written two ways (quotes, spacing, API)."""
        if self.kind == CSS:
            return "css:" + canonical_css(self.value)
        if self.kind == "id":
            return "css:" + canonical_css(f'[id="{self.value}"]')
        if self.kind == "name":
            return "css:" + canonical_css(f'[name="{self.value}"]')
        return f"{self.kind}:{self.value}|{self.name}|{self.exact}|{self.regex}|{self.index}"


@dataclass(frozen=True)
class Locator:
    steps: tuple[Step, ...]
    flavor: str

    @property
    def last(self) -> Step:
        return self.steps[-1]

    def key(self) -> str:
        return " >> ".join(s.key() for s in self.steps)

    def describe(self) -> str:
        return " >> ".join(_describe(s) for s in self.steps)


def _describe(s: Step) -> str:
    if s.kind == ROLE:
        return f"role={s.value}" + (f"[name={s.name!r}]" if s.name is not None else "")
    if s.kind == NTH:
        return f"nth={s.index}"
    if s.kind == CONTAINS:
        return f"contains({s.value!r}, {s.name!r})" if s.value else f"contains({s.name!r})"
    return f"{s.kind}={s.value}"


@dataclass
class Use:
    """One place in a spec that builds a locator."""

    locator: Locator
    calls: list[Call]  # the calls that build it, outermost first (one for a selector literal)
    start: int
    end: int
    line: int
    action: str | None = None  # fill | click | check | select | read | enable | None
    typed: str | None = None  # the text typed into it, when the spec says
    expects: str | None = None  # the text an assertion expects it to show (toHaveText('$86.40'))
    variable: str | None = None  # the name the spec gives it (const emailInput = ...)
    states: bool = False  # the spec asserts somewhere that it is enabled or disabled: a control
    value: str | None = None  # the value the spec asserts it holds (toHaveValue('78000'))
    literal_only: bool = False  # a selector string kept in a constant, not a call
    by_args: tuple[Arg, Arg] | None = None  # Selenium (By.X, "value")
    # For each step: (index into calls, index of the part within that call's selector string, or
    # None when the call itself is the step).
    origins: list[tuple[int, int | None]] = field(default_factory=list)
    # A selector built from the test's values (`//tr[td='${number}']`, f"tr[{row}]"): the literal,
    # and the expressions in it, in order. Matched against the failure's selector to learn the values.
    template: Literal | None = None
    placeholders: list[str] = field(default_factory=list)
    bindings: list[tuple[str, str]] = field(default_factory=list)  # (expression, value) at the failure
    # A selector joined from several pieces (ROW + "//button[text()='Renew']"): each piece's literal,
    # or None for a constant it names, with its text; the template is their join.
    pieces: list[tuple[Literal | None, str]] = field(default_factory=list)
    # Built in a helper: what each call of it does, by the string values the call passes
    # (sel('permit-type') selects, sel('applicant-name') types): (values, action, typed, expects).
    sites: list[tuple[tuple[str, ...], str, str | None, str | None]] = field(default_factory=list)


_JS_HOLE = re.compile(r"\$\{([^{}]+)\}")
_PY_HOLE = re.compile(r"(?<!\{)\{(?!\{)([^{}]+)\}(?!\})")


def holes(lit: Literal) -> list[re.Match[str]]:
    """The expressions interpolated into a template literal, an f-string or a str.format template
    (the field names), in order."""
    if lit.quote == "`":
        return list(_JS_HOLE.finditer(lit.value))
    if "f" in lit.prefix.lower() or lit.fmt:
        return list(_PY_HOLE.finditer(lit.value))
    return []


def template_pattern(lit: Literal) -> re.Pattern[str]:
    """A regex matching what the template becomes, capturing each interpolated value."""
    out, last = [], 0
    for m in holes(lit):
        static = lit.value[last : m.start()]
        if lit.quote != "`":
            static = static.replace("{{", "{").replace("}}", "}")
        # A value between quotes holds no such quote: [@data-rx='{rx}'] is not the rest of a longer
        # selector that happens to end in a quote.
        q = static[-1:] if static[-1:] in ("'", '"') else ""
        out += [re.escape(static), f"([^{q}]+?)" if q and lit.value[m.end() : m.end() + 1] == q else "(.+?)"]
        last = m.end()
    tail = lit.value[last:]
    if lit.quote != "`":
        tail = tail.replace("{{", "{").replace("}}", "}")
    out.append(re.escape(tail))
    return re.compile("".join(out))


# -- CSS helpers
_CANON_CACHE: dict[str, str] = {}


def canonical_css(selector: str) -> str:
    got = _CANON_CACHE.get(selector)
    if got is None:
        try:
            got = ",".join(
                repr(s.parsed_tree) + (f"::{s.pseudo_element}" if s.pseudo_element else "")
                for s in parse(_css_for_cssselect(selector))
            )
        except SelectorError:
            got = re.sub(r"\s+", " ", selector.strip())
        _CANON_CACHE[selector] = got
    return got


def _css_for_cssselect(selector: str) -> str:
    """``#x`` and ``[id=x]`` read the same; Playwright's :has-text() is cssselect's :contains()."""
    s = re.sub(r"#([A-Za-z_][\w-]*)", r'[id="\1"]', selector)
    return s


_HTML_TAGS = frozenset(
    [
        "a",
        "abbr",
        "article",
        "aside",
        "b",
        "body",
        "button",
        "canvas",
        "caption",
        "code",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "em",
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
        "i",
        "iframe",
        "img",
        "input",
        "label",
        "legend",
        "li",
        "main",
        "menu",
        "nav",
        "ol",
        "optgroup",
        "option",
        "p",
        "pre",
        "section",
        "select",
        "small",
        "span",
        "strong",
        "summary",
        "table",
        "tbody",
        "td",
        "textarea",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)


def looks_like_css(text: str) -> bool:
    """A string literal that is a CSS selector ([data-cy=x], #id, .class, form input), not prose."""
    t = text.strip()
    if not t or len(t) > 300 or "\n" in t:
        return False
    first = re.match(r"^[a-z][\w-]*", t)
    if first and first.group(0) not in _HTML_TAGS:
        return False
    if first and not re.search(r"[\[#.:>]", t) and not all(w in _HTML_TAGS for w in t.split()):
        return False
    if re.match(
        r"^(?:\[[\w:-]+(?:[~|^$*]?=.+)?\]|[#.][A-Za-z_-][\w-]*|[a-z][\w-]*(?:[\[#.:]|\s*>\s*|\s+[\w#.\[]))", t
    ):
        try:
            parse(_css_for_cssselect(t))
            return True
        except SelectorError:
            return False
    return False


def looks_like_xpath(text: str) -> bool:
    return bool(re.match(r"^\(?\s*(?:\.?//|/html)", text.strip()))


# -- reading a selector string (Playwright's engines, Cypress's jQuery extras)
def steps_from_selector(selector: str, flavor: str) -> tuple[Step, ...]:
    """A selector string as Playwright's locator()/page.click() reads it: css by default, with
    ``>>`` chains and the ``text=``, ``xpath=``, ``css=``, ``id=``, ``data-testid=``, ``nth=`` engines."""
    if flavor != PLAYWRIGHT:
        return (_css_or_xpath(selector),)
    steps: list[Step] = []
    for part in _split_chain(selector):
        part = part.strip()
        engine, _, rest = part.partition("=")
        engine = engine.strip().lower()
        if (
            engine
            in (
                "css",
                "xpath",
                "text",
                "id",
                "data-testid",
                "data-test-id",
                "data-test",
                "nth",
                "visible",
                "internal:role",
                "role",
            )
            and "=" in part
            and not part.startswith("[")
        ):
            rest = rest.strip()
            if engine == "css":
                steps.append(Step(CSS, rest))
            elif engine == "xpath":
                steps.append(Step(XPATH, rest))
            elif engine == "text":
                value, exact = _unquote_text(rest)
                steps.append(Step(TEXT, value, exact=exact))
            elif engine == "id":
                steps.append(Step(CSS, f'[id="{_unquote_text(rest)[0]}"]'))
            elif engine.startswith("data-"):
                steps.append(Step(CSS, f'[{engine}="{_unquote_text(rest)[0]}"]'))
            elif engine == "nth":
                steps.append(Step(NTH, index=number(rest) or 0))
            elif engine == "visible":
                continue
            else:
                steps.append(Step(CSS, part))
        elif looks_like_xpath(part):
            steps.append(Step(XPATH, part))
        elif len(part) > 1 and part[0] == part[-1] and part[0] in "'\"":
            steps.append(Step(TEXT, part[1:-1], exact=False))
        else:
            steps.append(Step(CSS, part))
    return tuple(steps)


def _split_chain(selector: str) -> list[str]:
    parts, depth, quote_char, cur = [], 0, "", []
    i = 0
    while i < len(selector):
        c = selector[i]
        if quote_char:
            if c == "\\" and i + 1 < len(selector):
                cur.append(selector[i : i + 2])
                i += 2
                continue
            if c == quote_char:
                quote_char = ""
        elif c in "'\"":
            quote_char = c
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif depth == 0 and selector.startswith(">>", i) and not selector.startswith(">>>", i):
            parts.append("".join(cur))
            cur = []
            i += 2
            continue
        cur.append(c)
        i += 1
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def _unquote_text(text: str) -> tuple[str, bool]:
    t = text.strip()
    if len(t) > 1 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1], True
    return t, False


def _css_or_xpath(selector: str) -> Step:
    return Step(XPATH, selector) if looks_like_xpath(selector) else Step(CSS, selector)


# -- reading calls
def _name_option(call: Call) -> tuple[str | None, bool, str | None]:
    """(name, exact, regex flags) of a getByRole-style call's options."""
    opt = call.option("name")
    exact_arg = call.option("exact")
    exact = bool(exact_arg and exact_arg.text.strip() in ("true", "True"))
    if opt is None:
        return None, exact, None
    if opt.regex is not None:
        return opt.regex.pattern, exact, opt.regex.flags
    return opt.value, exact, None


def _text_arg(call: Call, i: int = 0) -> tuple[str | None, str | None]:
    arg = call.arg(i)
    if arg is None:
        return None, None
    if arg.regex is not None:
        return arg.regex.pattern, arg.regex.flags
    return arg.value, None


def step_of_call(call: Call, flavor: str) -> Step | None:
    """The step one locator call builds, or None when its arguments are not literal."""
    name = call.name
    if (name in _PW_METHODS and flavor == PLAYWRIGHT) or name in _TL_METHODS:
        kind = _PW_METHODS.get(name) or _TL_METHODS[name]
        if kind == CSS:
            value = call.arg(0).value if call.arg(0) else None
            return None if value is None else Step(CSS, value)  # chains are split by the caller
        if kind == ROLE:
            role = call.arg(0).value if call.arg(0) else None
            if role is None:
                return None
            nm, exact, flags = _name_option(call)
            return Step(ROLE, role, nm, exact or name in _TL_METHODS, flags)
        value, flags = _text_arg(call)
        if value is None:
            return None
        exact_arg = call.option("exact")
        exact = bool(exact_arg and exact_arg.text.strip() in ("true", "True")) or name in _TL_METHODS
        return Step(kind, value, exact=exact, regex=flags)
    if name in ("get", "find") and flavor == CYPRESS:
        value = call.arg(0).value if call.arg(0) else None
        return None if value is None else Step(CSS, value)
    if name == "contains" and flavor == CYPRESS:
        first, flags = _text_arg(call, 0)
        second, flags2 = _text_arg(call, 1)
        if first is None:
            return None
        if second is not None:
            return Step(CONTAINS, first, second, regex=flags2)
        return Step(CONTAINS, "", first, regex=flags)
    return None


def _by_step(kind_text: str, value: str) -> Step | None:
    kind = _BY_KINDS.get(kind_text)
    if kind is None:
        return None
    if kind == "class_name":
        return Step(CSS, "." + value)
    if kind == "tag_name":
        return Step(CSS, value)
    return Step(kind, value)


def same_target(a: Locator, b: Locator) -> bool:
    """Whether two locators are the same locator written two ways."""
    if a.key() == b.key():
        return True
    return _equivalent_steps(a.steps) == _equivalent_steps(b.steps)


def _equivalent_steps(steps: tuple[Step, ...]) -> tuple[str, ...]:
    out = []
    for s in steps:
        if s.kind in ("id", "name"):
            s = Step(CSS, f'[{s.kind}="{s.value}"]')
        if s.kind == TESTID:
            s = Step(CSS, f'[data-testid="{s.value}"]')
        if s.kind in (ROLE, TEXT, LABEL, PLACEHOLDER, ALT, TITLE, CONTAINS):
            s = replace(s, exact=False)  # how it is matched differs by flavour, what it names does not
        out.append(s.key())
    return tuple(out)


# Steps whose value only says where an element is, not what it shows: changing one on an assertion
# line changes which element is checked, not what is expected of it.
STRUCTURAL = frozenset({CSS, XPATH, TESTID, "id", "name", NTH})


def structural(locator: Locator) -> bool:
    return all(s.kind in STRUCTURAL or (s.kind == ROLE and s.name is None) for s in locator.steps)


# Steps that find an element by what it is called (its role name, label, placeholder, alt text,
# title) rather than by content it shows (getByText, cy.contains, a link's text).
NAMING = frozenset({ROLE, LABEL, PLACEHOLDER, ALT, TITLE})


def by_name(locator: Locator) -> bool:
    """Structural, or finding its element by what the element is called: never by shown content."""
    return all(s.kind in STRUCTURAL or s.kind in NAMING for s in locator.steps)
