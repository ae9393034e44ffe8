"""What the channels exchange with the rest of healloop: a ``Notice`` in, a ``Request`` to post, a
``SendResult`` back.

Every text in a Notice comes from a test run, a diff or a commit, so the channels treat all of it as
untrusted (``healloop.notify.text``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

OUTCOMES = ("escalated", "resolved", "proposed", "flapping", "reverted")
NODE_MOVED = "node_moved"      # a node re-registered with another MCP URL: maybe someone took its place
ALWAYS = ("digest", "test", NODE_MOVED)    # sent to every channel, whatever its `on` says


@dataclass(frozen=True)
class Notice:
    event_id: str
    outcome: str                 # escalated | resolved | ... | digest | test | node_moved (no event)
    reason: str                  # one line: the history note of the move
    spec: str | None = None
    test: str | None = None
    message: str | None = None   # the failure message (first line is enough to show)
    nodes: tuple[str, ...] = ()
    count: int = 1
    diff: str | None = None      # the heal diff, already shortened by the caller
    suspect: str | None = None   # "abc1234 subject (author)" from an escalation's report
    link: str | None = None      # where a person reads the event
    items: tuple[Notice, ...] = ()   # a digest: the notices it stands for


@dataclass(frozen=True)
class Request:
    """One HTTP POST, built by a channel module and sent by ``healloop.notify.send``."""

    url: str = field(repr=False)   # chat webhook URLs carry their access token
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class SendResult:
    ok: bool
    retryable: bool
    retry_after: float | None    # seconds, from the service's Retry-After (or its documented pause)
    detail: str                  # one line for a person: "delivered", "HTTP 404 no_service", ...
    status: int | None           # the HTTP status, None when no answer came
