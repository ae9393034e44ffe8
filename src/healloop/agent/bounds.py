"""Bounds on what the agent sends the queue: each string, each list and the whole of a transition's data
are cut, with a marker saying how much was left out, so no report outgrows the queue's 1 MiB body limit.

Commit subjects, log excerpts, diffs and DOM candidates come from the workspace and are as large as
anyone made them: five commits with 300 KB subjects once made a 2.1 MB escalation report, which the
queue refused (413) and the event was escalated as an "agent error" without it.
"""

from __future__ import annotations

import json
from typing import Any

# One string (a message, a log excerpt, a diff) and one list or mapping (commits, candidates, actions).
MAX_TEXT = 4000
MAX_ITEMS = 50
MAX_DEPTH = 12
# A commit subject, in reports and summaries: a person needs its start to recognise it.
MAX_SUBJECT = 300
# Stages of `fit`: each cuts harder than the one before; the first that fits is sent.
_STAGES = ((MAX_TEXT, MAX_ITEMS, MAX_DEPTH), (1000, 20, 8), (300, 10, 6), (100, 5, 4), (40, 3, 3))
MARK = "[cut by healloop:"


def clip(text: str, limit: int) -> str:
    """``text`` itself when it is at most ``limit`` characters, else its start and a marker."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} {MARK} {len(text) - limit} more characters]"


def bound(value: Any, text: int = MAX_TEXT, items: int = MAX_ITEMS, depth: int = MAX_DEPTH) -> Any:
    """A copy of ``value`` (JSON-like) with every string clipped to ``text`` characters, every list and
    mapping to ``items`` entries and nesting to ``depth`` levels, each cut marked."""
    if isinstance(value, str):
        return clip(value, text)
    if isinstance(value, dict | list | tuple) and depth <= 0:
        return f"{MARK} {type(value).__name__} nested too deep]"
    if isinstance(value, dict):
        out = {}
        for i, (k, v) in enumerate(value.items()):
            if i == items:
                out[MARK] = f"{len(value) - items} more entries]"
                break
            out[clip(str(k), 200)] = bound(v, text, items, depth - 1)
        return out
    if isinstance(value, list | tuple):
        out_list = [bound(v, text, items, depth - 1) for v in value[:items]]
        if len(value) > items:
            out_list.append(f"{MARK} {len(value) - items} more items]")
        return out_list
    return value


def size(value: Any) -> int:
    """Bytes of ``value`` as JSON (ASCII escapes: the most any client's encoding takes)."""
    return len(json.dumps(value, default=str))


def fit(data: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """``data`` unchanged when its JSON is within ``max_bytes``; else cut in stages, each harder, until it
    fits; last, its largest entries are replaced by a marker."""
    if size(data) <= max_bytes:
        return data
    out = data
    for text, items, depth in _STAGES:
        out = bound(data, text, items, depth)
        if size(out) <= max_bytes:
            return out
    out = dict(out)
    for key in sorted(out, key=lambda k: size(out[k]), reverse=True):
        if size(out) <= max_bytes:
            break
        out[key] = f"{MARK} {size(data.get(key, out[key]))} bytes left out to fit {max_bytes}]"
    return out
