"""Selectors built inside a helper from its parameter: ``const sel = (id) => By.css(`[data-test="${id}"]`)``
and ``def tid(name): return page.get_by_test_id(f"row-{name}")``. The value that broke is the
argument a test passed (``sel('submit-order')``): a heal changes that argument where the tests pass
it, and leaves the helper, which the other tests still use with their own values, as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from healloop.agent.healing.locators import holes, template_pattern
from healloop.agent.healing.source import Literal, Source

_IDENT = r"[A-Za-z_$][\w$]*"
# Definitions a selector can sit in, nearest first: an arrow function or a function (JS, TS), a
# method of a class or an object literal (JS), a def (Python).
_JS_DEFS = (
    re.compile(rf"(?:const|let|var)\s+({_IDENT})\s*(?::[^=]+)?=\s*(?:async\s*)?\(([^()]*)\)\s*(?::[^=]+)?=>"),
    re.compile(rf"(?:const|let|var)\s+({_IDENT})\s*=\s*(?:async\s*)?({_IDENT})\s*=>"),
    re.compile(rf"function\s*\*?\s*({_IDENT})\s*\(([^()]*)\)"),
    re.compile(rf"^[ \t]*(?:async\s+|get\s+|static\s+)*({_IDENT})\s*\(([^()]*)\)\s*(?::[^{{]+)?\{{", re.M),
    re.compile(rf"({_IDENT})\s*:\s*(?:async\s*)?\(([^()]*)\)\s*=>"),
)
_PY_DEF = re.compile(r"^([ \t]*)(?:async\s+)?def\s+(\w+)\s*\(([^()]*)\)", re.M)
_JS_KEYWORDS = frozenset({"if", "for", "while", "switch", "catch", "function", "return", "constructor"})


@dataclass(frozen=True)
class Helper:
    name: str
    index: int  # the parameter's position among those a caller passes (Python's self/cls not counted)
    start: int  # where its definition begins: calls from there to the selector are not the tests'


def _params(text: str) -> list[str]:
    out = []
    for part in text.split(","):
        name = re.split(r"[:=]", part.strip().lstrip("*").lstrip("."), maxsplit=1)[0].strip()
        if name:
            out.append(name)
    return out


def _definition(src: Source, at: int) -> tuple[str, list[str], int] | None:
    """The function whose short body ``at`` sits in: its name, the parameters a caller passes
    (Python's self/cls not counted) and where its definition begins."""
    text = src.text
    if src.lang == "py":
        line_start = text.rfind("\n", 0, at) + 1
        indent = len(text[line_start:at]) - len(text[line_start:at].lstrip())
        best = None
        for m in _PY_DEF.finditer(text, 0, at):
            if len(m.group(1)) < indent:
                best = m
        if best is None:
            return None
        # Nothing at the def's indentation or less between it and the selector: still its body.
        body = text[best.end() : line_start]
        def_indent = len(best.group(1))
        for line in body.splitlines()[1:]:
            if line.strip() and len(line) - len(line.lstrip()) <= def_indent:
                return None
        params = _params(best.group(3))
        if params and params[0] in ("self", "cls"):
            params = params[1:]
        return best.group(2), params, best.start()
    found = []
    for pattern in _JS_DEFS:
        for m in pattern.finditer(text, 0, at):
            if m.group(1) in _JS_KEYWORDS or not src.in_code(m.start(1)):
                continue
            found.append(m)
    if not found:
        return None
    nearest = max(found, key=lambda m: m.start())
    # A helper is short: the selector sits within a few lines of its definition.
    if text.count("\n", nearest.end(), at) > 6:
        return None
    return nearest.group(1), _params(nearest.group(2)), nearest.start()


def helper_of(src: Source, at: int, expr: str) -> Helper | None:
    """The function whose parameter ``expr`` is, when the selector at ``at`` is built inside it."""
    if not re.fullmatch(_IDENT, expr):
        return None
    found = _definition(src, at)
    if found is None or expr not in found[1]:
        return None
    name, params, start = found
    return Helper(name, params.index(expr), start)


def enclosing_helper(src: Source, at: int) -> Helper | None:
    """The short function a locator at ``at`` is written in (index -1: no parameter in question)."""
    found = _definition(src, at)
    return Helper(found[0], -1, found[2]) if found is not None else None


def argument_sites(src: Source, helper: Helper, value: str, *, body_end: int) -> list[Literal]:
    """The string literals passed as the helper's parameter with ``value``, outside its own definition:
    equal to it, or a template that makes it (``tid(`mark-ready-${orderId}`)`` for "mark-ready-7731")."""
    out = []
    for call in src.calls({helper.name}):
        if helper.start <= call.start < body_end:
            continue
        arg = call.arg(helper.index)
        lit = arg.literal if arg is not None else None
        if lit is None or "r" in lit.prefix.lower():
            continue
        if holes(lit):
            if template_pattern(lit).fullmatch(value):
                out.append(lit)
        elif lit.value == value and not lit.prefix and lit.quote != "`":
            out.append(lit)
    return out
