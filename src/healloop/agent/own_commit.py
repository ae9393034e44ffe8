"""A failure that first appears right after one of healloop's own commits, at a line that commit
wrote, is treated as caused by it: escalated with the commit named and its undo proposed, never
"repaired" by a second heal on top of the first (which is how loops start)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from healloop.agent.context import Context
from healloop.agent.mcpclient import NodeSession

WINDOW = timedelta(hours=24)  # "right after": the failure came within this long of the commit
_TRAILER = re.compile(r"^Healloop-Event: (\S+)$", re.MULTILINE)
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def added_lines(diff: str, path: str) -> set[int]:
    """Line numbers, in the new file, of the lines a patch added or changed in ``path``."""
    out: set[int] = set()
    current = None
    line = 0
    for text in diff.splitlines():
        if text.startswith("+++ "):
            current = text[4:].removeprefix("b/")
            continue
        m = _HUNK.match(text)
        if m:
            line = int(m.group(1))
            continue
        if current != path or text.startswith(("--- ", "diff ", "index ")):
            continue
        if text.startswith("+"):
            out.add(line)
            line += 1
        elif text.startswith(" "):
            line += 1
    return out


_LITERAL = re.compile(r"""(['"`])((?:(?!\1).){2,200})\1""")


def replaced_literals(diff: str, path: str) -> set[str]:
    """String literals a patch removed from ``path`` and did not write again: the old locator's
    values (add-note, where it now writes note-add)."""
    removed: set[str] = set()
    added: set[str] = set()
    current = None
    for text in diff.splitlines():
        if text.startswith("+++ "):
            current = text[4:].removeprefix("b/")
        elif current == path and text.startswith(("-", "+")) and not text.startswith(("--- ", "+++ ")):
            found = {m.group(2) for m in _LITERAL.finditer(text[1:])}
            (removed if text[0] == "-" else added).update(found)
    return removed - added


def _when(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


async def at_fault(node: NodeSession, ctx: Context, event_id: str) -> dict[str, Any] | None:
    """The healloop commit (of another event) that wrote the failing line, made shortly before the
    failure, or None."""
    line = (ctx.spec_excerpt or {}).get("line")
    newest = ctx.spec_log[0] if ctx.spec_log else None
    if not line or not newest or not str(newest.get("subject") or "").startswith("healloop:"):
        return None
    shown = await node.call("git_show", revision=str(newest["sha"]))
    m = _TRAILER.search(str(shown.get("message") or ""))
    if m is None or m.group(1) == event_id:
        return None
    made, failed = _when(shown.get("date")), _when(ctx.event.get("occurred_at"))
    if made is None or failed is None or not made <= failed <= made + WINDOW:
        return None
    diff = str(shown.get("diff") or "")
    if int(line) not in added_lines(diff, ctx.spec):
        return None
    # A test that started before the commit fails on the old text and names it (waiting for
    # get_by_test_id("add-note")): the heal fixed that one already, and a rerun says so.
    failure = f"{ctx.message}\n{ctx.event.get('stack') or ''}"
    if any(old in failure for old in replaced_literals(diff, ctx.spec)):
        return None
    return {"sha": shown["sha"], "subject": shown.get("subject"), "event": m.group(1), "line": int(line)}
