"""Writing a healed step back into the spec, in the spec's own language, API and quotes.

When only a value changed, only that string literal is replaced (quotes kept); when the kind changed
(a removed test id healed by role and name), the one call is rewritten in the same API family
(``getByRole`` / ``get_by_role`` / ``findByRole`` / ``By.CSS_SELECTOR``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from healloop.agent.healing.locators import (
    ALT,
    CONTAINS,
    CSS,
    LABEL,
    LINK_TEXT,
    PARTIAL_LINK_TEXT,
    PLACEHOLDER,
    ROLE,
    SELENIUM,
    TESTID,
    TEXT,
    TITLE,
    XPATH,
    Step,
    Use,
    _split_chain,
    holes,
    template_pattern,
)
from healloop.agent.healing.source import Call, Literal, Source, quote

_PW_JS = {
    TESTID: "getByTestId",
    ROLE: "getByRole",
    TEXT: "getByText",
    LABEL: "getByLabel",
    PLACEHOLDER: "getByPlaceholder",
    ALT: "getByAltText",
    TITLE: "getByTitle",
    CSS: "locator",
    XPATH: "locator",
}
_PW_PY = {
    TESTID: "get_by_test_id",
    ROLE: "get_by_role",
    TEXT: "get_by_text",
    LABEL: "get_by_label",
    PLACEHOLDER: "get_by_placeholder",
    ALT: "get_by_alt_text",
    TITLE: "get_by_title",
    CSS: "locator",
    XPATH: "locator",
}
_TL = {
    TESTID: "TestId",
    ROLE: "Role",
    TEXT: "Text",
    LABEL: "LabelText",
    PLACEHOLDER: "PlaceholderText",
    ALT: "AltText",
    TITLE: "Title",
}
_BY_PY = {
    "id": "ID",
    "name": "NAME",
    CSS: "CSS_SELECTOR",
    XPATH: "XPATH",
    LINK_TEXT: "LINK_TEXT",
    PARTIAL_LINK_TEXT: "PARTIAL_LINK_TEXT",
}
_BY_JS = {
    "id": "id",
    "name": "name",
    CSS: "css",
    XPATH: "xpath",
    LINK_TEXT: "linkText",
    PARTIAL_LINK_TEXT: "partialLinkText",
}


def placeholders_at(value: str, use: Use) -> list[tuple[int, str, str]] | None:
    """Where each value the test passed in sits in ``value`` (start, value, expression), found as it
    sat in the failing selector: with the same character on each side (``[2]`` of ``tr[2]``, not the
    2 in ``$249.00``). None when one is missing."""
    assert use.template is not None
    old = use.locator.steps[0].value
    out: list[tuple[int, str, str]] = []
    for expr, bound in use.bindings:
        if not bound:
            return None
        starts = set()
        for m in re.finditer(re.escape(bound), old):
            before = old[m.start() - 1] if m.start() > 0 else ""
            after = old[m.end()] if m.end() < len(old) else ""
            starts |= {n.start() + len(before) for n in re.finditer(re.escape(before + bound + after), value)}
        if not starts:
            # The value now sits between other characters ("plot-row-B-12" to data-row-key="B-12"):
            # still the test's value when it stands alone, once.
            alone = _alone(bound, value)
            if len(alone) != 1:
                return None
            starts = set(alone)
        out += [(start, bound, expr) for start in sorted(starts)]
    return out


def retemplate(lit: Literal, old: str, new: str) -> str | None:
    """The template literal ``lit``, which made ``old``, rewritten to make ``new`` from the same
    expressions: `mark-ready-${orderId}` for "mark-ready-7731" becomes `ticket-${orderId}-ready` for
    "ticket-7731-ready". None unless each value it was given sits in ``new`` once, as a whole word."""
    m = template_pattern(lit).fullmatch(old)
    if m is None:
        return None
    positions = []
    for hole, value in zip(holes(lit), m.groups(), strict=True):
        found = _alone(value, new)
        if len(found) != 1:
            return None
        positions.append((found[0], value, hole.group(0)))
    return _with_holes(lit, new, positions)


def _alone(value: str, text: str) -> list[int]:
    """Where ``value`` stands in ``text`` as a whole word ("7731" in "ticket-7731-ready")."""
    return [m.start() for m in re.finditer(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", text)]


def _with_holes(lit: Literal, value: str, positions: list[tuple[int, str, str]]) -> str | None:
    """``value`` written as the template literal ``lit`` is: each (start, value, hole) put back as
    its hole, the rest escaped for the quote. None where two values overlap."""
    body, last = [], 0
    for start, bound, hole in sorted(positions):
        if start < last:
            return None
        body += [Writer._static(value[last:start], lit.quote), hole]
        last = start + len(bound)
    body.append(Writer._static(value[last:], lit.quote))
    return f"{lit.prefix}{lit.quote}{''.join(body)}{lit.quote}"


class CannotWrite(Exception):
    """The new step cannot be expressed where the old one was written."""


@dataclass(frozen=True)
class Replacement:
    start: int
    end: int
    text: str


class Writer:
    def __init__(self, src: Source) -> None:
        self.src = src
        self.lang = src.lang

    def _q(self, call: Call) -> str:
        lit = next((a.literal for a in call.args if a.literal is not None), None)
        if lit is None:
            lit = next((f.literal for a in call.args for f in a.fields.values() if f.literal), None)
        return lit.quote if lit is not None else ("'" if self.lang == "js" else '"')

    def _lit(self, value: str, q: str) -> str:
        return quote(value, q, self.lang)

    def replacement(self, use: Use, index: int, new: Step) -> Replacement:
        """How to turn the use's step ``index`` into ``new``."""
        if use.template is not None:
            return self._template(use, new)
        call_i, part = use.origins[index]
        call = use.calls[call_i]
        old = use.locator.steps[index]
        if use.by_args is not None:
            return self._selenium_tuple(use, new)
        if part is not None and new.kind == CONTAINS and call.name in ("get", "find"):
            # cy.get('[data-cy=add-ingredient]') with nothing stable left: cy.contains('button', ...)
            return self._call(call, old, new)
        if part is not None and not (new.kind not in (CSS, XPATH) and call.name == "locator"):
            return self._in_selector_string(use, call, index, part, new)
        if use.locator.flavor == SELENIUM and call.name in {*_BY_JS.values(), "className", "tagName"}:
            return self._selenium_js(call, new)
        return self._call(call, old, new)

    def _template(self, use: Use, new: Step) -> Replacement:
        """A selector built from the test's values stays built from them: each value the failure
        showed is put back as the expression it came from, so the other rows, ids or positions the
        test passes still work. A healed selector that no longer holds each value exactly once
        cannot be written that way."""
        lit = use.template
        assert lit is not None
        positions = placeholders_at(new.value, use)
        if positions is None:
            raise CannotWrite(f"the healed selector {new.value!r} does not hold the test's values "
                              f"({', '.join(e for e, _ in use.bindings)}) where they were, so it cannot "
                              "stay built from them")
        if use.pieces:
            return self._joined(use, new.value, positions)
        value = new.value
        if "r" in lit.prefix.lower():
            raise CannotWrite("a raw f-string selector is not rewritten")
        engine = re.match(r"(?:xpath|css)=", lit.value)
        if engine and not value.startswith(engine.group(0)):  # f"xpath={TOOLBAR}/button" keeps its engine
            shift = len(engine.group(0))
            value = engine.group(0) + value
            positions = [(start + shift, bound, expr) for start, bound, expr in positions]
        holed = [(start, bound, f"${{{expr}}}" if lit.quote == "`" else f"{{{expr}}}")
                 for start, bound, expr in positions]
        text = _with_holes(lit, value, holed)
        if text is None:
            raise CannotWrite("the test's values overlap in the healed selector")
        return Replacement(lit.start, lit.end, text)

    def _joined(self, use: Use, value: str, positions: list[tuple[int, str, str]]) -> Replacement:
        """A selector joined from pieces (ROW + "//button[text()='Renew']"): the change must fall in
        one piece written as a literal; the constants it names stay as they are."""
        fmt = use.template is not None and use.template.fmt

        def raw(text: str) -> str:  # the static text as a piece of the template holds it
            return text.replace("{", "{{").replace("}", "}}") if fmt else text

        body, last = [], 0
        for start, bound, expr in sorted(positions):
            body += [raw(value[last:start]), f"{{{expr}}}"]
            last = start + len(bound)
        body.append(raw(value[last:]))
        new, old = "".join(body), "".join(text for _, text in use.pieces)
        head = next(i for i, (a, b) in enumerate(zip([*old, None], [*new, None], strict=False)) if a != b)
        tail = 0
        while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
            tail += 1
        at = 0
        for lit, text in use.pieces:
            if at <= head and len(old) - tail <= at + len(text):
                if lit is None:
                    break
                piece = text[: head - at] + new[head : len(new) - tail] + text[len(old) - tail - at :]
                return Replacement(lit.start, lit.end, self._lit(piece, lit.quote))
            at += len(text)
        raise CannotWrite("the change spans the constants the selector is joined from, which other "
                          "locators use too")

    @staticmethod
    def _static(text: str, q: str) -> str:
        text = text.replace("\\", "\\\\").replace(q, "\\" + q)
        return text.replace("${", "\\${") if q == "`" else text.replace("{", "{{").replace("}", "}}")

    def _in_selector_string(self, use: Use, call: Call, index: int, part: int, new: Step) -> Replacement:
        if new.kind not in (CSS, XPATH):
            raise CannotWrite(f"a {new.kind} locator cannot be written inside a selector string")
        arg = call.arg(0) if call.name else call.args[0]
        if arg is None or arg.literal is None:
            raise CannotWrite("the selector is not a string literal")
        lit = arg.literal
        parts = _split_chain(lit.value)
        if len(parts) == 1:
            old_part = parts[0]
            value = _with_engine(old_part, new)
        else:
            real = [i for i, p in enumerate(parts) if not p.strip().lower().startswith("visible=")]
            if part >= len(real):
                raise CannotWrite("the selector chain does not line up with its parts")
            parts[real[part]] = (
                (" " if real[part] else "")
                + _with_engine(parts[real[part]].strip(), new)
                + (" " if real[part] < len(parts) - 1 else "")
            )
            value = ">>".join(parts)
        return Replacement(lit.start, lit.end, lit.prefix + self._lit(value, lit.quote))

    def _call(self, call: Call, old: Step, new: Step) -> Replacement:
        q = self._q(call)
        # Same method, only a value changed: replace just those literals.
        if new.kind == old.kind and new.exact == old.exact and (new.name is None) == (old.name is None):
            edits = []
            if old.kind == CONTAINS:
                if old.value and new.value:
                    edits += self._literal_edit(call.arg(0), new.value)
                    edits += self._literal_edit(call.arg(1), new.name or "")
                elif not old.value and not new.value:
                    edits += self._literal_edit(call.arg(0), new.name or "")
                else:
                    edits = []
            elif old.kind == ROLE:
                if new.value != old.value:
                    edits += self._literal_edit(call.arg(0), new.value)
                if new.name != old.name:
                    edits += self._literal_edit(call.option("name"), new.name or "")
            else:
                edits += self._literal_edit(call.arg(0), new.value)
            if edits and all(e is not None for e in edits):
                outside = [e for e in edits if e is not None and not call.start <= e.start < call.end]
                if not outside:
                    return _merge(self.src.text, call, edits)
                # The value is kept in a constant (get_by_test_id(EMAIL)): the constant is edited,
                # once for every use of it. A constant and a literal of the same call both changing
                # is left to a person.
                if len(edits) == 1:
                    return outside[0]
                raise CannotWrite("one value is kept in a constant and another is written in the call")
        return Replacement(call.start, call.end, self._format_call(call, new, q))

    def _literal_edit(self, arg, value: str) -> list[Replacement | None]:  # type: ignore[no-untyped-def]
        if arg is None or arg.literal is None:
            return [None]
        lit = arg.literal
        if lit.value == value:
            return []
        return [
            Replacement(
                lit.start, lit.end, lit.prefix.replace("f", "").replace("F", "") + self._lit(value, lit.quote)
            )
        ]

    def _format_call(self, call: Call, new: Step, q: str) -> str:
        name = call.name
        tl = re.match(r"^(find|get|query)(All)?By", name)
        lit = lambda v: self._lit(v, q)  # noqa: E731
        # Cypress's Testing Library has only findBy*/findAllBy*: a getBy* is Playwright's (getByLabel,
        # not getByLabelText; a locator() where no getBy* finds the element).
        if tl and name.startswith("getBy"):
            tl = None
        if tl:
            method = tl.group(0) + _TL.get(new.kind, "")
            if new.kind not in _TL:
                raise CannotWrite(f"Testing Library has no query for a {new.kind} locator")
            if new.kind == ROLE:
                opts = f"{{ name: {lit(new.name)} }}" if new.name is not None else ""
                return f"{method}({lit(new.value)}{', ' + opts if opts else ''})"
            return f"{method}({lit(new.value)})"
        if name in ("get", "find", "contains"):  # Cypress
            if new.kind == CSS:
                return f"{'find' if name == 'find' else 'get'}({lit(new.value)})"
            if new.kind == CONTAINS:
                text = f"/{new.name}/{new.regex}" if new.regex is not None else lit(new.name or "")
                if new.value:
                    return f"contains({lit(new.value)}, {text})"
                return f"contains({text})"
            raise CannotWrite(f"cy.{name} cannot find by {new.kind}")
        table = _PW_PY if self.lang == "py" else _PW_JS
        method = table.get(new.kind)
        if method is None:
            raise CannotWrite(f"no Playwright method finds by {new.kind}")
        value = (
            new.value
            if new.kind != XPATH or new.value.startswith("xpath=")
            else (new.value if new.value.startswith("/") else f"xpath={new.value}")
        )
        if new.kind == ROLE:
            if self.lang == "py":
                extra = (f", name={lit(new.name)}" if new.name is not None else "") + (
                    ", exact=True" if new.exact else ""
                )
                return f"{method}({lit(value)}{extra})"
            fields = ([f"name: {lit(new.name)}"] if new.name is not None else []) + (
                ["exact: true"] if new.exact else []
            )
            return f"{method}({lit(value)}{', { ' + ', '.join(fields) + ' }' if fields else ''})"
        if new.exact and new.kind in (TEXT, LABEL, PLACEHOLDER, ALT, TITLE, TESTID) and new.kind != TESTID:
            return (
                f"{method}({lit(value)}, exact=True)"
                if self.lang == "py"
                else f"{method}({lit(value)}, {{ exact: true }})"
            )
        return f"{method}({lit(value)})"

    def _selenium_tuple(self, use: Use, new: Step) -> Replacement:
        assert use.by_args is not None
        kind_arg, value_arg = use.by_args
        by, value = _by(new, kind_arg.text.split(".")[-1].strip(), _BY_PY)
        lit = value_arg.literal
        assert lit is not None
        return Replacement(
            kind_arg.start,
            value_arg.end,
            f"By.{by}, {lit.prefix.replace('f', '')}{self._lit(value, lit.quote)}",
        )

    def _selenium_js(self, call: Call, new: Step) -> Replacement:
        by, value = _by(new, call.name, _BY_JS)
        return Replacement(call.start, call.end, f"{by}({self._lit(value, self._q(call))})")


