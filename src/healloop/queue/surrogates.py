"""Finding the unpaired UTF-16 surrogate escape (``"\\ud800"`` alone) that made a JSON body unreadable.

JSON's grammar allows such an escape, but the string it makes is not Unicode, so msgspec refuses the
body as "malformed" with a byte offset. A person is better served by the field that holds it: here
the escapes are read in order, paired, and the first lone one is swapped for a marker so that the
body can be decoded and the marker's place named.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

# Every backslash escape in order: inside JSON strings a backslash always starts one, so reading them
# left to right keeps "\\\\ud800" (an escaped backslash, then text) apart from "\\ud800".
_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
_MARK = "\ufdd0\ufdd1\ufdd2"  # noncharacters: never in a real report
_MARK_ESCAPE = b"\\ufdd0\\ufdd1\\ufdd2"
_REPLACEMENT = b"\\ufffd"


def _lone_spans(body: bytes) -> list[tuple[int, int]]:
    codes = [(m.start(), m.end(), int(m.group(1), 16)) for m in _ESCAPE.finditer(body) if m.group(1)]
    lone, i = [], 0
    while i < len(codes):
        start, end, code = codes[i]
        if 0xD800 <= code <= 0xDBFF and i + 1 < len(codes) and codes[i + 1][0] == end \
                and 0xDC00 <= codes[i + 1][2] <= 0xDFFF:
            i += 2
            continue
        if 0xD800 <= code <= 0xDFFF:
            lone.append((start, end))
        i += 1
    return lone


def _find(value: Any, path: str) -> tuple[str, bool] | None:
    """The path of the string holding the marker, and whether it is an object's key."""
    if isinstance(value, str):
        return (path, False) if _MARK in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            if _MARK in k:
                return path, True
            found = _find(v, f"{path}.{k}" if path else k)
            if found:
                return found
    if isinstance(value, list):
        for n, v in enumerate(value):
            found = _find(v, f"{path}[{n}]")
            if found:
                return found
    return None


def locate(body: bytes) -> tuple[str, str | None, bool] | None:
    """The first lone surrogate escape as written (``\\ud800``), the path of the string that holds it
    (``node``, ``artifacts[0].name``; None when the body cannot be read even without it), and whether
    that string is a key of the object at the path. None when the body has no lone surrogate."""
    spans = _lone_spans(body)
    if not spans:
        return None
    first_start, first_end = spans[0]
    fixed, last = [], 0
    for n, (start, end) in enumerate(spans):
        fixed += [body[last:start], _MARK_ESCAPE if n == 0 else _REPLACEMENT]
        last = end
    fixed.append(body[last:])
    escape = body[first_start:first_end].decode("ascii")
    try:
        found = _find(msgspec.json.decode(b"".join(fixed)), "")
    except (msgspec.DecodeError, RecursionError):
        found = None
    return (escape, found[0], found[1]) if found else (escape, None, False)
