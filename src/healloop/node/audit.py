"""The audit log: one JSON line per tool call, appended under a lock, in the node's state directory.

Arguments are stored as a SHA-256 digest, not verbatim: file contents and commit messages stay out
of the log, yet two identical calls are recognisable. Reading tolerates a torn last line.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from healloop.timeutil import now_us, to_rfc3339


@dataclass(frozen=True)
class AuditEntry:
    time: str
    caller: str
    event_id: str | None
    tool: str
    args_digest: str
    outcome: str


def digest_arguments(arguments: Any) -> str:
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, *, caller: str, event_id: str | None, tool: str, arguments: Any, outcome: str) -> None:
        entry = AuditEntry(
            to_rfc3339(now_us()) or "", caller, event_id, tool, digest_arguments(arguments), outcome
        )
        line = (json.dumps(asdict(entry), separators=(",", ":")) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
        finally:
            os.close(fd)

    def read(self, *, limit: int | None = None, event_id: str | None = None) -> list[AuditEntry]:
        if not self.path.exists():
            return []
        entries = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = AuditEntry(**json.loads(line))
                except (ValueError, TypeError):
                    continue  # a line torn by a crash mid-write
                if event_id is None or entry.event_id == event_id:
                    entries.append(entry)
        return entries[-limit:] if limit else entries
