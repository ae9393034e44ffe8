"""The storage interface: what a backend must offer the queue's rules, and nothing more.

A backend runs a function inside one transaction (``write``) or one read snapshot (``read``); the
function calls the primitives of ``WriteTx``/``ReadTx``. The rules for merging, leases and moves
live above, in ``queue/service.py``, and run unchanged on every backend; ``tests/queue/
store_contract.py`` checks each backend against this contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from healloop.queue.listing import EventMatch
from healloop.queue.model import ArtifactMeta, Delivery, Event, HistoryEntry, Mute, Node, NodeMove
from healloop.queue.quarantine import Quarantine, TestRuns
from healloop.queue.stats import StatsRows, StatsWindow
from healloop.queue.tokens import Token

R = TypeVar("R")


class ReadTx(Protocol):
    def get_event(self, event_id: str) -> Event | None: ...

    def history(self, event_id: str) -> list[HistoryEntry]: ...

    def list_events(
        self, *, status: str | None, node: str | None, fingerprint: str | None, limit: int,
        match: EventMatch | None = None,
    ) -> list[Event]:
        """Newest first; ``match`` narrows it further (spec, class, label, time, text)."""
        ...

    def count_by_status(self) -> dict[str, int]: ...

    def next_lease_expiry(self) -> int | None:
        """The earliest ``lease_expires_at`` among held events."""
        ...

    def list_nodes(self) -> list[Node]:
        """Each with its latest ``moves`` (URL changes), newest first."""
        ...

    def get_node(self, name: str) -> Node | None: ...

    def get_artifact(self, digest: str) -> ArtifactMeta | None: ...

    def outbox_due(self, now: int, limit: int) -> list[Delivery]:
        """Pending deliveries due at ``now``, the longest due first."""
        ...

    def outbox_pending_for(self, channel: str, limit: int) -> list[Delivery]:
        """A channel's pending deliveries, due or not, oldest first (a digest takes them all)."""
        ...

    def outbox_next_due(self) -> int | None: ...

    def outbox_for_event(self, event_id: str) -> list[Delivery]: ...

    def outbox_recent(self, channel: str, since: int) -> int:
        """Deliveries for ``channel`` created since ``since``, muted ones aside (storm detection)."""
        ...

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        """(channel, status) -> deliveries."""
        ...

    def mute_active(self, spec: str, test: str, now: int) -> Mute | None: ...

    def mute_list(self, now: int) -> list[Mute]: ...

    def was_fixed(self, event_id: str) -> bool:
        """Whether the event's history has a move to ``fixing`` (an agent changed something for it)."""
        ...

    def actions_for_test(self, spec: str, test: str, since: int, limit: int) -> int:
        """Automatic actions (recorded by ``add_action``) since ``since`` for events of this spec and
        test; counting stops at ``limit``."""
        ...

    def actions_on_node(self, node: str, since: int, limit: int) -> int:
        """Automatic actions since ``since`` that named this node; counting stops at ``limit``."""
        ...

    def stats(self, window: StatsWindow, top: int) -> StatsRows:
        """The figures of ``GET /v1/stats`` for the events created in the window that its node took part
        in (see queue/stats.py for what each means); ``top`` bounds the flaky tests and suspect commits.
        Computed by the database, at a cost that grows with the window's events, not the whole history."""
        ...

    # -- run history and quarantines (queue/quarantine.py)
    def test_runs(self, spec: str, test: str) -> list[TestRuns]:
        """The test's record on each node that ran it, by node."""
        ...

    def quarantine_open(self, spec: str, test: str, now: int) -> Quarantine | None:
        """The test's quarantine in force at ``now`` (not lifted, not expired), if any."""
        ...

    def quarantine_all_open(self, now: int) -> list[Quarantine]:
        """Every quarantine in force at ``now``, by spec and test."""
        ...

    def quarantine_history(self, spec: str, test: str, limit: int) -> list[Quarantine]:
        """The test's quarantines, ended ones too, newest first."""
        ...

    def events_of_fingerprints(self, fingerprints: list[str], limit: int) -> list[Event]:
        """Events of any of these fingerprints, newest first."""
        ...

    def flaky_calls(self, fingerprint: str, since: int) -> int:
        """Moves to resolved since ``since``, with the label flaky, of this fingerprint's events."""
        ...

    def list_tokens(self) -> list[Token]:
        """Every role token, revoked ones too, by name."""
        ...

    def get_token(self, name: str) -> Token | None: ...

    # -- retention (healloop prune, see queue/prune.py)
    def finished_before(self, before: int, after_seq: int, limit: int) -> list[tuple[int, str]]:
        """(seq, id) of resolved events resolved before ``before``, with seq above ``after_seq``,
        oldest first."""
        ...

    def event_rows(self, event_id: str) -> dict[str, int]:
        """The rows that belong only to this event, by kind (model.EVENT_ROWS, "events" aside): what
        ``delete_events`` would remove with it."""
        ...

    def artifact_refs(self, after_seq: int, limit: int) -> list[tuple[int, str]]:
        """(seq, the artifacts JSON) of events naming any artifact, with seq above ``after_seq``, in seq
        order."""
        ...

    def max_seq(self) -> int:
        """The newest event's seq (0 when there is none)."""
        ...

    def list_artifacts(self, after: str, limit: int) -> list[ArtifactMeta]:
        """Stored blobs with a digest after ``after``, in digest order."""
        ...

    def stale_test_rows(self, before: int) -> dict[str, int]:
        """How many run records (``test_runs``) were last updated before ``before``, and how many
        quarantines ended (lifted, or expired) before it: what ``delete_stale_test_rows`` removes."""
        ...


