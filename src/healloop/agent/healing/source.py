"""Just enough of JavaScript, TypeScript and Python to find calls and their literal arguments.

Not a parser: a scanner that knows where string literals, comments and brackets are, so a locator
call is found in code (not inside a string or a comment) and its arguments are read as values with
their exact spans, which is what rewriting one argument in place needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Literal:
    """A string literal: its value and where it sits (``start``/``end`` include the quotes)."""

    value: str
    start: int
    end: int
    quote: str  # ' " ` or a Python triple quote
    prefix: str = ""  # Python string prefix (r, f, ...)
    fmt: bool = False  # a Python str.format template ("tr[data-order='{wo}']".format(wo=wo))


@dataclass(frozen=True)
class Regex:
    """A JavaScript regular-expression literal (/Save/i), or Python's re.compile("Save", re.I)."""

    pattern: str
    flags: str
    start: int
    end: int


@dataclass
class Arg:
    """One argument of a call: a literal, a regex, an object/keyword map, or code kept as text."""

    start: int
    end: int
    text: str
    literal: Literal | None = None
    regex: Regex | None = None
    keyword: str | None = None  # Python keyword argument name
    fields: dict[str, Arg] = field(default_factory=dict)  # a JS object literal's fields

    @property
    def value(self) -> str | None:
        return self.literal.value if self.literal else None


@dataclass
class Call:
    """``name(args)``: ``start`` is where the name begins, ``end`` just after the closing paren;
    ``dot`` is the position of the ``.`` before the name (-1 when there is none)."""

    name: str
    start: int
    end: int
    args: list[Arg]
    dot: int = -1

    def arg(self, i: int) -> Arg | None:
        positional = [a for a in self.args if a.keyword is None]
        return positional[i] if i < len(positional) else None

    def option(self, name: str) -> Arg | None:
        """A keyword argument (Python) or a field of a trailing object literal (JavaScript)."""
        for a in self.args:
            if a.keyword == name:
                return a
            if name in a.fields:
                return a.fields[name]
        return None


