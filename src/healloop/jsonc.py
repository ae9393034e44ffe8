"""JSON with comments, read with the place of every value kept, so a file can be edited in place.

VS Code's own files (``.vscode/mcp.json``, ``settings.json``) are JSONC: ``//`` and ``/* */`` comments
and trailing commas are allowed. ``healloop init --vscode`` changes a few entries of such a file and
must leave the rest as its owner wrote it, comments and layout included, so it edits the text at the
spans found here instead of loading the document and dumping it again.

``parse`` gives a tree of ``Node``; ``set_members`` and ``upsert_items`` give the ``Edit``s that add or
replace entries of an object or an array; ``apply`` makes them. ``dumps`` renders new values in the
file's own indentation and line endings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from healloop.errors import HealloopError

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LITERALS = {"true": True, "false": False, "null": None}
# One-line arrays of plain values up to this width, like the examples in VS Code's documentation.
_INLINE_WIDTH = 100


class JsoncError(HealloopError):
    """The text is not JSON (comments and trailing commas allowed); the message names line and column."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message, field="json")
        self.line = line
        self.column = column


@dataclass
class Node:
    kind: str               # "object", "array" or "value"
    start: int              # offset of its first character
    end: int                # offset just past its last character
    value: Any              # the plain Python value, comments dropped
    members: list[Member] = field(default_factory=list)   # an object's, in the file's order
    items: list[Node] = field(default_factory=list)       # an array's
    trailing_comma: bool = False                          # a comma after the last member or item


@dataclass
class Member:
    key: str
    start: int              # offset of the key's opening quote
    node: Node


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


def _position(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str, pos: int | None = None) -> JsoncError:
        line, column = _position(self.text, self.pos if pos is None else pos)
        return JsoncError(f"line {line}, column {column}: {what}", line, column)

    def peek(self) -> str:
        return self.text[self.pos:self.pos + 1]

    def skip_blanks(self) -> None:
        """Past whitespace and comments."""
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in " \t\r\n\ufeff":
                self.pos += 1
            elif text.startswith("//", self.pos):
                newline = text.find("\n", self.pos)
                self.pos = len(text) if newline < 0 else newline + 1
            elif text.startswith("/*", self.pos):
                close = text.find("*/", self.pos + 2)
                if close < 0:
                    raise self.fail("a /* comment is never closed with */")
                self.pos = close + 2
            else:
                return

    def document(self) -> Node:
        self.skip_blanks()
        if self.pos == len(self.text):
            raise self.fail("the file holds no JSON value")
        node = self.value()
        self.skip_blanks()
        if self.pos != len(self.text):
            raise self.fail("unexpected text after the end of the JSON value")
        return node

    def value(self) -> Node:
        ch = self.peek()
        if ch == "{":
            return self.object()
        if ch == "[":
            return self.array()
        start = self.pos
        if ch == '"':
            source = self.string()
            return Node("value", start, self.pos, json.loads(source))
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, start):
                self.pos += len(word)
                return Node("value", start, self.pos, literal)
        number = _NUMBER.match(self.text, start)
        if number:
            self.pos = number.end()
            return Node("value", start, self.pos, json.loads(number.group()))
        raise self.fail("expected a value (an object, array, string, number, true, false or null)"
                        if ch else "the file ends where a value was expected")

    def string(self) -> str:
        """The string's source text, quotes included; ``pos`` moves past it."""
        start = self.pos
        end = self.string_end()
        source = self.text[start:end]
        try:
            json.loads(source)
        except json.JSONDecodeError as exc:
            raise self.fail(f"bad string: {exc.msg}", start + exc.pos) from None
        self.pos = end
        return source

    def string_end(self) -> int:
        pos = self.pos + 1
        text = self.text
        while pos < len(text):
            ch = text[pos]
            if ch == '"':
                return pos + 1
            if ch == "\\":
                pos += 2
            elif ch == "\n":
                break
            else:
                pos += 1
        raise self.fail("a string is never closed with a quote")

    def object(self) -> Node:
        node = Node("object", self.pos, self.pos, {})
        self.pos += 1
        self.skip_blanks()
        while self.peek() != "}":
            if self.peek() != '"':
                raise self.fail("expected a quoted member name or '}'")
            key_start = self.pos
            key = json.loads(self.string())
            self.skip_blanks()
            if self.peek() != ":":
                raise self.fail(f"expected ':' after the member name {key!r}")
            self.pos += 1
            self.skip_blanks()
            child = self.value()
            node.members.append(Member(key, key_start, child))
            node.value[key] = child.value
            self.skip_blanks()
            node.trailing_comma = False
            if self.peek() == ",":
                node.trailing_comma = True
                self.pos += 1
                self.skip_blanks()
            elif self.peek() != "}":
                raise self.fail(f"expected ',' or '}}' after the member {key!r}")
        self.pos += 1
        node.end = self.pos
        return node

    def array(self) -> Node:
        node = Node("array", self.pos, self.pos, [])
        self.pos += 1
        self.skip_blanks()
        while self.peek() != "]":
            child = self.value()
            node.items.append(child)
            node.value.append(child.value)
            self.skip_blanks()
            node.trailing_comma = False
            if self.peek() == ",":
                node.trailing_comma = True
                self.pos += 1
                self.skip_blanks()
            elif self.peek() != "]":
                raise self.fail("expected ',' or ']' after an array item")
        self.pos += 1
        node.end = self.pos
        return node


