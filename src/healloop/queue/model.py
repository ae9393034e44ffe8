"""Plain typed data that crosses the queue's boundaries: request bodies, events, history entries.

Request bodies are msgspec Structs: decoding validates types and limits in one pass, and a failure
names the field (``$.priority``), which ``decode`` turns into an ``InvalidInput`` for a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from healloop.errors import InvalidInput
from healloop.queue import surrogates
from healloop.timeutil import to_rfc3339

# Names identify things: a report's kind, spec and test (or its node) are joined with NUL and hashed
# into its fingerprint, so a NUL inside one would let two different failures hash alike; and a blank
# name names nothing. Patterns (not checks in code) so that /openapi.json says the same; both are
# linear-time for Python's re, and valid ECMA-262 for JSON Schema. Whitespace is spelled out because
# `\s` differs between the two (Python's holds \x1c-\x1f and \x85, ECMA-262's \ufeff): this class is
# both sets, so a name the document calls valid is one the server takes.
_BLANK = r"[\t-\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
NAME_PATTERN = rf"^(?!{_BLANK}*$)[^\x00]*$"
# A spec is a test file's path relative to the repository, where agents read and fix it: not absolute
# (/…, \…, C:…) and with no `..` segment. Backslashes count as separators: reporters on Windows send
# e2e\login.spec.ts, and that is kept as sent (the fingerprint is made of it).
SPEC_PATTERN = rf"^(?!{_BLANK}*$)(?![\\/]|[A-Za-z]:)(?!(?:[\s\S]*[\\/])?\.\.(?:[\\/]|$))[^\x00]*$"
# Where a tool node's MCP server is: streamable HTTP, or stdio for a node on the queue's own machine.
MCP_URL_PATTERN = r"^(https?://|stdio:)"
_PATTERN_RULES = {
    MCP_URL_PATTERN: "must be an http(s) URL such as http://host:8788/mcp (or stdio:…)",
    NAME_PATTERN: "must hold visible text and no NUL (\\u0000) character",
    SPEC_PATTERN: "must be a path relative to the repository, such as cypress/e2e/login.cy.js: not "
                  "blank, not absolute (/…, C:\\…), with no `..` segment and no NUL (\\u0000) character",
}


def _name(max_length: int) -> Any:
    return Annotated[str, msgspec.Meta(min_length=1, max_length=max_length, pattern=NAME_PATTERN)]


Name = _name(200)
ShortText = Annotated[str, msgspec.Meta(max_length=1024)]
Title = _name(4096)
Spec = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=SPEC_PATTERN)]
Key = _name(256)
Source = _name(64)
MuteName = _name(1024)
Priority = Annotated[int, msgspec.Meta(ge=1, le=5)]
# RFC 3339, read by timeutil.parse_rfc3339 (which names the field when it is not one).
Timestamp = Annotated[str, msgspec.Meta(max_length=64, extra_json_schema={"format": "date-time"})]


class ArtifactRef(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    content_type: ShortText = "application/octet-stream"
    url: Annotated[str, msgspec.Meta(max_length=4096)] | None = None
    path: Annotated[str, msgspec.Meta(max_length=4096)] | None = None


# The kind of report that names its spec and test (an alert names neither); the default kind.
NEEDS_SPEC_AND_TEST = "test_failure"


class ReportIn(msgspec.Struct, forbid_unknown_fields=True):
    """A failure report: ``POST /v1/events``. ``spec`` and ``test`` are required when ``kind`` is
    test_failure (the service checks it; the OpenAPI document says it with if/then)."""

    node: Name
    source: Source
    message: Annotated[str, msgspec.Meta(min_length=1)]
    kind: Literal["test_failure", "alert"] = "test_failure"
    spec: Spec | None = None
    test: Title | None = None
    stack: str | None = None
    priority: Priority = 3
    occurred_at: Timestamp | None = None
    # The reporter's clock when it sent this request: the queue shifts occurred_at by how far that
    # clock is from its own, so a node hours slow or fast still reports when the failure happened.
    sent_at: Timestamp | None = None
    labels: dict[Annotated[str, msgspec.Meta(max_length=256)], ShortText] = {}
    artifacts: Annotated[list[ArtifactRef], msgspec.Meta(max_length=100)] = []
    idempotency_key: Key | None = None
    fingerprint: Key | None = None
    # The reporter says the failure is local to its node: the node becomes part of the fingerprint.
    local: bool = False


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    worker: Name
    wait: Annotated[float, msgspec.Meta(ge=0, le=30)] = 0
    lease: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 60


class ClaimOneIn(msgspec.Struct, forbid_unknown_fields=True):
    worker: Name
    lease: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 60


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    token: Key


class ReleaseIn(msgspec.Struct, forbid_unknown_fields=True):
    token: Key
    note: str | None = None


class TransitionIn(msgspec.Struct, forbid_unknown_fields=True):
    token: Key
    to: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    note: str | None = None
    data: dict[str, Any] | None = None


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    note: str | None = None


class RevertIn(msgspec.Struct, forbid_unknown_fields=True):
    """A person undid a resolved event's fix: who, why, and the commits that undid it."""

    by: Name
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    reverted: list[Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{7,64}$")]] = []
    reverts: list[Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{7,64}$")]] = []


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A person's decision on a proposed fix (``/approve`` or ``/reject``): who, why, and what the node
    did (``healloop approve`` lands the branch and records the commit it landed as ``commit``)."""

    by: Name
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    commit: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{7,64}$")] | None = None
    data: dict[str, Any] | None = None


class NodeIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    mcp_url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048, pattern=MCP_URL_PATTERN)]
    labels: dict[Annotated[str, msgspec.Meta(max_length=256)], ShortText] = {}


T = TypeVar("T")
_PATH = re.compile(r" - at `\$\.?([^`]*)`$")


def decode(body: bytes, kind: type[T]) -> T:
    """Decode and validate a JSON body, turning msgspec's error into one that names the field."""
    if not body.strip():
        raise InvalidInput("the request body is empty: send a JSON object")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        fixed = _whole_floats(body, kind, exc)
        if isinstance(fixed, msgspec.ValidationError):
            raise _invalid(fixed) from None
        return fixed
    except msgspec.DecodeError as exc:
        # msgspec says "surrogate" in most cases, but "truncated" when a lone high surrogate is within
        # six bytes of the end; then only a body that reads without it proves that it was the fault.
        found = surrogates.locate(body)
        if found and (found[1] is not None or "surrogate" in str(exc)):
            raise _lone_surrogate(*found) from None
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        # Free-form `data` nested thousands deep: msgspec recurses once per level.
        raise InvalidInput("the request body nests arrays or objects too deeply (over a few hundred "
                           "levels): send flatter JSON") from None


_INT_GOT_FLOAT = "Expected `int`, got `float`"
_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def _whole_floats(body: bytes, kind: type[T], exc: msgspec.ValidationError) -> T | msgspec.ValidationError:
    """JSON Schema, and so the OpenAPI document, counts 1.0 an integer; msgspec refuses it where an
    int belongs. Retry with each such whole float made an int, at the paths msgspec names (so
    free-form `data` keeps its numbers as sent). Returns the value, or the error that stands. Only
    refused bodies come here, so the hot path is as it was."""
    doc: Any = None
    for _ in range(32):  # one retry per int field at most; no body has more
        text = str(exc)
        m = _PATH.search(text)
        if not text.startswith(_INT_GOT_FLOAT) or not m:
            return exc
        if doc is None:
            doc = msgspec.json.decode(body)
        spot = _locate(doc, m.group(1))
        if spot is None:
            return exc
        parent, key = spot
        value = parent[key]
        if not isinstance(value, float) or not value.is_integer():
            return exc
        parent[key] = int(value)
        try:
            return msgspec.convert(doc, type=kind)
        except msgspec.ValidationError as again:
            exc = again
    return exc


def _locate(doc: Any, path: str) -> tuple[Any, Any] | None:
    """The container and key of msgspec's path (``priority``, ``artifacts[0].size``) in ``doc``."""
    steps: list[str | int] = []
    at = 0
    while at < len(path):
        m = _STEP.match(path, at)
        if not m:
            return None
        steps.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        at = m.end()
    if not steps:
        return None
    parent = doc
    try:
        for step in steps[:-1]:
            parent = parent[step]
        parent[steps[-1]]
    except (KeyError, IndexError, TypeError):
        return None
    return parent, steps[-1]


def revalidate(obj: T) -> T:
    """Check a struct built in code, not decoded, against its type's limits (an alert's labels become
    a report's node): the constructor checks none of them."""
    try:
        return msgspec.convert(msgspec.to_builtins(obj), type(obj))
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None


def _lone_surrogate(escape: str, where: str | None, is_key: bool) -> InvalidInput:
    what = ("a key of the body" if is_key and not where else f"a key in `{where}`" if is_key
            else f"`{where}`" if where else "a string in the body")
    return InvalidInput(
        f"{what} holds an unpaired UTF-16 surrogate ({escape}), which is not Unicode text: send the "
        "character's whole surrogate pair (such as \\ud83d\\ude80 for 🚀) or leave it out",
        field=where or None,
    )


def _invalid(exc: msgspec.ValidationError) -> InvalidInput:
    text = str(exc)
    m = _PATH.search(text)
    where = m.group(1) if m else None
    detail = text[: m.start()] if m else text
    missing = re.match(r"Object missing required field `([^`]+)`", detail)
    unknown = re.match(r"Object contains unknown field `([^`]+)`", detail)
    prefix = f"{where}." if where else ""
    if missing:
        name = prefix + missing.group(1)
        return InvalidInput(f"`{name}` is required", field=name)
    if unknown:
        name = prefix + unknown.group(1)
        return InvalidInput(f"`{name}` is not a known field", field=name)
    rule = next((r for p, r in _PATTERN_RULES.items() if f"matching regex {p!r}" in detail), None)
    if where and rule:
        return InvalidInput(f"`{where}` {rule}", field=where.removesuffix("[...]"))
    if where and detail.startswith(_INT_GOT_FLOAT):
        return InvalidInput(f"`{where}` must be a whole number, such as 3", field=where.removesuffix("[...]"))
    if where:
        return InvalidInput(f"invalid `{where}`: {detail}", field=where.removesuffix("[...]"))
    return InvalidInput(f"invalid body: {detail}")


@dataclass
class Event:
    """One event as stored. Times are integer microseconds since the epoch (UTC)."""

    id: str
    fingerprint: str
    kind: str
    node: str
    source: str
    spec: str | None
    test: str | None
    message: str
    stack: str | None
    priority: int
    occurred_at: int
    labels: dict[str, str]
    artifacts: list[dict[str, Any]]
    idempotency_key: str | None
    status: str
    created_at: int
    updated_at: int
    count: int = 1
    nodes: list[str] = field(default_factory=list)
    attempt: int = 0
    lapses: int = 0
    fencing: int = 0
    lease_token: str | None = None
    lease_worker: str | None = None
    lease_seconds: float | None = None
    # While held: when the lease ends. While proposed (no lease, no token): when the proposal expires;
    # one deadline column, so the same timer sweeps both.
    lease_expires_at: int | None = None
    resolved_at: int | None = None
    seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "count": self.count,
            "nodes": self.nodes,
            "attempt": self.attempt,
            "lapses": self.lapses,
            "fencing": self.fencing,
            "priority": self.priority,
            "node": self.node,
            "source": self.source,
            "spec": self.spec,
            "test": self.test,
            "message": self.message,
            "stack": self.stack,
            "occurred_at": to_rfc3339(self.occurred_at),
            "labels": self.labels,
            "artifacts": self.artifacts,
            "idempotency_key": self.idempotency_key,
            "created_at": to_rfc3339(self.created_at),
            "updated_at": to_rfc3339(self.updated_at),
            "resolved_at": to_rfc3339(self.resolved_at),
            "worker": self.lease_worker,
            "lease_expires_at": to_rfc3339(self.lease_expires_at) if self.lease_token else None,
            "proposal_expires_at": to_rfc3339(self.lease_expires_at) if self.status == "proposed" else None,
        }


@dataclass
class HistoryEntry:
    event_id: str
    at: int
    from_state: str | None
    to_state: str
    worker: str | None = None
    note: str | None = None
    data: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": to_rfc3339(self.at),
            "from": self.from_state,
            "to": self.to_state,
            "worker": self.worker,
            "note": self.note,
            "data": self.data,
        }


