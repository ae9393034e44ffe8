"""The undo journal: what each event changed on this node and has not committed yet, so that
``discard_changes`` can put the workspace back the way it was before the event touched it.

It lives in the node's state directory, never in the repository (it would show in ``git status``
and could be committed). One JSON file per event, named by a digest of the event id (an id may be
``..``), plus the original bytes of each file the event changed.

Order matters, because the node may be killed at any point: the journal entry (and the original
bytes) are written durably (temp file, fsync, rename, fsync of the directory) *before* the file is
written. A node killed in between leaves an entry for a write that never happened; ``discard``
recognises that case because the file still holds its original bytes.

A file with an entry is owned by that event until the event commits it (``git_commit``), discards
it, or keeps it (``keep_changes``): a change of that file for any other event, or for no event, is
refused with ``FileOwned``. The per-call file lock only serialises single calls; ownership is what
stops two agents from each making half of a change to one file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from healloop.errors import FileOwned, HealloopError
from healloop.node.workspace import Workspace
from healloop.timeutil import now_us, to_rfc3339

# Test-only: "HEALLOOP_NODE_FAILPOINT=after_journal" kills the node (SIGKILL, no cleanup) right after
# a journal entry is durable and before the file is written, so a test can prove that order.
FAILPOINT_ENV = "HEALLOOP_NODE_FAILPOINT"


def digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


@dataclass
class FileChange:
    """One file an event changed. Digests are SHA-256 of the bytes; None means "no such file"."""

    original: str | None  # before the event's first write
    head: str | None  # the file in HEAD at that moment (tells a later commit by someone else apart)
    writes: list[str] = field(default_factory=list)  # every content the event wrote, in order
    # Someone else wrote the file between two of the event's writes: undoing would lose their work.
    foreign: bool = False
    made_dirs: list[str] = field(default_factory=list)  # directories the first write created


@dataclass
class HeadSwitch:
    """A branch switch made for the event (git_revert with `branch`)."""

    before: str  # the branch HEAD was on, or its sha when detached
    branch: str
    created: bool


@dataclass
class EventChanges:
    event_id: str
    since: int  # microseconds since the epoch, node clock
    updated: int
    files: dict[str, FileChange] = field(default_factory=dict)
    head: HeadSwitch | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventChanges:
        head = data.get("head")
        return cls(
            event_id=data["event_id"],
            since=int(data["since"]),
            updated=int(data["updated"]),
            files={path: FileChange(**change) for path, change in (data.get("files") or {}).items()},
            head=HeadSwitch(**head) if head else None,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "since": to_rfc3339(self.since),
            "updated": to_rfc3339(self.updated),
            "files": sorted(self.files),
            "head": asdict(self.head) if self.head else None,
        }


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_write(path: Path, data: bytes) -> None:
    """Temp file, fsync, rename, fsync of the directory: after return the bytes survive a crash."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


