"""File tools: read, list, search, edit and write inside the workspace.

Edits are exact-text replacements, applied under the file's cross-process lock and written
atomically. An edit whose replacement is already in place is skipped, so an agent that retries after
a lost reply changes nothing the second time and is told so. With a journal, a change made for an
event is journaled before it is written (so it can be undone), and a file another event has
uncommitted changes to is refused whole: even a call that would change nothing, since its caller
would go on as if its change were in place.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healloop.errors import Conflict, HealloopError, InvalidInput
from healloop.node import search_child
from healloop.node.journal import Journal
from healloop.node.workspace import Workspace, refuse_hard_link

MAX_LIST = 2000
MAX_MATCHES = 200
MAX_PATTERN = 1000  # characters; a longer regular expression is not a search an agent needs
# One search_text call, all files together. `re` over this repository's 620 files (128,000 lines)
# takes 0.1 s; `(a+)+$` on one line of 27 characters took 12 s, and each more character doubles it.
SEARCH_TIMEOUT_S = 10.0
_SEARCH_CHILD = Path(__file__).with_name("search_child.py")
# A pattern of plain characters and backslash-escaped punctuation (what re.escape makes): no repetition,
# alternation or group, so `re` finds it in time linear in the text, and no child process is needed.
_LITERAL = re.compile(r"(?:[^\\.^$*+?{}\[\]|()]|\\\W)*")
_SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv"}


@dataclass(frozen=True)
class Replacement:
    old_text: str
    new_text: str


def _decode(ws: Workspace, path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{ws.relative(path)!r} is not UTF-8 text", field="path") from None


def read_file(
    ws: Workspace, path: str, start_line: int | None = None, end_line: int | None = None
) -> dict[str, Any]:
    target = ws.resolve(path)
    text = _decode(ws, target, ws.read_bytes(target))
    lines = text.splitlines(keepends=True)
    start = start_line or 1
    end = end_line or len(lines)
    if start < 1 or end < start:
        raise InvalidInput(
            f"line range must satisfy 1 <= start_line <= end_line, got {start_line}..{end_line}",
            field="start_line",
        )
    return {
        "path": ws.relative(target),
        "start_line": start,
        "end_line": min(end, len(lines)),
        "total_lines": len(lines),
        "content": "".join(lines[start - 1 : end]),
    }


def _walk(ws: Workspace, base: Path) -> list[Path]:
    found: list[Path] = []
    # followlinks=False: a symlinked directory is listed, never entered, so listing cannot leave the root.
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        found.extend(Path(dirpath) / f for f in sorted(filenames))
    return found


def list_files(ws: Workspace, path: str = ".", pattern: str | None = None) -> dict[str, Any]:
    base = ws.resolve(path)
    if not base.is_dir():
        raise InvalidInput(f"`path` {path!r} is a file, not a directory", field="path")
    names = [ws.relative(p) for p in _walk(ws, base)]
    if pattern:
        names = [
            n for n in names if fnmatch.fnmatch(n, pattern) or fnmatch.fnmatch(os.path.basename(n), pattern)
        ]
    return {"path": ws.relative(base), "files": names[:MAX_LIST], "truncated": len(names) > MAX_LIST}


def _searchable(ws: Workspace, path: Path) -> bool:
    """A regular file of one link within the size limit: symlinks are not followed, and a hard link
    may lead outside the workspace (``workspace.refuse_hard_link``)."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_size <= ws.max_file_bytes


def _shown(pattern: str) -> str:
    return repr(pattern) if len(pattern) <= 100 else repr(pattern[:100]) + "..."


def search_text(
    ws: Workspace, pattern: str, path: str = ".", *, timeout_s: float = SEARCH_TIMEOUT_S
) -> dict[str, Any]:
    if len(pattern) > MAX_PATTERN:
        raise InvalidInput(
            f"`pattern` is {len(pattern)} characters, over the limit of {MAX_PATTERN}; search for a"
            " shorter expression",
            field="pattern",
        )
    try:
        re.compile(pattern)
    except re.error as exc:
        raise InvalidInput(
            f"`pattern` {_shown(pattern)} is not a valid regular expression: {exc}", field="pattern"
        ) from None
    base = ws.resolve(path)
    if base.is_file():
        refuse_hard_link(base.lstat(), repr(ws.relative(base)))  # named outright: say why, find nothing
        files = [base]
    else:
        files = _walk(ws, base)
    request = {
        "pattern": pattern,
        "max_matches": MAX_MATCHES,
        "max_bytes": ws.max_file_bytes,
        "files": [(str(f), ws.relative(f)) for f in files if _searchable(ws, f)],
    }
    return {"pattern": pattern, **_search_in_child(request, timeout_s)}