def parse(text: str) -> Node:
    """The document's tree; ``JsoncError`` naming line and column when it is not JSONC."""
    return _Reader(text).document()


def newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def line_indent(text: str, pos: int) -> str:
    """The whitespace that starts the line holding ``pos``."""
    start = text.rfind("\n", 0, pos) + 1
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


def indent_unit(text: str, root: Node) -> str:
    """One level of the file's indentation: from its first member or item on a line of its own."""
    outer = line_indent(text, root.start)
    firsts = [m.start for m in root.members[:1]] + [n.start for n in root.items[:1]]
    for first in firsts:
        inner = line_indent(text, first)
        on_own_line = text[text.rfind("\n", 0, first) + 1:first].strip() == ""
        if on_own_line and inner.startswith(outer) and len(inner) > len(outer):
            return inner[len(outer):]
    return "  "


def dumps(value: Any, unit: str = "  ", base: str = "", nl: str = "\n") -> str:
    """``value`` as JSON whose lines after the first start with ``base``; short plain arrays on one line."""

    def render(v: Any, ind: str) -> str:
        inner = ind + unit
        if isinstance(v, dict) and v:
            parts = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {render(x, inner)}" for k, x in v.items()]
            return "{" + nl + ("," + nl).join(parts) + nl + ind + "}"
        if isinstance(v, list) and v:
            if not any(isinstance(x, dict | list) for x in v):
                flat = "[" + ", ".join(json.dumps(x, ensure_ascii=False) for x in v) + "]"
                if len(ind) + len(flat) <= _INLINE_WIDTH:
                    return flat
            return "[" + nl + ("," + nl).join(inner + render(x, inner) for x in v) + nl + ind + "]"
        return json.dumps(v, ensure_ascii=False)

    return render(value, base)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON: member order aside, and ``true`` is not ``1``."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _replace(text: str, node: Node, value: Any, unit: str, nl: str) -> list[Edit]:
    if same(node.value, value):
        return []
    return [Edit(node.start, node.end, dumps(value, unit, line_indent(text, node.start), nl))]


def _append(text: str, container: Node, render: Callable[[str], list[str]], unit: str, nl: str) -> list[Edit]:
    """Edits adding entries at the end of an object or array; ``render(indent)`` gives their texts."""
    close = container.end - 1
    entries = container.members or container.items
    if not entries:
        indent = line_indent(text, container.start) + unit
        body = ("," + nl).join(indent + e for e in render(indent))
        if text[container.start + 1:close].strip() == "":
            # `{}` or `{` and `}` on lines of their own: lay the new entries out between them.
            return [Edit(container.start + 1, close, nl + body + nl + line_indent(text, container.start))]
        return [Edit(container.start + 1, container.start + 1, nl + body)]  # keep the comments inside
    indent = line_indent(text, entries[-1].start)
    new = render(indent)
    close_line = text.rfind("\n", 0, close) + 1
    if text[close_line:close].strip() != "":   # `{"a": 1}` on one line: the new entries join it there
        return [Edit(close, close, (" " if container.trailing_comma else ", ") + ", ".join(new))]
    # The closing bracket on a line of its own: the new entries go on lines just above it, after whatever
    # follows the last entry (a comment stays with the entry it was written beside).
    last_end = (container.members[-1].node.end if container.members else container.items[-1].end)
    edits = [] if container.trailing_comma else [Edit(last_end, last_end, ",")]
    return [*edits, Edit(close_line, close_line, ("," + nl).join(indent + e for e in new) + nl)]


def set_members(text: str, obj: Node, pairs: list[tuple[str, Any]], unit: str, nl: str) -> list[Edit]:
    """Edits that give each ``key`` of ``pairs`` its value in ``obj``: an existing member (its last
    occurrence, the one JSON readers keep) is replaced when it differs, a missing one is added."""
    edits: list[Edit] = []
    missing: list[tuple[str, Any]] = []
    for key, value in pairs:
        found = [m for m in obj.members if m.key == key]
        if found:
            edits += _replace(text, found[-1].node, value, unit, nl)
        else:
            missing.append((key, value))
    if missing:
        def render(ind: str) -> list[str]:
            return [f"{json.dumps(k, ensure_ascii=False)}: {dumps(v, unit, ind, nl)}" for k, v in missing]

        edits += _append(text, obj, render, unit, nl)
    return edits


def upsert_items(text: str, arr: Node, items: list[Any], match: Callable[[Any, Any], bool], unit: str,
                 nl: str) -> list[Edit]:
    """Edits that put each of ``items`` in ``arr``: replacing the item that ``match(old, new)`` finds,
    else appending it."""
    edits: list[Edit] = []
    missing = []
    for item in items:
        found = [n for n in arr.items if match(n.value, item)]
        if found:
            edits += _replace(text, found[-1], item, unit, nl)
        else:
            missing.append(item)
    if missing:
        edits += _append(text, arr, lambda ind: [dumps(v, unit, ind, nl) for v in missing], unit, nl)
    return edits


def apply(text: str, edits: list[Edit]) -> str:
    """``text`` with ``edits`` made; they must not overlap (two insertions at one place keep their order)."""
    ordered = sorted(enumerate(edits), key=lambda ie: (ie[1].start, ie[0]))
    out, pos = [], 0
    for _, edit in ordered:
        if edit.start < pos:
            raise ValueError(f"overlapping edits at offset {edit.start}")
        out += [text[pos:edit.start], edit.text]
        pos = edit.end
    out.append(text[pos:])
    return "".join(out)