class Source:
    """A source file with its literals and comments located once."""

    def __init__(self, text: str, lang: str) -> None:
        self.text = text
        self.lang = lang  # "js" or "py"
        self.literals: list[Literal] = []
        self._masked: list[tuple[int, int]] = []  # literals and comments
        self._scan()
        self._starts = {lit.start: lit for lit in self.literals}

    def comment_near(self, pos: int) -> str:
        """What a comment says of the code at ``pos``: the one that ends its line, else the comment
        lines right above it (``# gross annual salary``, ``// composer textarea``)."""
        s, mark = self.text, "#" if self.lang == "py" else "//"
        line_start = s.rfind("\n", 0, pos) + 1
        line_end = s.find("\n", pos)
        line_end = len(s) if line_end < 0 else line_end
        for a, b in self._masked:
            if pos <= a < line_end and s.startswith(mark, a):
                return s[a + len(mark) : b].strip()
        above: list[str] = []
        end = line_start - 1
        while end > 0:
            start = s.rfind("\n", 0, end) + 1
            line = s[start:end].strip()
            if not line.startswith(mark):
                break
            above.insert(0, line[len(mark) :].strip())
            end = start - 1
        return " ".join(above)

    def _scan(self) -> None:
        s, n, i = self.text, len(self.text), 0
        while i < n:
            c = s[i]
            if (self.lang == "py" and c == "#") or (self.lang == "js" and s.startswith("//", i)):
                j = s.find("\n", i)
                j = n if j < 0 else j
                self._masked.append((i, j))
                i = j
            elif self.lang == "js" and s.startswith("/*", i):
                j = s.find("*/", i + 2)
                j = n if j < 0 else j + 2
                self._masked.append((i, j))
                i = j
            elif c in "'\"`" and (c != "`" or self.lang == "js"):
                prefix_start = i
                if self.lang == "py":
                    while prefix_start > 0 and s[prefix_start - 1] in "rRbBfFuU":
                        prefix_start -= 1
                    if prefix_start > 0 and (s[prefix_start - 1].isalnum() or s[prefix_start - 1] == "_"):
                        prefix_start = i  # part of an identifier, not a prefix
                lit = self._literal(i, s[prefix_start:i])
                self.literals.append(lit)
                self._masked.append((lit.start, lit.end))
                i = lit.end
            else:
                i += 1

    def _literal(self, i: int, prefix: str) -> Literal:
        s, n = self.text, len(self.text)
        quote = s[i]
        if self.lang == "py" and s.startswith(quote * 3, i):
            quote = quote * 3
        j = i + len(quote)
        raw = "r" in prefix.lower()
        out: list[str] = []
        while j < n and not s.startswith(quote, j):
            ch = s[j]
            if ch == "\\" and j + 1 < n:
                nxt = s[j + 1]
                if raw:
                    out.append(ch + nxt)
                else:
                    out.append({"n": "\n", "t": "\t", "r": "\r", "\n": ""}.get(nxt, nxt))
                j += 2
                continue
            if ch == "\n" and len(quote) == 1 and quote != "`":
                break  # an unterminated literal ends at the line's end
            out.append(ch)
            j += 1
        end = min(n, j + len(quote))
        start = i - len(prefix)
        return Literal("".join(out), start, end, quote, prefix)

    def in_code(self, pos: int) -> bool:
        return not any(a <= pos < b for a, b in self._masked)

    def literal_at(self, pos: int) -> Literal | None:
        return self._starts.get(pos)

    def skip_ws(self, i: int) -> int:
        s, n = self.text, len(self.text)
        while i < n:
            if s[i].isspace():
                i += 1
                continue
            masked = next((b for a, b in self._masked if a == i and not self.literal_at(i)), None)
            if masked is None:
                return i
            i = masked  # a comment
        return i

    def skip_ws_back(self, i: int) -> int:
        """The position just after the last non-space code character before ``i``."""
        s = self.text
        while i > 0 and s[i - 1].isspace():
            i -= 1
        return i

    # -- calls
    def calls(self, names: frozenset[str] | set[str]) -> list[Call]:
        """Every call in code of a function or method named in ``names``, in source order."""
        out = []
        pattern = re.compile(
            r"(?<![\w$])(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")\s*\("
        )
        for m in pattern.finditer(self.text):
            if not self.in_code(m.start()):
                continue
            call = self.call_at(m.start(1), m.group(1), m.end() - 1)
            if call is not None:
                out.append(call)
        return out

    def call_at(self, start: int, name: str, paren: int) -> Call | None:
        args, end = self.args(paren)
        if end < 0:
            return None
        before = self.skip_ws_back(start)
        dot = before - 1 if before > 0 and self.text[before - 1] == "." else -1
        return Call(name, start, end, args, dot)

    def args(self, paren: int) -> tuple[list[Arg], int]:
        """Arguments of the call whose ``(`` is at ``paren``; returns (args, position after ``)``)."""
        s, n = self.text, len(self.text)
        i = paren + 1
        args: list[Arg] = []
        while True:
            i = self.skip_ws(i)
            if i >= n:
                return args, -1
            if s[i] == ")":
                return args, i + 1
            arg, i = self._arg(i, ")")
            if arg is None:
                return args, -1
            args.append(arg)
            i = self.skip_ws(i)
            if i < n and s[i] == ",":
                i += 1

    def _arg(self, i: int, closer: str) -> tuple[Arg | None, int]:
        s = self.text
        keyword = None
        if self.lang == "py":
            m = re.compile(r"([A-Za-z_]\w*)\s*=(?!=)").match(s, i)
            if m:
                keyword, i = m.group(1), self.skip_ws(m.end())
        end = self._expr_end(i, closer)
        if end < 0:
            return None, -1
        stop = self.skip_ws_back(end)
        arg = Arg(i, stop, s[i:stop], keyword=keyword)
        lit = self.literal_at(i)
        if lit is not None and self.skip_ws_back(end) == lit.end:
            arg.literal = lit
        elif self.lang == "js" and s[i] == "/":
            arg.regex = self._js_regex(i, stop)
        elif self.lang == "js" and s[i] == "{":
            arg.fields = self._object(i)
        elif self.lang == "py" and s.startswith("re.compile", i):
            arg.regex = self._py_regex(i, stop)
        return arg, end

    def _expr_end(self, i: int, closer: str) -> int:
        """The end of one argument: the next top-level ``,`` or the closing bracket."""
        s, n = self.text, len(self.text)
        depth = 0
        while i < n:
            lit = self.literal_at(i)
            if lit is not None:
                i = lit.end
                continue
            c = s[i]
            if self.lang == "js" and c == "/" and depth == 0 and self._regex_can_start(i):
                m = re.compile(r"/(?:\\.|\[(?:\\.|[^\]\\])*\]|[^/\\\n])+/[a-z]*").match(s, i)
                if m:
                    i = m.end()
                    continue
            if c in "([{":
                depth += 1
            elif c in ")]}":
                if depth == 0:
                    return i if c == closer else -1
                depth -= 1
            elif c == "," and depth == 0:
                return i
            i += 1
        return -1

    def _regex_can_start(self, i: int) -> bool:
        before = self.skip_ws_back(i)
        return before == 0 or self.text[before - 1] in "(,=:[!&|?{};"

    def _js_regex(self, i: int, stop: int) -> Regex | None:
        m = re.compile(r"/((?:\\.|\[(?:\\.|[^\]\\])*\]|[^/\\\n])+)/([a-z]*)").fullmatch(self.text, i, stop)
        return Regex(m.group(1), m.group(2), i, stop) if m else None

    def _py_regex(self, i: int, stop: int) -> Regex | None:
        paren = self.text.find("(", i)
        args, _ = self.args(paren)
        if not args or args[0].literal is None:
            return None
        flags = "i" if any("IGNORECASE" in a.text or "re.I" in a.text for a in args[1:]) else ""
        return Regex(args[0].literal.value, flags, i, stop)

    def _object(self, i: int) -> dict[str, Arg]:
        """The fields of a flat JS object literal starting at ``{``: values kept as Args."""
        s, n = self.text, len(self.text)
        fields: dict[str, Arg] = {}
        j = i + 1
        while j < n:
            j = self.skip_ws(j)
            if j >= n or s[j] == "}":
                break
            lit = self.literal_at(j)
            if lit is not None:
                key, j = lit.value, lit.end
            else:
                m = _IDENT.match(s, j)
                if not m:
                    break
                key, j = m.group(0), m.end()
            j = self.skip_ws(j)
            if j >= n or s[j] != ":":
                break
            value, j = self._arg(self.skip_ws(j + 1), "}")
            if value is None:
                break
            fields[key] = value
            j = self.skip_ws(j)
            if j < n and s[j] == ",":
                j += 1
        return fields

    def line_of(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1


def quote(value: str, q: str, lang: str) -> str:
    """``value`` as a literal with the quote character ``q`` (escaping what must be)."""
    if len(q) == 3:
        return f"{q}{value}{q}" if q not in value else quote(value, q[0], lang)
    escaped = value.replace("\\", "\\\\").replace(q, "\\" + q).replace("\n", "\\n")
    if q == "`":
        escaped = escaped.replace("${", "\\${")
    return f"{q}{escaped}{q}"


def number(text: str) -> int | None:
    m = _NUMBER.fullmatch(text.strip())
    return int(float(m.group(0))) if m else None