def _by(new: Step, old_by: str, table: dict[str, str]) -> tuple[str, str]:
    """The By method for a new step, keeping By.CLASS_NAME / className when the heal is one class."""
    single_class = re.fullmatch(r"\.(-?[A-Za-z_][\w-]*)", new.value) if new.kind == CSS else None
    if old_by in ("CLASS_NAME", "className") and single_class:
        return old_by, single_class.group(1)
    by = table.get(new.kind)
    if by is None:
        raise CannotWrite(f"Selenium has no By for a {new.kind} locator")
    return by, new.value


def _with_engine(old_part: str, new: Step) -> str:
    """Keep an explicit engine prefix (``css=``, ``xpath=``) the old part used."""
    m = re.match(r"^\s*(css|xpath)\s*=", old_part)
    if m:
        return f"{m.group(1)}={new.value}"
    return new.value


def _merge(text: str, call: Call, edits: list[Replacement | None]) -> Replacement:
    """Several literal edits inside one call as one replacement of the call's text."""
    body = text[call.start : call.end]
    for e in sorted((e for e in edits if e is not None), key=lambda e: -e.start):
        body = body[: e.start - call.start] + e.text + body[e.end - call.start :]
    return Replacement(call.start, call.end, body)


def apply(text: str, replacements: list[Replacement]) -> str:
    # One constant edited for each of its uses is one edit.
    replacements = list(dict.fromkeys(replacements))
    for r in sorted(replacements, key=lambda r: -r.start):
        text = text[: r.start] + r.text + text[r.end :]
    return text


def edit_hunk(before: str, after: str) -> tuple[str, str]:
    """One (old_text, new_text) covering every changed line, widened until old_text occurs once."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    ops = [op for op in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes() if op[0] != "equal"]
    if not ops:
        return "", ""
    a0, a1 = ops[0][1], ops[-1][2]
    b0, b1 = ops[0][3], ops[-1][4]
    while True:
        old, new = "".join(a[a0:a1]), "".join(b[b0:b1])
        if old and before.count(old) == 1:
            return old, new
        if a0 == 0 and a1 == len(a):
            return old, new
        if a0 > 0:
            a0, b0 = a0 - 1, b0 - 1
        if a1 < len(a):
            a1, b1 = a1 + 1, b1 + 1
