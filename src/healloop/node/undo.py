"""Undoing an event's uncommitted changes from its journal (``journal.py``): ``discard_changes``,
``pending_changes`` and ``keep_changes``.

Discard never clobbers someone else's work: a file whose content is neither its original nor
something the event wrote was changed by someone else since, and is left as it is and reported; so
is a change someone committed (the file in HEAD moved to exactly what the event wrote, as a pull of
another node's identical fix does). Either way the event stops owning the file.
"""

from __future__ import annotations

import contextlib
from typing import Any

from healloop.errors import HealloopError
from healloop.node.gitops import GitOps
from healloop.node.journal import FileChange, Journal, digest
from healloop.node.workspace import Workspace

RESTORE, REMOVE, UNCHANGED = "restored", "removed", "unchanged"
CHANGED_SINCE, CHANGED_BETWEEN, COMMITTED = "changed_since", "changed_between", "committed"
WHY_LEFT = {
    CHANGED_SINCE: "changed by someone else after the event's last write; left as it is",
    CHANGED_BETWEEN: "changed by someone else between two of the event's writes; left as it is",
    COMMITTED: "the event's change was committed by someone else (a pull or a person); left as it is",
}


def verdict(change: FileChange, current: str | None, head: str | None) -> str:
    """What discard does with one journaled file, given digests of its bytes now (``current``) and of
    the file in HEAD now (``head``); None means "no such file"."""
    if current == change.original:
        # Already as before: the node died between journaling and writing, or it was undone by hand.
        return UNCHANGED
    if change.foreign:
        return CHANGED_BETWEEN
    if current not in change.writes:
        return CHANGED_SINCE
    if head != change.head and head == current:
        return COMMITTED
    return REMOVE if change.original is None else RESTORE


def _discard_file(ws: Workspace, journal: Journal, event_id: str, rel: str) -> tuple[str, str | None]:
    """(outcome, why it was left or None) for one file; the journal entry is gone afterwards."""
    try:
        target = ws.resolve_for_write(rel)
    except HealloopError as exc:
        journal.forget_files(event_id, [rel])
        return "left", f"no longer a plain file in the workspace ({exc.message}); left as it is"
    with ws.file_lock(target):
        changes = journal.load(event_id)
        change = changes.files.get(rel) if changes else None
        if change is None:
            return UNCHANGED, None  # a concurrent discard of the same event got here first
        current = target.read_bytes() if target.is_file() else None
        outcome = verdict(change, digest(current), digest(journal.head_reader(rel)))
        if outcome == RESTORE:
            ws.atomic_write(target, journal.original(event_id, change) or b"")
        elif outcome == REMOVE:
            target.unlink()
            for made in change.made_dirs:  # deepest first; only while empty
                with contextlib.suppress(OSError):
                    (ws.root / made).rmdir()
        journal.forget_files(event_id, [rel])
    return outcome, WHY_LEFT.get(outcome)


def discard(ws: Workspace, journal: Journal, git: GitOps, event_id: str, *,
            keep_branch: bool = False) -> dict[str, Any]:
    changes = journal.load(event_id)
    if changes is None:
        return {
            "event_id": event_id,
            "discarded": False,
            "files": [],
            "left": [],
            "head": None,
            "message": "nothing to undo: no uncommitted change is journaled for this event",
        }
    files, left = [], []
    for rel in sorted(changes.files):
        outcome, why = _discard_file(ws, journal, event_id, rel)
        if why:
            left.append({"path": rel, "why": why})
        else:
            files.append({"path": rel, "action": outcome})
    head = git.switch_back(changes.head, keep_branch=keep_branch) if changes.head else None
    if head and head.get("left"):
        left.append({"path": None, "why": head["left"]})
    journal.forget(event_id)
    return {
        "event_id": event_id,
        "discarded": True,
        "files": files,
        "left": left,
        "head": head,
        "message": _message(files, head, left),
    }


def _message(files: list[dict[str, Any]], head: dict[str, Any] | None, left: list[dict[str, Any]]) -> str:
    parts = [f"{sum(1 for f in files if f['action'] == a)} {a}" for a in (RESTORE, REMOVE, UNCHANGED)]
    text = "files: " + ", ".join(parts)
    if head and head.get("switched"):
        text += f"; HEAD back on {head['back_to']}"
    if head and head.get("deleted"):
        text += f"; branch {head['branch']} deleted"
    if left:
        text += f"; {len(left)} left as they are (see left)"
    return text


def pending(journal: Journal) -> dict[str, Any]:
    return {"events": [c.summary() for c in journal.pending()]}


def keep(journal: Journal, event_id: str) -> dict[str, Any]:
    changes = journal.forget(event_id)
    return {
        "event_id": event_id,
        "kept": changes is not None,
        "files": sorted(changes.files) if changes else [],
        "head": changes.summary()["head"] if changes else None,
    }