@dataclass(frozen=True)
class NodeMove:
    """A registration that changed a node's ``mcp_url``: kept, since agents send that URL the node token."""

    at: int
    old_url: str
    new_url: str

    def to_json(self) -> dict[str, Any]:
        return {"at": to_rfc3339(self.at), "from": self.old_url, "to": self.new_url}


@dataclass
class Node:
    name: str
    mcp_url: str
    labels: dict[str, str]
    last_seen: int
    moves: list[NodeMove] = field(default_factory=list)  # the latest URL changes, newest first

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mcp_url": self.mcp_url,
            "labels": self.labels,
            "last_seen": to_rfc3339(self.last_seen),
            "moves": [m.to_json() for m in self.moves],
        }


@dataclass
class ArtifactMeta:
    digest: str
    content_type: str
    size: int
    created_at: int


# What `healloop prune` removes with an event, by kind: its row, its history, its notifications (the
# outbox), the nodes that joined it, its idempotency key and its automatic actions.
EVENT_ROWS = ("events", "history", "notifications", "event_nodes", "idempotency_keys", "actions")


# What a notification channel was sent, or will be: one row per event, outcome and channel.
DELIVERY_STATES = ("pending", "delivered", "failed", "muted", "digested")


@dataclass
class Delivery:
    event_id: str
    outcome: str                 # escalated | resolved | flapping | ...
    channel: str
    created_at: int
    note: str | None = None      # the history note of the move
    status: str = "pending"
    attempts: int = 0
    next_at: int = 0             # when a pending one is due (µs)
    last_error: str | None = None
    done_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "outcome": self.outcome,
            "status": self.status,
            "attempts": self.attempts,
            "created_at": to_rfc3339(self.created_at),
            "next_at": to_rfc3339(self.next_at) if self.status == "pending" else None,
            "done_at": to_rfc3339(self.done_at) if self.done_at else None,
            "last_error": self.last_error,
        }


class MuteIn(msgspec.Struct, forbid_unknown_fields=True):
    spec: MuteName
    test: MuteName
    # How long: seconds from now (at most 90 days).
    seconds: Annotated[int, msgspec.Meta(gt=0, le=90 * 86400)]
    reason: Annotated[str, msgspec.Meta(max_length=1024)] | None = None


@dataclass
class Mute:
    spec: str
    test: str
    until: int
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "test": self.test, "until": to_rfc3339(self.until), "reason": self.reason}
