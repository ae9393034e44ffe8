"""The structure of a CSS selector or an XPath: the part that leads to the element (its ancestors)
and the part that names it, and the same selector with one thing that a page change breaks taken
out (a child combinator, a position, an ancestor's predicate). Pure string work.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_COMPOUND_SPLIT = re.compile(r"\s*[>+~]\s*|\s+(?![^\[]*\])(?![^(]*\))")
_POSITIONAL = re.compile(
    r":(?:nth-child|nth-of-type|nth-last-child|nth-last-of-type)\([^)]*\)|:(?:first|last)-(?:child|of-type)"
    r"|:eq\(\d+\)|:first\b|:last\b"
)


def css_compounds(selector: str) -> list[str]:
    return [p for p in _COMPOUND_SPLIT.split(selector.strip()) if p]


def css_last(selector: str) -> str:
    parts = css_compounds(selector)
    return parts[-1] if parts else ""


def css_prefix(selector: str) -> str:
    """The selector without its last compound (``form#login > button.primary`` → ``form#login``)."""
    last = css_last(selector)
    s = selector.rstrip()
    if not last or not s.endswith(last):
        return ""
    return re.sub(r"\s*[>+~]?\s*$", "", s[: -len(last)]).strip()


def css_relaxed(selector: str) -> Iterator[tuple[str, float]]:
    """The selector with what a wrapper, a reordering or a renamed ancestor breaks taken out, each
    with how much of the original it keeps: a child combinator made a descendant one (0.85), a
    position dropped (0.75), leading compounds dropped (0.7)."""
    seen = {selector.strip()}
    no_child = re.sub(r"\s*>\s*", " ", selector)
    no_pos = _POSITIONAL.sub("", selector)
    both = _POSITIONAL.sub("", no_child)
    out = [(no_child, 0.85), (no_pos, 0.75), (both, 0.7)]
    parts = re.split(r"\s+(?![^\[]*\])(?![^(]*\))", both.strip())
    out += [(" ".join(parts[i:]), 0.7) for i in range(1, len(parts))]
    for s, kept in out:
        s = s.strip()
        if s and s not in seen and not s.endswith((">", "+", "~")):
            seen.add(s)
            yield s, kept


def xpath_steps(expr: str) -> list[str]:
    """Location steps with their leading ``/`` or ``//`` (``//tr[td='x']//button`` → two steps)."""
    steps, depth, cur, i = [], 0, "", 0
    while i < len(expr):
        c = expr[i]
        if c in "[(":
            depth += 1
        elif c in "])":
            depth -= 1
        elif c in "'\"":
            j = expr.find(c, i + 1)
            j = len(expr) - 1 if j < 0 else j
            cur += expr[i : j + 1]
            i = j + 1
            continue
        if c == "/" and depth == 0 and cur and not cur.endswith("/") and cur.strip("/"):
            steps.append(cur)
            cur = ""
        cur += c
        i += 1
    if cur:
        steps.append(cur)
    return steps


_SIDEWAYS = re.compile(r"^/+(?:following-sibling|preceding-sibling|following|preceding)::")


def xpath_prefix(expr: str) -> str:
    """The steps that lead down to the element. A step reached sideways (``//label[.='ZIP']/
    following-sibling::input``) hangs off its sibling's parent: the sibling is not on the way."""
    steps = xpath_steps(expr)
    if len(steps) > 1 and _SIDEWAYS.match(steps[-1]):
        return "".join(steps[:-2]) if len(steps) > 2 else ""
    return "".join(steps[:-1]) if len(steps) > 1 else ""


# A predicate that tests a child element by name (li[span[...]], tr[td='x']), not an attribute, a
# function or a position.
_PREDICATE_CHILD = re.compile(r"\[(?=[A-Za-z_][\w.-]*(?![\w.-]*\s*\())")


def xpath_relaxed(expr: str) -> Iterator[tuple[str, float]]:
    """The XPath with one step's ``/`` made ``//`` (0.9), an ancestor step's predicates dropped (0.8),
    every ``/`` made ``//`` (0.85), leading
    steps dropped (0.7), or the last step's own predicates dropped (0.4: that was its name)."""
    steps = xpath_steps(expr)
    seen = {expr}
    out: list[tuple[str, float]] = []
    # A wrapper inserted at one level: that one step's "/" made "//", the rest kept (last step first,
    # where wrappers most often go).
    for i in reversed(range(1, len(steps))):
        if steps[i].startswith("/") and not steps[i].startswith("//"):
            out.append(("".join([*steps[:i], "/" + steps[i], *steps[i + 1 :]]), 0.9))
    loose = ["//" + s.lstrip("/") if s.startswith("/") and not s.startswith("//") else s for s in steps]
    out.append(("".join(loose), 0.85))
    # A wrapper inside a step's predicate too (li[span[...]] once the name sits in a div): its
    # element tests look among descendants (li[.//span[...]]), with the steps made // as well.
    deep = [_PREDICATE_CHILD.sub("[.//", s) for s in loose]
    if deep != loose:
        out.append(("".join(deep), 0.8))
    sideways = len(steps) > 1 and bool(_SIDEWAYS.match(steps[-1]))
    if sideways:
        # //label[.='Area']/following-sibling::input once the input sits in a wrapper beside the label
        # (a Bootstrap input-group): the sibling holds it.
        held = re.sub(r"^(/+(?:following|preceding)-sibling::)", r"\1*//", steps[-1])
        if held != steps[-1]:
            out.append(("".join([*steps[:-1], held]), 0.9))
    for i, s in enumerate(steps[:-1]):
        bare = re.sub(r"\[.*\]$", "", s)
        if bare != s:
            # The step a sideways last step hangs off names the element (the label of
            # //label[.='Area']/following-sibling::input): without its predicate, little is left.
            named = sideways and i == len(steps) - 2
            out.append(("".join([*steps[:i], bare, *steps[i + 1 :]]), 0.4 if named else 0.8))
    for i in range(1, len(steps)):
        out.append(("//" + "".join(steps[i:]).lstrip("/"), 0.4 if sideways and i == len(steps) - 1 else 0.7))
    last_bare = re.sub(r"\[.*\]$", "", steps[-1]) if steps else ""
    if steps and last_bare != steps[-1]:
        out.append(("".join([*steps[:-1], last_bare]), 0.4))
    for s, kept in out:
        if s and s not in seen:
            seen.add(s)
            yield s, kept