class WriteTx(ReadTx, Protocol):
    def fingerprint_state(self, fingerprint: str, since: int) -> tuple[Event | None, Event | None, int]:
        """What a report of this fingerprint merges into, in one round trip: its open event (queued,
        held or escalated) if any, its latest resolved event if any, and how many of its events were
        resolved since ``since``."""
        ...

    def idempotency_get(self, key: str, since: int) -> str | None: ...

    def idempotency_put(self, key: str, event_id: str, at: int) -> None: ...

    def insert_event(self, event: Event) -> None: ...

    def save_event(self, event: Event) -> None:
        """Write every mutable field of an existing event."""
        ...

    def add_node_to_event(self, event: Event, node: str) -> None:
        """Record that ``node`` joined ``event`` after the node that created it (``event.nodes``
        already includes it); the first node is ``event.node`` and is not recorded here."""
        ...

    def add_history(self, entry: HistoryEntry) -> None: ...

    def claim_next(
        self, *, worker: str, token: str, lease_seconds: float, now: int, expires_at: int
    ) -> Event | None:
        """Atomically take the most urgent, oldest queued event into ``processing`` with a new lease.

        Bumps ``fencing``. Concurrent callers never get the same event.
        """
        ...

    def claim_one(
        self, event_id: str, *, worker: str, token: str, lease_seconds: float, now: int, expires_at: int
    ) -> Event | None:
        """Take the event ``event_id`` into ``processing`` with a new lease if it is queued (else None).

        Bumps ``fencing``; concurrent callers never both get it, nor does a ``claim_next``."""
        ...

    def expired_leases(self, now: int, limit: int) -> list[Event]: ...

    def latest_by_fingerprint(self, fingerprint: str) -> Event | None:
        """The newest event of this fingerprint, whatever its state."""
        ...

    def put_artifact(self, meta: ArtifactMeta) -> None:
        """Record a stored blob; a digest already known is left as it is."""
        ...

    def upsert_node(self, node: Node) -> None: ...

    def add_node_move(self, name: str, move: NodeMove) -> None:
        """Record that a registration changed the node's URL (kept with the node for good)."""
        ...

    def purge_idempotency(self, before: int) -> int: ...

    def outbox_add(self, delivery: Delivery) -> bool:
        """Record a delivery unless one for its event, outcome and channel exists; True if added."""
        ...

    def outbox_update(self, delivery: Delivery) -> None: ...

    def add_action(self, at: int, event_id: str, spec: str | None, test: str | None,
                   node: str | None) -> None:
        """Record an automatic action (a move to ``fixing``) for the budgets per test and per node."""
        ...

    def purge_actions(self, before: int) -> int:
        """Forget actions older than ``before`` (the budgets look back one hour; the history keeps all)."""
        ...

    def mute_put(self, mute: Mute) -> None: ...

    def mute_delete(self, spec: str, test: str) -> bool: ...

    def runs_passed(self, node: str, tests: list[tuple[str, str]], at: int) -> None:
        """Count one pass at ``at`` for each (spec, test) on ``node``."""
        ...

    def run_failed(self, spec: str, test: str, node: str, at: int) -> None:
        """Count one failure at ``at`` of the test on ``node``."""
        ...

    def quarantine_put(self, q: Quarantine) -> None:
        """Insert a new quarantine (``id`` None; the id is set on it) or save an existing one's clean runs
        and end (the rest of a quarantine never changes)."""
        ...

    def put_token(self, token: Token) -> None:
        """Store a token, replacing any row of the same name (the caller decides whether it may)."""
        ...

    def revoke_token(self, name: str, at: int) -> bool:
        """Mark the token revoked; False when there is no unrevoked token of that name."""
        ...

    def touch_tokens(self, uses: list[tuple[str, int]]) -> None:
        """Record (name, last use) pairs; a use older than the one stored changes nothing."""
        ...

    def delete_events(self, ids: list[str], before: int) -> dict[str, int]:
        """Delete those of these events that are still resolved before ``before``, with every row that
        belongs only to them; never the newest event (its seq must not be reused). Returns the rows
        removed by kind (model.EVENT_ROWS)."""
        ...

    def delete_artifact(self, digest: str) -> bool:
        """Forget a stored blob's row (the caller removes the file); False when there was none."""
        ...

    def delete_stale_test_rows(self, before: int, limit: int) -> dict[str, int]:
        """Delete up to ``limit`` of each kind ``stale_test_rows`` counts; the counts removed."""
        ...


class EventStore(Protocol):
    async def write(self, fn: Callable[[WriteTx], R]) -> R:
        """Run ``fn`` in one transaction: all its writes commit durably before this returns, or none."""
        ...

    async def read(self, fn: Callable[[ReadTx], R]) -> R: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def watch_work(self, callback: Callable[[int], None]) -> None:
        """Have ``callback(n)`` run on the event loop when another server sharing the database queued
        ``n`` events, so this server's parked long-polls wake for them. A backend that admits one server
        (SQLite) has nothing to watch and ignores it."""
        ...
