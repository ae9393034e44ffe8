"""One failing (or flaky) test as every source sees it, and the report body it becomes."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healloop.sources.locality import is_local

# The queue refuses bodies over 1 MiB; these caps keep a huge stack from losing the whole report.
MAX_MESSAGE = 64 * 1024
MAX_STACK = 256 * 1024
MAX_LABEL = 1024
MAX_TITLE = 4096
FLAKY_PRIORITY = 5
FAILED_PRIORITY = 3


def _name(text: str) -> str:
    """A name the queue takes: no NUL, not only blanks (it refuses both)."""
    text = text.replace("\0", "")
    return text if text.strip() else ""


def repo_spec(spec: str, cwd: str | None = None) -> str:
    """The spec as the queue takes it: a path inside the repository. Runners report absolute paths
    (mocha's JUnit files) and paths with ``..`` (a test outside pytest's rootdir or Playwright's
    testDir), which the queue refuses so that no event points outside a repository; made relative to
    the git work tree that holds the file, else to the working folder, else its last two parts, the
    report is still delivered. Paths already relative and inside are sent as they are (Windows ones
    too: the fingerprint is made of them)."""
    parts = re.split(r"[\\/]", spec)
    absolute = spec.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", spec))
    if not absolute and ".." not in parts:
        return spec
    if absolute and not os.path.isabs(spec):  # a Windows path read on another system
        kept = [p for p in parts if p and not re.fullmatch(r"[A-Za-z]:", p)]
        return "/".join(kept[-2:]) or "(unknown spec)"
    here = cwd or os.getcwd()
    full = os.path.normpath(spec if os.path.isabs(spec) else os.path.join(here, spec))
    folder = os.path.dirname(full)
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return os.path.relpath(full, folder).replace(os.sep, "/")
        up = os.path.dirname(folder)
        if up == folder:
            break
        folder = up
    inside = os.path.relpath(full, here)
    if not inside.startswith(".."):
        return inside.replace(os.sep, "/")
    return "/".join([p for p in full.split(os.sep) if p][-2:]) or "(unknown spec)"


def test_names(spec: str, test: str) -> tuple[str, str]:
    """The spec and test as a report names them, so a pass (``POST /v1/runs``) counts into the same row
    as a failure of the same test."""
    return (_cut(_name(repo_spec(spec)), MAX_TITLE) or "(unknown spec)",
            _cut(_name(test), MAX_TITLE) or "(unnamed test)")


def idempotency_key(run_id: str, spec: str, test: str, attempt: int | str) -> str:
    """Same construction in the JavaScript reporters (integrations/core/index.js)."""
    raw = "\0".join([run_id, spec, test, str(attempt)]).encode()
    return "hl1-" + hashlib.sha256(raw).hexdigest()


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 40] + f"\n… [{len(text) - limit + 40} characters cut]"


@dataclass
class Artifact:
    path: Path
    name: str = ""
    content_type: str = ""

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.name = self.name or self.path.name
        self.content_type = (self.content_type or mimetypes.guess_type(self.name)[0]
                             or "application/octet-stream")


@dataclass
class Failure:
    source: str
    spec: str
    test: str
    message: str
    stack: str | None = None
    attempt: int = 1
    flaky: bool = False
    duration_ms: int | None = None
    occurred_at: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)

    def to_report(self, node: str, key: str,
                  path_of: Callable[[Path], str] = str) -> dict[str, Any]:
        """``path_of`` names each artifact's file as the report gives it (relative to the node's
        artifacts folder when it is in it: ``RunFolder.reported_path``)."""
        labels = {"attempts": str(self.attempt), **self.labels}
        if self.flaky:
            labels["flaky"] = "true"
        if self.duration_ms is not None:
            labels["duration_ms"] = str(self.duration_ms)
        spec, test = test_names(self.spec, self.test)
        body: dict[str, Any] = {
            "node": node, "source": self.source, "kind": "test_failure", "spec": spec, "test": test,
            "message": _cut(self.message.strip(), MAX_MESSAGE) or "the test failed without a message",
            "priority": FLAKY_PRIORITY if self.flaky else FAILED_PRIORITY,
            "labels": {k[:256]: _cut(str(v), MAX_LABEL) for k, v in labels.items()},
            "idempotency_key": key,
        }
        if self.stack:
            body["stack"] = _cut(self.stack, MAX_STACK)
        # Judged on the text sent, so the queue's copy shows why; integrations/core/index.js alike.
        local_reason = is_local(body["message"], body.get("stack"))
        if local_reason:
            body["local"] = True
            body["labels"]["local_reason"] = _cut(local_reason, MAX_LABEL)
        if self.occurred_at:
            body["occurred_at"] = self.occurred_at
        # Local paths let the tool node on this machine read the evidence even before (or
        # without) an upload, and tell an agent which uploads to wait for; uploaded copies are
        # added by the queue with their URL.
        body["artifacts"] = [{"name": a.name, "content_type": a.content_type, "path": path_of(a.path)}
                             for a in self.artifacts[:100]]
        return body
