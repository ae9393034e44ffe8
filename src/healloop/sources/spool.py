"""The spool: reports that could not be delivered yet, one JSON file each, shared by every reporter.

Format 1 (the JavaScript reporters in ``integrations/core`` write the same; see docs/sources.md)::

    <dir>/<name>.json          {"format": 1, "created_at", "report": {...POST /v1/events body...},
                                "event_id": null | "evt_…", "artifacts": [{"name", "content_type",
                                "file"}], "error": null}
    <dir>/<name>.files/        copies of the artifact files ("file" is relative to <dir>)
    <dir>/rejected/            entries the queue refused as invalid (kept, never retried)

``<name>`` is derived from the report's idempotency key, so spooling the same report twice keeps
one file. Writes go to a temporary name and are renamed into place, so a reader never sees half an
entry. A flusher claims an entry by renaming it to ``<name>.json.sending-<pid>-<start>`` (its pid and
start time, see claims.py); a claim whose process is gone is taken over, so a killed flush loses
nothing, even when the pid now belongs to another process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from healloop.errors import InvalidInput
from healloop.sources.claims import holder, is_stale
from healloop.sources.failure import Artifact

log = logging.getLogger(__name__)
FORMAT = 1
_SENDING = ".sending-"


@dataclass
class SpoolEntry:
    report: dict[str, Any]
    artifacts: list[Artifact] = field(default_factory=list)
    event_id: str | None = None
    error: str | None = None
    created_at: str = ""
    path: Path | None = None  # the claimed file, while a flusher holds it


def entry_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class Spool:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    def _write_json(self, target: Path, data: dict[str, Any]) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)

    def put(self, entry: SpoolEntry, *, rejected: bool = False) -> Path:
        """Store ``entry`` with copies of its artifact files (the originals may be gone by the
        next run: Cypress and Playwright clear their output folders)."""
        key = entry.report.get("idempotency_key") or uuid.uuid4().hex
        name = entry_name(key)
        base = self.dir / "rejected" if rejected else self.dir
        files_dir = base / f"{name}.files"
        refs = []
        for i, art in enumerate(entry.artifacts):
            dest = files_dir / f"{i}-{Path(art.name).name or 'artifact'}"
            if art.path.resolve() != dest.resolve():
                try:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(art.path, dest)
                except OSError as exc:
                    log.warning("could not keep artifact %s in the spool: %s", art.path, exc)
                    continue
            refs.append({"name": art.name, "content_type": art.content_type,
                         "file": str(dest.relative_to(base))})
        target = base / f"{name}.json"
        self._write_json(target, {
            "format": FORMAT, "created_at": entry.created_at or datetime.now(UTC).isoformat(),
            "report": entry.report, "event_id": entry.event_id, "artifacts": refs,
            "error": entry.error,
        })
        return target

    def pending(self) -> list[Path]:
        """Entry files waiting for delivery, oldest first, including claims of dead flushers."""
        if not self.dir.is_dir():
            return []
        found = []
        now = time.time()
        for p in self.dir.iterdir():
            if p.name.endswith(".json"):
                found.append(p)
            elif _SENDING in p.name:
                try:
                    age = now - p.stat().st_mtime  # claim() stamps the claim's time
                except FileNotFoundError:
                    continue  # delivered or released meanwhile
                if is_stale(p.name.rsplit(_SENDING, 1)[1], age):
                    found.append(p)
        return sorted(found, key=lambda p: (p.stat().st_mtime if p.exists() else 0, p.name))

    def claim(self, path: Path) -> SpoolEntry | None:
        """Take ``path`` for delivery; None when another flusher took it first."""
        stem = path.name.split(_SENDING)[0]
        claimed = path.with_name(f"{stem}{_SENDING}{holder()}")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return None
        # A claim whose holder cannot be checked is judged by its age, from its mtime (claims.py).
        with contextlib.suppress(OSError):
            os.utime(claimed)
        try:
            entry = self.load(claimed)
        except InvalidInput as exc:
            log.error("%s; moved aside to the spool's rejected/ folder", exc)
            (self.dir / "rejected").mkdir(parents=True, exist_ok=True)
            os.replace(claimed, self.dir / "rejected" / stem)
            return None
        entry.path = claimed
        return entry

    def load(self, path: Path) -> SpoolEntry:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"spool entry {path} is not readable JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(
                data.get("report"), dict):
            raise InvalidInput(f"spool entry {path} is not in spool format {FORMAT}")
        arts = [Artifact(self.dir / a["file"], a.get("name", ""), a.get("content_type", ""))
                for a in data.get("artifacts") or [] if isinstance(a, dict) and a.get("file")]
        return SpoolEntry(report=data["report"], artifacts=arts, event_id=data.get("event_id"),
                          error=data.get("error"), created_at=data.get("created_at", ""))

    def release(self, entry: SpoolEntry) -> None:
        """Put a claimed entry back (delivery failed); keeps what was already done."""
        if entry.path is None:
            return
        stem = entry.path.name.split(_SENDING)[0]
        self._write_json(entry.path, self._to_json(entry))
        os.replace(entry.path, self.dir / stem)
        entry.path = None

    def _to_json(self, entry: SpoolEntry) -> dict[str, Any]:
        return {"format": FORMAT, "created_at": entry.created_at, "report": entry.report,
                "event_id": entry.event_id, "error": entry.error,
                "artifacts": [{"name": a.name, "content_type": a.content_type,
                               "file": str(a.path.relative_to(self.dir))} for a in entry.artifacts]}

    def done(self, entry: SpoolEntry) -> None:
        """Delete a delivered entry and its artifact copies."""
        if entry.path is None:
            return
        stem = entry.path.name.split(_SENDING)[0]
        # The entry goes first: a leftover folder of copies is harmless, an entry without them is not.
        with contextlib.suppress(FileNotFoundError):
            entry.path.unlink()
        shutil.rmtree(self.dir / stem.replace(".json", ".files"), ignore_errors=True)
        entry.path = None

    def __iter__(self) -> Iterator[Path]:
        return iter(self.pending())