def _search_in_child(request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run the search in a child process (``search_child.py``) that is killed at the deadline.

    A process, not a thread: a thread stuck in ``re`` cannot be stopped. Starting it costs about 20 ms.
    The ``regex`` package's ``timeout=`` was measured instead: it adds 2-3 us to every line searched,
    which made a search of this repository 10x slower (0.06 s to 0.8 s).
    """
    pattern = request["pattern"]
    if not request["files"]:
        return {"matches": [], "truncated": False}
    if _LITERAL.fullmatch(pattern):
        return search_child.search(request)  # saves the child's start, ~30 ms
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", str(_SEARCH_CHILD)],
            input=json.dumps(request).encode(),
            capture_output=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:  # subprocess.run killed the child and reaped it
        raise InvalidInput(
            f"`pattern` {_shown(pattern)} did not finish within the node's limit of {timeout_s:g} s per"
            " search; nested repetition such as (a+)+ can take hours on one line: simplify the pattern,"
            " or search a narrower `path`",
            field="pattern",
        ) from None
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise HealloopError(f"search_text: the search process failed (exit {done.returncode}): {tail[0]}")
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def _diff(rel: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
        )
    )


def _spans(text: str, needle: str) -> list[tuple[int, int]]:
    spans, start = [], text.find(needle)
    while start != -1:
        spans.append((start, start + len(needle)))
        start = text.find(needle, start + 1)
    return spans


def _already_applied(text: str, edit: Replacement) -> bool:
    """True when new_text is present and every old_text left over lies inside a copy of new_text."""
    if not edit.new_text:
        return edit.old_text not in text  # a deletion is in place once the text is gone
    news = _spans(text, edit.new_text)
    if not news:
        return False
    return all(any(a <= s and e <= b for a, b in news) for s, e in _spans(text, edit.old_text))


def apply_edits(text: str, edits: list[Replacement], rel: str) -> tuple[str, int, int]:
    applied = skipped = 0
    for i, edit in enumerate(edits):
        if not edit.old_text:
            raise InvalidInput(f"edits[{i}].old_text is empty; give the exact text to replace", field="edits")
        if edit.old_text == edit.new_text:
            raise InvalidInput(f"edits[{i}] replaces a text with itself", field="edits")
        if _already_applied(text, edit):
            skipped += 1
            continue
        count = text.count(edit.old_text)
        if count == 0:
            raise Conflict(
                f"edits[{i}].old_text was not found in {rel!r}; read the file again and copy the text"
                " exactly",
                field="edits",
            )
        if count > 1:
            raise Conflict(
                f"edits[{i}].old_text occurs {count} times in {rel!r}; include more surrounding lines so it"
                " matches once",
                field="edits",
            )
        text = text.replace(edit.old_text, edit.new_text, 1)
        applied += 1
    return text, applied, skipped


def _write(
    ws: Workspace, target: Path, before: bytes | None, after: bytes, journal: Journal | None,
    event_id: str | None,
) -> None:
    """Journal first (durably), then write: see ``journal.py`` for why the order matters."""
    if journal is not None and event_id:
        journal.record_write(event_id, ws.relative(target), before, after)
    ws.atomic_write(target, after)


def edit_file(
    ws: Workspace, path: str, edits: list[Replacement], dry_run: bool = False, *,
    journal: Journal | None = None, event_id: str | None = None,
) -> dict[str, Any]:
    if not edits:
        raise InvalidInput("`edits` is empty; give at least one {old_text, new_text}", field="edits")
    target = ws.resolve_for_write(path)
    rel = ws.relative(target)
    with ws.file_lock(target):
        if not target.exists():
            raise InvalidInput(f"`path` {path!r} does not exist; use write_file to create it", field="path")
        if journal is not None and not dry_run:
            journal.check_owner(rel, event_id)
        raw = ws.read_bytes(target)
        before = _decode(ws, target, raw)
        after, applied, skipped = apply_edits(before, edits, rel)
        ws.check_size(after.encode())
        changed = after != before
        if changed and not dry_run:
            _write(ws, target, raw, after.encode(), journal, event_id)
    if not changed:
        message = "no change: every replacement is already in place"
    elif dry_run:
        message = f"dry run: {applied} replacement(s) would be applied; nothing was written"
    else:
        message = f"applied {applied} replacement(s)" + (f", {skipped} already in place" if skipped else "")
    return {
        "path": rel,
        "changed": changed and not dry_run,
        "dry_run": dry_run,
        "applied": applied,
        "already_applied": skipped,
        "message": message,
        "diff": _diff(rel, before, after),
    }


def write_file(
    ws: Workspace, path: str, content: str, *, journal: Journal | None = None, event_id: str | None = None
) -> dict[str, Any]:
    target = ws.resolve_for_write(path)
    data = content.encode()
    ws.check_size(data)
    rel = ws.relative(target)
    with ws.file_lock(target):
        if journal is not None:
            journal.check_owner(rel, event_id)
        raw = target.read_bytes() if target.exists() else None
        before = "" if raw is None else raw.decode("utf-8", "replace")
        created = raw is None
        if created or raw != data:
            _write(ws, target, raw, data, journal, event_id)
    return {
        "path": rel,
        "created": created,
        "changed": created or raw != data,
        "bytes": len(data),
        "diff": _diff(rel, before, content),
    }