class Journal:
    """Reads and writes the journal under one cross-process lock ("journal"). Callers that also hold a
    file lock take it first: file lock, then journal lock, never the other way round."""

    def __init__(self, ws: Workspace, head_reader: Callable[[str], bytes | None]) -> None:
        self.ws = ws
        self.dir = ws.state_dir / "journal"
        self.head_reader = head_reader  # bytes of a path in HEAD, None when it is not there

    # -- storage
    def _event_dir(self, event_id: str) -> Path:
        return self.dir / hashlib.sha256(event_id.encode()).hexdigest()[:32]

    def _load_dir(self, event_dir: Path) -> EventChanges | None:
        try:
            text = (event_dir / "changes.json").read_text("utf-8")
        except FileNotFoundError:
            return None
        try:
            return EventChanges.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise HealloopError(
                f"the undo journal {event_dir / 'changes.json'} is unreadable ({exc}); move it aside"
            ) from None

    def _save(self, changes: EventChanges) -> None:
        event_dir = self._event_dir(changes.event_id)
        if not changes.files and changes.head is None:
            self._drop(event_dir)
            return
        self._ensure_dir(event_dir)
        body = json.dumps(asdict(changes), sort_keys=True, separators=(",", ":")).encode()
        durable_write(event_dir / "changes.json", body)
        kept = {c.original for c in changes.files.values() if c.original}
        for blob in event_dir.glob("*.orig"):
            if blob.stem not in kept:
                blob.unlink()

    def _ensure_dir(self, event_dir: Path) -> None:
        """Create the event's directory so that its name, too, survives a crash."""
        if event_dir.exists():
            return
        made_journal = not self.dir.exists()
        event_dir.mkdir(parents=True)
        _fsync_dir(self.dir)
        if made_journal:
            _fsync_dir(self.dir.parent)

    def _drop(self, event_dir: Path) -> None:
        if event_dir.exists():
            for child in event_dir.iterdir():
                child.unlink()
            event_dir.rmdir()
            _fsync_dir(event_dir.parent)

    def _all(self) -> list[EventChanges]:
        if not self.dir.is_dir():
            return []
        found = [self._load_dir(d) for d in self.dir.iterdir() if d.is_dir()]
        return sorted((c for c in found if c is not None), key=lambda c: (c.since, c.event_id))

    # -- reads
    def load(self, event_id: str) -> EventChanges | None:
        with self.ws.lock("journal"):
            return self._load_dir(self._event_dir(event_id))

    def pending(self) -> list[EventChanges]:
        with self.ws.lock("journal"):
            return self._all()

    def original(self, event_id: str, change: FileChange) -> bytes | None:
        if change.original is None:
            return None
        return (self._event_dir(event_id) / f"{change.original}.orig").read_bytes()

    def check_owner(self, rel: str, event_id: str | None) -> None:
        """Refuse a change of ``rel`` for ``event_id`` while another event owns the file."""
        with self.ws.lock("journal"):
            # A scan of every event's file: a node has a handful of events in flight, not thousands.
            owner = next((c for c in self._all() if rel in c.files and c.event_id != event_id), None)
        if owner is None:
            return
        asker = f"event {event_id}" if event_id else "a call without event_id"
        raise FileOwned(
            f"{rel!r} has uncommitted changes made for event {owner.event_id} (since "
            f"{to_rfc3339(owner.since)}); it cannot be changed for {asker} until that event commits them "
            f"(git_commit) or undoes them (discard_changes with event_id={owner.event_id!r}). Wait and "
            "try again, or leave this file alone.",
            field="path",
        )

    # -- writes
    def record_write(self, event_id: str, rel: str, before: bytes | None, after: bytes) -> None:
        """Before ``after`` replaces ``before`` in ``rel`` for ``event_id`` (the caller holds the file
        lock and writes the file only after this returns)."""
        now = now_us()
        with self.ws.lock("journal"):
            event_dir = self._event_dir(event_id)
            changes = self._load_dir(event_dir) or EventChanges(event_id, now, now)
            change = changes.files.get(rel)
            if change is None:
                change = FileChange(digest(before), digest(self.head_reader(rel)),
                                    made_dirs=self._missing_dirs(rel))
                if before is not None:
                    self._ensure_dir(event_dir)
                    durable_write(event_dir / f"{change.original}.orig", before)
                changes.files[rel] = change
            elif digest(before) not in (change.original, *change.writes):
                change.foreign = True
            change.writes.append(hashlib.sha256(after).hexdigest())
            changes.updated = now
            self._save(changes)
        if os.environ.get(FAILPOINT_ENV) == "after_journal":
            os.kill(os.getpid(), signal.SIGKILL)

    def _missing_dirs(self, rel: str) -> list[str]:
        missing, parent = [], (self.ws.root / rel).parent
        while parent != self.ws.root and not parent.exists():
            missing.append(self.ws.relative(parent))
            parent = parent.parent
        return missing

    def record_switch(self, event_id: str, before: str, branch: str, created: bool) -> None:
        """Before HEAD moves to ``branch`` for ``event_id``; the first switch of an event is the one
        to undo, so a retried revert keeps it."""
        now = now_us()
        with self.ws.lock("journal"):
            changes = self._load_dir(self._event_dir(event_id)) or EventChanges(event_id, now, now)
            if changes.head is None:
                changes.head = HeadSwitch(before, branch, created)
                changes.updated = now
                self._save(changes)

    def forget_files(self, event_id: str, rels: list[str] | None = None) -> list[str]:
        """Drop the event's entries for ``rels`` (all its files when None); returns those dropped."""
        with self.ws.lock("journal"):
            changes = self._load_dir(self._event_dir(event_id))
            if changes is None:
                return []
            dropped = [r for r in (changes.files if rels is None else rels) if r in changes.files]
            for rel in dropped:
                del changes.files[rel]
            if dropped:
                self._save(changes)
            return sorted(dropped)

    def forget_head(self, event_id: str, branch: str) -> None:
        """Drop the event's switch to ``branch`` (it was undone on the spot)."""
        with self.ws.lock("journal"):
            changes = self._load_dir(self._event_dir(event_id))
            if changes is not None and changes.head is not None and changes.head.branch == branch:
                changes.head = None
                self._save(changes)

    def forget(self, event_id: str) -> EventChanges | None:
        """Drop the whole entry of an event; returns what it held."""
        with self.ws.lock("journal"):
            event_dir = self._event_dir(event_id)
            changes = self._load_dir(event_dir)
            self._drop(event_dir)
            return changes
