"""The embedded SQLite backend: one WAL file, one write connection, group commit.

Writes run on the event loop's own thread, on one connection, with no writer thread: SQLite allows
one writer at a time anyway, and handing each operation to a thread cost more in GIL hand-offs than
the SQL itself (measured with py-spy under load). The first write of a batch opens a transaction
(``BEGIN IMMEDIATE``) and schedules its commit: on the loop's next turn, or 1 ms later while writes
keep coming (``GROUP_COMMIT_S``); every write made meanwhile joins it, up to ``MAX_BATCH``. There is
no savepoint per operation: one that fails before writing leaves nothing to undo, and one that fails
after writing makes the batch roll back and the other operations run again. Each caller is answered
only after the COMMIT: a 2xx is never sent before its commit. Reads use separate connections on two
worker threads and see committed data only (WAL snapshots); checkpoints run in a thread of their own.

One server process per file: a lock file beside the database refuses a second one with a clear
error. Several servers on one queue need the PostgreSQL backend.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from healloop.errors import ConfigError, Unavailable
from healloop.queue.listing import EventMatch
from healloop.queue.model import EVENT_ROWS, ArtifactMeta, Delivery, Event, HistoryEntry, Mute, Node, NodeMove
from healloop.queue.quarantine import Quarantine, TestRuns
from healloop.queue.stats import (
    TOP,
    StatsRows,
    StatsWindow,
    move_marks,
    move_outcome,
    node_figures,
    recorded_class,
)
from healloop.queue.store.sql import load_queries
from healloop.queue.store.stats_days import (
    DAY_US,
    Merged,
    StatsDays,
    combine,
    day_of,
    gather,
    rows_for,
    split,
)
from healloop.queue.tokens import Token

log = logging.getLogger(__name__)
R = TypeVar("R")

# Event columns in the order of the Event dataclass's fields.
COLUMNS = (
    "id, fingerprint, kind, node, source, spec, test, message, stack, priority, occurred_at, labels, "
    "artifacts, idempotency_key, status, created_at, updated_at, count, nodes, attempt, lapses, "
    "fencing, lease_token, lease_worker, lease_seconds, lease_expires_at, resolved_at, seq"
)
_INSERT_COLUMNS = COLUMNS.replace(", seq", "")
_STATUS = COLUMNS.split(", ").index("status")
_QCOLUMNS = ("id, spec, test, owner, set_at, until, reason, auto, clean, clean_nodes, lifted_at, lifted_by, "
             "lift_note")
Q = load_queries(
    "sqlite_queries.sql",
    columns=COLUMNS,
    qcolumns=_QCOLUMNS,
    insert_columns=_INSERT_COLUMNS,
    insert_params=", ".join("?" * len(_INSERT_COLUMNS.split(","))),
    window="e.created_at >= :since AND e.created_at < :until AND (:node IS NULL OR e.node = :node "
           "OR e.seq IN (SELECT seq FROM event_nodes WHERE node = :node))",
)
SCHEMA_VERSION = 3  # the version the schema text writes into a new file; migrate() brings older ones up
# The most operations one commit carries: bounds how long the first request of a batch waits.
MAX_BATCH = 512
NODE_MOVES_SHOWN = 10  # a node's latest URL changes listed with it; all are kept
# Group commit (see write): batches of at least this many writes mean load, and the next batch waits
# this long for company; after a batch smaller than that, the next one commits on the loop's next turn.
GROUP_COMMIT_MIN = 4
GROUP_COMMIT_S = 0.001
# Page cache per connection: keeps the indexes of a million-event history in memory.
CACHE_KIB = 64 * 1024
# Whole days of GET /v1/stats read into the day cache at start: the trends page's longest preset window.
WARM_DAYS = 90
# How often the checkpointer moves the WAL into the database file.
CHECKPOINT_EVERY_S = 0.5
# WAL size (pages of 4 KiB) at which the writer itself completes a checkpoint (see open()).
WAL_RESTART_PAGES = 4000

_enc = msgspec.json.Encoder()
_dec = msgspec.json.decode


def _row_to_event(row: tuple[Any, ...]) -> Event:
    ev = Event(*row)
    ev.labels = _dec(ev.labels)
    ev.artifacts = _dec(ev.artifacts)
    ev.nodes = _dec(ev.nodes)
    return ev


class SQLiteTx:
    """The primitives of ``WriteTx``/``ReadTx`` over one sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection, days: StatsDays | None = None) -> None:
        self.c = conn
        # GET /v1/stats's cache of whole days (the server's store; None elsewhere), and the days (by
        # creation) of the events this connection's open transaction changed, for the writer to tell
        # the cache after its COMMIT.
        self.days = days
        self.touched: set[int] = set()
        # Class, outcome and marks of moves recorded by add_history and not yet written: the event's
        # save_event that follows writes them in its own UPDATE; flush_marks writes any left before
        # the COMMIT (a report's first entry has no save_event after it).
        self._marks: dict[str, tuple[str | None, str | None, int]] = {}

    def _one(self, sql: str, args: tuple[Any, ...]) -> Event | None:
        row = self.c.execute(sql, args).fetchone()
        return _row_to_event(row) if row else None

    # -- reads
    def get_event(self, event_id: str) -> Event | None:
        return self._one(Q["get_event"], (event_id,))

    def history(self, event_id: str) -> list[HistoryEntry]:
        out = []
        for row in self.c.execute(Q["history"], (event_id,)):
            entry = HistoryEntry(*row)
            if entry.data is not None:
                entry.data = _dec(entry.data)
            out.append(entry)
        return out

    def list_events(
        self, *, status: str | None, node: str | None, fingerprint: str | None, limit: int,
        match: EventMatch | None = None,
    ) -> list[Event]:
        where: list[str] = []
        args: list[Any] = []
        if match is not None:
            where, args = _match_terms(match)
        klass = match.klass if match is not None else None
        # The class's newest events are read from event_classes, the walk stopping at `limit`, unless
        # the fingerprint or an open state (a short index each) leads: then each row's class is
        # looked up.
        class_leads = bool(klass) and not fingerprint and not (status and status != "resolved")
        if klass and not class_leads:
            where.append("EXISTS (SELECT 1 FROM event_classes WHERE class = ? AND seq = events.seq)")
            args.append(klass)
        if status == "resolved":
            where.append("status = 'resolved'")
        elif status:
            # The extra term lets SQLite use the partial index events_active.
            where.append("status = ? AND status <> 'resolved'")
            args.append(status)
        if node:
            # The reporting node is the event's `node` (events_node); the nodes that joined are in
            # event_nodes (see QueueService._report_op). Both lists of seq are read whole (a node's
            # events, a few thousand keys), then the rows from the newest down, without a sort: a node
            # with no recent events took a walk of every row before (0.4 s on a million events).
            where.append("seq IN (SELECT seq FROM events INDEXED BY events_node WHERE node = ? "
                         "UNION ALL SELECT seq FROM event_nodes WHERE node = ?)")
            args += [node, node]
        if fingerprint:
            # Open and resolved events of a fingerprint live in two partial indexes.
            parts, part_args = [], []
            for index, cond in (("events_open", "status <> 'resolved'"),
                                ("events_resolved", "status = 'resolved'")):
                terms = " AND ".join(["fingerprint = ?", cond, *where])
                parts.append(f"SELECT {COLUMNS} FROM events INDEXED BY {index} WHERE {terms}")
                part_args += [fingerprint, *args]
            sql = f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY seq DESC LIMIT ?"
            return [_row_to_event(r) for r in self.c.execute(sql, [*part_args, limit])]
        sql, order = f"SELECT {COLUMNS} FROM events", "seq"
        if class_leads:
            # Ordered by event_classes' own seq: by the events' seq, SQLite sorted every event of the
            # class first (3.8 s for a quarter of a million).
            sql = (f"SELECT {COLUMNS} FROM (SELECT seq AS class_seq FROM event_classes WHERE class = ?) "
                   "CROSS JOIN events ON seq = class_seq")
            order = "class_seq"
            args.insert(0, klass)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} DESC LIMIT ?"
        return [_row_to_event(r) for r in self.c.execute(sql, [*args, limit])]

    def count_by_status(self) -> dict[str, int]:
        return {status: n for status, n in self.c.execute(Q["count_by_status"]) if n}

    def next_lease_expiry(self) -> int | None:
        return self.c.execute(Q["next_lease_expiry"]).fetchone()[0]

    def list_nodes(self) -> list[Node]:
        return [self._node(row) for row in self.c.execute(Q["list_nodes"]).fetchall()]

    def get_node(self, name: str) -> Node | None:
        row = self.c.execute(Q["get_node"], (name,)).fetchone()
        return self._node(row) if row else None

    def _node(self, row: tuple[Any, ...]) -> Node:
        name, url, labels, seen = row
        moves = [NodeMove(*m) for m in self.c.execute(Q["node_moves"], (name, NODE_MOVES_SHOWN))]
        return Node(name, url, _dec(labels), seen, moves)

    # -- writes
    def fingerprint_state(self, fingerprint: str, since: int) -> tuple[Event | None, Event | None, int]:
        open_ev, latest, recent = None, None, 0
        for row in self.c.execute(Q["fingerprint_state"], (fingerprint, since)):
            if row[_STATUS] == "resolved":
                latest, recent = _row_to_event(row[:-1]), row[-1]
            else:
                open_ev = _row_to_event(row[:-1])
        return open_ev, latest, recent

    def idempotency_get(self, key: str, since: int) -> str | None:
        row = self.c.execute(Q["idempotency_get"], (key, since)).fetchone()
        return row[0] if row else None

    def idempotency_put(self, key: str, event_id: str, at: int) -> None:
        self.c.execute(Q["idempotency_put"], (key, event_id, at))

    def purge_idempotency(self, before: int) -> int:
        return self.c.execute(Q["purge_idempotency"], (before,)).rowcount

    def insert_event(self, ev: Event) -> None:
        cur = self.c.execute(
            Q["insert_event"],
            (
                ev.id, ev.fingerprint, ev.kind, ev.node, ev.source, ev.spec, ev.test, ev.message,
                ev.stack, ev.priority, ev.occurred_at, _enc.encode(ev.labels),
                _enc.encode(ev.artifacts), ev.idempotency_key, ev.status, ev.created_at,
                ev.updated_at, ev.count, _enc.encode(ev.nodes), ev.attempt, ev.lapses, ev.fencing,
                ev.lease_token, ev.lease_worker, ev.lease_seconds, ev.lease_expires_at,
                ev.resolved_at, move_outcome(None, ev.status, None),
            ),
        )
        ev.seq = cur.lastrowid
        self.touched.add(day_of(ev.created_at))

    def save_event(self, ev: Event) -> None:
        fields = (
            ev.status, ev.count, _enc.encode(ev.nodes), _enc.encode(ev.artifacts), ev.priority,
            ev.attempt, ev.lapses, ev.fencing, ev.lease_token, ev.lease_worker, ev.lease_seconds,
            ev.lease_expires_at, ev.resolved_at, ev.updated_at,
        )
        marks = self._marks.pop(ev.id, None)
        self.touched.add(day_of(ev.created_at))
        if marks is None:
            self.c.execute(Q["save_event"], (*fields, ev.id))
        else:
            self.c.execute(Q["save_event_marked"], (*fields, *marks, ev.id))

    def flush_marks(self) -> None:
        """Writes the marks of moves whose event was not saved after them; called before each COMMIT."""
        marks, self._marks = self._marks, {}
        for event_id, (cls, outcome, bits) in marks.items():
            for (created_at,) in self.c.execute(Q["mark_event"], (cls, outcome, bits, event_id)):
                self.touched.add(day_of(created_at))

    def drop_marks(self) -> None:
        """Forgets pending marks: their transaction was rolled back."""
        self._marks.clear()

    def add_node_to_event(self, ev: Event, node: str) -> None:
        self.c.execute(Q["add_node_to_event"], (node, ev.seq))
        self.touched.add(day_of(ev.created_at))

    def add_history(self, e: HistoryEntry) -> None:
        data = _enc.encode(e.data) if e.data is not None else None
        self.c.execute(
            Q["add_history"], (e.event_id, e.at, e.from_state, e.to_state, e.worker, e.note, data)
        )
        # The event's class, outcome and marks for GET /v1/stats, in the move's own transaction, written
        # by the save_event that follows (see _marks). Most moves (a claim, analyzing to fixing without
        # a class) change none.
        cls, outcome = recorded_class(e.data), move_outcome(e.from_state, e.to_state, e.data)
        if isinstance(e.data, dict) and isinstance(e.data.get("class"), str):
            # The list's class filter matches any class the history names as text (event_classes).
            self.c.execute(Q["add_event_class"], (e.data["class"], e.event_id))
        marks = move_marks(e.to_state, e.data)
        if cls is not None or outcome is not None or marks:
            old_cls, old_outcome, old_marks = self._marks.get(e.event_id, (None, None, 0))
            self._marks[e.event_id] = (cls if cls is not None else old_cls,
                                       outcome if outcome is not None else old_outcome, old_marks | marks)

    def claim_next(
        self, *, worker: str, token: str, lease_seconds: float, now: int, expires_at: int
    ) -> Event | None:
        return self._one(Q["claim_next"], (token, worker, lease_seconds, expires_at, now))

    def claim_one(
        self, event_id: str, *, worker: str, token: str, lease_seconds: float, now: int, expires_at: int
    ) -> Event | None:
        return self._one(Q["claim_one"], (token, worker, lease_seconds, expires_at, now, event_id))

    def expired_leases(self, now: int, limit: int) -> list[Event]:
        return [_row_to_event(r) for r in self.c.execute(Q["expired_leases"], (now, limit))]

    def latest_by_fingerprint(self, fingerprint: str) -> Event | None:
        return self._one(Q["latest_by_fingerprint"], (fingerprint, fingerprint))

    def put_artifact(self, meta: ArtifactMeta) -> None:
        self.c.execute(Q["put_artifact"], (meta.digest, meta.content_type, meta.size, meta.created_at))

    def get_artifact(self, digest: str) -> ArtifactMeta | None:
        row = self.c.execute(Q["get_artifact"], (digest,)).fetchone()
        return ArtifactMeta(*row) if row else None

    def upsert_node(self, node: Node) -> None:
        self.c.execute(
            Q["upsert_node"], (node.name, node.mcp_url, _enc.encode(node.labels), node.last_seen)
        )

    def add_node_move(self, name: str, move: NodeMove) -> None:
        self.c.execute(Q["add_node_move"], (name, move.at, move.old_url, move.new_url))

    # -- notifications (the outbox) and mutes
    def outbox_add(self, d: Delivery) -> bool:
        cur = self.c.execute(Q["outbox_add"], (d.event_id, d.outcome, d.channel, d.created_at, d.note,
                                               d.status, d.next_at))
        return cur.rowcount == 1

    def outbox_due(self, now: int, limit: int) -> list[Delivery]:
        return [Delivery(*row) for row in self.c.execute(Q["outbox_due"], (now, limit))]

    def outbox_pending_for(self, channel: str, limit: int) -> list[Delivery]:
        return [Delivery(*row) for row in self.c.execute(Q["outbox_pending_for"], (channel, limit))]

    def outbox_next_due(self) -> int | None:
        row = self.c.execute(Q["outbox_next_due"]).fetchone()
        return row[0] if row else None

    def outbox_update(self, d: Delivery) -> None:
        self.c.execute(Q["outbox_update"], (d.status, d.attempts, d.next_at, d.last_error, d.done_at,
                                            d.event_id, d.outcome, d.channel))

    def outbox_for_event(self, event_id: str) -> list[Delivery]:
        return [Delivery(*row) for row in self.c.execute(Q["outbox_for_event"], (event_id,))]

    def outbox_recent(self, channel: str, since: int) -> int:
        return int(self.c.execute(Q["outbox_recent"], (channel, since)).fetchone()[0])

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        return {(ch, st): n for ch, st, n in self.c.execute(Q["outbox_counts"])}

    def mute_put(self, mute: Mute) -> None:
        self.c.execute(Q["mute_put"], (mute.spec, mute.test, mute.until, mute.reason))

    def mute_active(self, spec: str, test: str, now: int) -> Mute | None:
        row = self.c.execute(Q["mute_active"], (spec, test, now)).fetchone()
        return Mute(*row) if row else None

    def mute_list(self, now: int) -> list[Mute]:
        return [Mute(*row) for row in self.c.execute(Q["mute_list"], (now,))]

    def mute_delete(self, spec: str, test: str) -> bool:
        return self.c.execute(Q["mute_delete"], (spec, test)).rowcount == 1

    # -- run history and quarantines (queue/quarantine.py)
    def runs_passed(self, node: str, tests: list[tuple[str, str]], at: int) -> None:
        self.c.executemany(Q["run_passed"], [(spec, test, node, at) for spec, test in tests])

    def run_failed(self, spec: str, test: str, node: str, at: int) -> None:
        self.c.execute(Q["run_failed"], (spec, test, node, at))

    def test_runs(self, spec: str, test: str) -> list[TestRuns]:
        return [TestRuns(*row) for row in self.c.execute(Q["test_runs"], (spec, test))]

    def quarantine_open(self, spec: str, test: str, now: int) -> Quarantine | None:
        row = self.c.execute(Q["quarantine_open"], (spec, test, now)).fetchone()
        return _row_to_quarantine(row) if row else None

    def quarantine_all_open(self, now: int) -> list[Quarantine]:
        return [_row_to_quarantine(r) for r in self.c.execute(Q["quarantine_all_open"], (now,))]

    def quarantine_history(self, spec: str, test: str, limit: int) -> list[Quarantine]:
        return [_row_to_quarantine(r) for r in self.c.execute(Q["quarantine_history"], (spec, test, limit))]

    def quarantine_put(self, q: Quarantine) -> None:
        nodes = _enc.encode(q.clean_nodes).decode()
        if q.id is None:
            cur = self.c.execute(Q["quarantine_insert"], (
                q.spec, q.test, q.owner, q.set_at, q.until, q.reason, int(q.auto), q.clean, nodes,
                q.lifted_at, q.lifted_by, q.lift_note))
            q.id = cur.lastrowid
        else:
            self.c.execute(Q["quarantine_update"], (q.clean, nodes, q.lifted_at, q.lifted_by, q.lift_note,
                                                    q.id))

    def events_of_fingerprints(self, fingerprints: list[str], limit: int) -> list[Event]:
        return [_row_to_event(r) for r in self.c.execute(Q["events_of_fingerprints"],
                                                         (_enc.encode(fingerprints).decode(), limit))]

    def flaky_calls(self, fingerprint: str, since: int) -> int:
        return int(self.c.execute(Q["flaky_calls"], (fingerprint, since)).fetchone()[0])

    # -- role tokens (hashes only; see queue/tokens.py)
    def list_tokens(self) -> list[Token]:
        return [Token(*row) for row in self.c.execute(Q["list_tokens"])]

    def get_token(self, name: str) -> Token | None:
        row = self.c.execute(Q["get_token"], (name,)).fetchone()
        return Token(*row) if row else None

    def put_token(self, t: Token) -> None:
        self.c.execute(Q["put_token"], (t.name, t.role, t.hash, t.created_at))

    def revoke_token(self, name: str, at: int) -> bool:
        return self.c.execute(Q["revoke_token"], (at, name)).rowcount == 1

    def touch_tokens(self, uses: list[tuple[str, int]]) -> None:
        self.c.executemany(Q["touch_token"], [(at, name) for name, at in uses])

    # -- GET /v1/stats
    def stats(self, w: StatsWindow, top: int) -> StatsRows:
        # The window's whole days come from the cache when it holds them (stats_days.py); the versions
        # are read before this transaction's first statement, which takes its snapshot.
        edges, days = split(w.since, w.until) if self.days is not None else ([(w.since, w.until)], [])
        versions = self.days.versions(days) if self.days is not None else []
        deleted = int(self.c.execute(Q["events_deleted"]).fetchone()[0])

        def query(name: str, args: dict[str, Any]) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in self.c.execute(Q[name], args)]

        def whole_days() -> Merged:
            assert self.days is not None
            parts = []
            for day, version in zip(days, versions, strict=True):
                part = self.days.get(day, w.node, version, deleted)
                if part is None:
                    part = rows_for(query, day * DAY_US, (day + 1) * DAY_US, w.node)
                    self.days.put(day, w.node, version, deleted, part)
                parts.append(part)
            return gather(parts)

        whole = (self.days.whole_days(days, w.node, versions, deleted, whole_days)
                 if self.days is not None and days else gather([]))
        edge_rows = [rows_for(query, since, until, w.node) for since, until in edges]
        per_day, outcomes, repair, flaky, suspects, nodes, joined = combine(whole, edge_rows, top)
        notes = query("stats_notifications", {"since": w.since, "until": w.until, "node": w.node})
        return StatsRows(
            per_day=per_day,
            outcomes=outcomes,
            repair=repair,
            flaky=flaky,
            suspects=suspects,
            nodes=node_figures(nodes, joined),
            notifications=[(ch, st, n) for ch, st, n, _, _ in notes],
            notify_errors=_newest_errors(notes),
            seen={n.name: n.last_seen for n in self.list_nodes()},
        )

    # -- the budgets of automatic actions
    def was_fixed(self, event_id: str) -> bool:
        return bool(self.c.execute(Q["was_fixed"], (event_id,)).fetchone()[0])

    def add_action(self, at: int, event_id: str, spec: str | None, test: str | None,
                   node: str | None) -> None:
        self.c.execute(Q["add_action"], (at, event_id, spec, test, node))

    def actions_for_test(self, spec: str, test: str, since: int, limit: int) -> int:
        return int(self.c.execute(Q["actions_for_test"], (spec, test, since, limit)).fetchone()[0])

    def actions_on_node(self, node: str, since: int, limit: int) -> int:
        return int(self.c.execute(Q["actions_on_node"], (node, since, limit)).fetchone()[0])

    def purge_actions(self, before: int) -> int:
        return self.c.execute(Q["purge_actions"], (before,)).rowcount

    # -- retention (healloop prune)
    def finished_before(self, before: int, after_seq: int, limit: int) -> list[tuple[int, str]]:
        return [(seq, eid) for seq, eid in self.c.execute(Q["finished_before"], (after_seq, before, limit))]

    def event_rows(self, event_id: str) -> dict[str, int]:
        row = self.c.execute(Q["event_extras"], (event_id,)).fetchone()
        if row is None:
            return dict.fromkeys(EVENT_ROWS[1:], 0)
        nodes, key = row
        return {
            "history": self.c.execute(Q["count_history"], (event_id,)).fetchone()[0],
            "notifications": self.c.execute(Q["count_outbox"], (event_id,)).fetchone()[0],
            # The first node is the event's own column; event_nodes holds the ones that joined later.
            "event_nodes": max(0, len(_dec(nodes)) - 1),
            "idempotency_keys": self.c.execute(Q["count_idempotency"], (key, event_id)).fetchone()[0]
            if key else 0,
            "actions": self.c.execute(Q["count_actions"], (event_id,)).fetchone()[0],
        }

    def artifact_refs(self, after_seq: int, limit: int) -> list[tuple[int, str]]:
        return [(seq, refs.decode() if isinstance(refs, bytes) else refs)
                for seq, refs in self.c.execute(Q["artifact_refs"], (after_seq, limit))]

    def max_seq(self) -> int:
        return int(self.c.execute(Q["max_seq"]).fetchone()[0])

    def list_artifacts(self, after: str, limit: int) -> list[ArtifactMeta]:
        return [ArtifactMeta(*row) for row in self.c.execute(Q["list_artifacts"], (after, limit))]

    def delete_events(self, ids: list[str], before: int) -> dict[str, int]:
        out = dict.fromkeys(EVENT_ROWS, 0)
        for event_id in ids:
            row = self.c.execute(Q["delete_event"], (event_id, before)).fetchone()
            if row is None:
                continue
            seq, nodes, key = row
            out["events"] += 1
            self.c.execute(Q["delete_event_classes"], (seq, event_id))
            self.c.execute(Q["count_deleted"])
            out["history"] += self.c.execute(Q["delete_history"], (event_id,)).rowcount
            out["notifications"] += self.c.execute(Q["delete_outbox"], (event_id,)).rowcount
            # By primary key, from the event's own list (its first node has no row): no scan.
            for node in _dec(nodes)[1:]:
                out["event_nodes"] += self.c.execute(Q["delete_event_node"], (node, seq)).rowcount
            if key:
                out["idempotency_keys"] += self.c.execute(Q["delete_idempotency"], (key, event_id)).rowcount
            out["actions"] += self.c.execute(Q["delete_actions"], (event_id,)).rowcount
        return out

    def delete_artifact(self, digest: str) -> bool:
        return self.c.execute(Q["delete_artifact"], (digest,)).rowcount == 1

    def stale_test_rows(self, before: int) -> dict[str, int]:
        return {"test_runs": self.c.execute(Q["count_stale_runs"], (before,)).fetchone()[0],
                "quarantines": self.c.execute(Q["count_ended_quarantines"], (before,)).fetchone()[0]}

    def delete_stale_test_rows(self, before: int, limit: int) -> dict[str, int]:
        return {"test_runs": self.c.execute(Q["delete_stale_runs"], (before, limit)).rowcount,
                "quarantines": self.c.execute(Q["delete_ended_quarantines"], (before, limit)).rowcount}


def _row_to_quarantine(row: tuple[Any, ...]) -> Quarantine:
    (id_, spec, test, owner, set_at, until, reason, auto, clean, nodes, lifted_at, lifted_by,
     lift_note) = row
    return Quarantine(spec, test, owner, set_at, until, reason, bool(auto), clean, _dec(nodes), lifted_at,
                      lifted_by, lift_note, id_)


def migrate(conn: sqlite3.Connection) -> None:
    """Brings a file written by an older healloop up to ``SCHEMA_VERSION``, in one transaction, before
    the schema text runs (which then creates the new indexes and tables). A new file has nothing to
    upgrade: the schema text creates it at the newest version.

    1 to 2: the events' ``class``, ``outcome`` and ``marks`` columns, filled from their history
    (``backfill_marks``; then the schema text builds ``events_window``). On the 1,000,000-event history
    of bench/dashboard.py the server's start took 45 s once instead of 4.5 s (printed by it).

    2 to 3: ``event_classes``, filled from the history (``backfill_classes``); the start of the same
    file took the time bench/README.md quotes."""
    if conn.execute(Q["has_events"]).fetchone() is None:
        return
    version = conn.execute(Q["schema_version"]).fetchone()[0]
    if version >= SCHEMA_VERSION:
        return
    t0 = time.monotonic()
    conn.execute("BEGIN IMMEDIATE")
    try:
        if version < 2:
            have = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
            for column, decl in (("class", "TEXT"), ("outcome", "TEXT NOT NULL DEFAULT 'open'"),
                                 ("marks", "INTEGER NOT NULL DEFAULT 0")):
                if column not in have:
                    conn.execute(f"ALTER TABLE events ADD COLUMN {column} {decl}")
            conn.execute(Q["backfill_marks"])
        if version < 3:
            conn.execute(Q["create_event_classes"])
            conn.execute(Q["backfill_classes"])
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    log.info("upgraded the queue's schema from version %s to %s in %.1f s", version, SCHEMA_VERSION,
             time.monotonic() - t0)


def _newest_errors(notes: list[tuple[Any, ...]]) -> dict[str, str]:
    """Per channel, the error of its newest failed or pending delivery."""
    newest: dict[str, tuple[int, str]] = {}
    for channel, status, _, last, error in notes:
        if error and status in ("failed", "pending") and (last or 0) >= newest.get(channel, (-1, ""))[0]:
            newest[channel] = (last or 0, error)
    return {channel: error for channel, (_, error) in newest.items()}


def token_admin(path: str | os.PathLike[str]) -> SQLiteTx:
    """A connection to the queue's file for ``healloop token``, beside a running server: not through
    ``SQLiteStore`` (whose lock file admits one server), since SQLite itself orders the writes (WAL and
    the busy timeout). Creates the file and schema when there is none yet. Use each call's writes
    inside ``with tx.c:``, which commits."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(p, isolation_level="DEFERRED", check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn)
    conn.executescript(Q["schema"])
    return SQLiteTx(conn)


class SQLiteAdmin:
    """Short transactions on the queue's file from another process (``healloop prune``), beside a
    running server: like ``token_admin``, not through ``SQLiteStore`` and its lock file. Each ``write``
    is one ``BEGIN IMMEDIATE`` transaction; the server's writer waits for it (busy timeout 5 s), so
    callers keep each one short."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p} does not exist; pass the queue's file with --db (as given to "
                              "`healloop serve --db`)")
        conn = sqlite3.connect(p, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            known = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'")
            if known.fetchone() is None:
                raise ConfigError(f"{p} is not a healloop queue database (it has no events table); pass "
                                  "the file given to `healloop serve --db`")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ConfigError(f"{p} cannot be read as an SQLite database ({exc}); pass the file given to "
                              "`healloop serve --db`") from None
        except ConfigError:
            conn.close()
            raise
        self.path = p
        self._tx = SQLiteTx(conn)

    def read(self, fn: Callable[[SQLiteTx], R]) -> R:
        return self._run("BEGIN", fn)

    def write(self, fn: Callable[[SQLiteTx], R]) -> R:
        return self._run("BEGIN IMMEDIATE", fn)

    def _run(self, begin: str, fn: Callable[[SQLiteTx], R]) -> R:
        conn = self._tx.c
        try:
            conn.execute(begin)
            try:
                value = fn(self._tx)
                self._tx.flush_marks()
            except BaseException:
                self._tx.drop_marks()
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _unavailable(exc) from None
        return value

    def close(self) -> None:
        self._tx.c.close()


def _unavailable(exc: sqlite3.Error) -> Unavailable:
    """A commit SQLite could not make, as a 503 that says what to do: disk full (SQLITE_FULL) is the
    usual one, fixed by a person freeing space, after which the client's retry succeeds
    (tests/reliability/test_disk_full.py)."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return Unavailable("the event store could not commit: database or disk is full; nothing of this "
                           "request was stored: free space on the queue's disk, then send it again")
    return Unavailable(f"the event store could not commit: {exc}; nothing of this request was stored: "
                       "send it again, and see the queue's log if this goes on")


@dataclass(slots=True)
class _Op:
    """One write in the open batch: its caller's future, the operation, and what it gave."""

    fut: asyncio.Future[Any]
    fn: Callable[[SQLiteTx], Any]
    value: Any = None
    error: BaseException | None = None


class SQLiteStore:
    """``EventStore`` on one SQLite file."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "normal") -> None:
        if synchronous not in ("normal", "full"):
            raise ConfigError(f"sqlite synchronous must be 'normal' or 'full', got {synchronous!r}")
        self.path = Path(path)
        self.synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._tx: SQLiteTx | None = None
        self._pending: list[_Op] = []
        self._last_batch = 0
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="healloop-sqlite-read")
        self._days = StatsDays()
        self._stop_warming = threading.Event()
        self._local = threading.local()
        self._lock_fd: int | None = None
        self._checkpointer: threading.Thread | None = None
        self._stop_checkpoints = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        return conn

    def open(self) -> None:
        """Take the file lock, create the schema and start the checkpointer (idempotent)."""
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._take_file_lock()
        conn = self._connect()
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise ConfigError(f"{self.path}: SQLite could not switch to WAL mode (got {mode})")
        try:
            migrate(conn)
            conn.executescript(Q["schema"])
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ConfigError(f"{self.path} cannot be used as a healloop queue ({exc}); pass the file of a "
                              "queue to --db, or a new path to start an empty one") from None
        # Checkpoints run mostly in their own thread, not inside a commit: a checkpoint in the
        # writer stalls it on fsync (measured: it tripled the cost of a commit under load). But a
        # checkpoint beside a writer that never pauses never finishes, so the WAL is never restarted
        # and grows without end (measured: 470 MB after 40,000 reports, each page read then slower);
        # the rare automatic checkpoint at WAL_RESTART_PAGES, run by the writer, finishes what the
        # thread has mostly copied already and lets the WAL start over.
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_RESTART_PAGES}")
        self._conn, self._tx = conn, SQLiteTx(conn, self._days)
        self._stop_checkpoints.clear()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="healloop-sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        conn = self._connect()
        try:
            while not self._stop_checkpoints.wait(CHECKPOINT_EVERY_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # a busy database: the next round catches up
                    log.debug("checkpoint skipped: %s", exc)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.open()
        # The trends' whole days, read once in the background: the first GET /v1/stats after a start
        # would otherwise read them all (1.2 s for 30 days, 4 s for 90 on a million events).
        self._readers.submit(self._warm_stats, WARM_DAYS)

    def _warm_stats(self, days: int) -> None:
        """Fill the day cache for the last ``days`` whole UTC days, newest first, one day per read
        (so a stop or a request waits at most one day's read)."""
        today = time.time_ns() // 1000 // DAY_US
        try:
            for day in range(today - 1, today - 1 - days, -1):
                if self._stop_warming.is_set():
                    return
                whole = StatsWindow(day * DAY_US, (day + 1) * DAY_US)
                self._read_in_thread(lambda tx, w=whole: tx.stats(w, TOP))
        except (sqlite3.Error, OSError) as exc:  # only a head start: the requests compute what is missing
            log.warning("could not warm the stats cache: %s", exc)

    def watch_work(self, callback: Callable[[int], None]) -> None:
        """One server per file (the lock file): no other server can queue work here."""

    def _take_file_lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"{self.path} is already served by another healloop process (lock {lock_path} is "
                "held); run one server per SQLite file, or use PostgreSQL for several servers"
            ) from None
        self._lock_fd = fd

    async def close(self) -> None:
        if self._pending:
            self._commit()
        if self._conn is not None:
            self._conn.close()
            self._conn = self._tx = None
        if self._checkpointer is not None:
            self._stop_checkpoints.set()
            await asyncio.to_thread(self._checkpointer.join)
            self._checkpointer = None
        self._stop_warming.set()
        self._readers.shutdown(wait=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def write(self, fn: Callable[[SQLiteTx], R]) -> R:
        conn, tx, loop = self._conn, self._tx, self._loop
        if conn is None or tx is None or loop is None:
            raise Unavailable("the SQLite store is not running")
        if not self._pending:
            conn.execute("BEGIN IMMEDIATE")
            # Group commit: while writes keep coming, the batch stays open GROUP_COMMIT_S longer so
            # more of them share one commit (measured: ~4% more new failures per second under load);
            # when they came one at a time, it commits on the loop's next turn.
            if self._last_batch >= GROUP_COMMIT_MIN:
                loop.call_later(GROUP_COMMIT_S, self._commit)
            else:
                loop.call_soon(self._commit)
        fut: asyncio.Future[R] = loop.create_future()
        op = _Op(fut, fn)
        self._pending.append(op)
        # No savepoint per operation (they cost ~15% of a report): an operation that fails before
        # writing anything (a wrong token, an unknown id: the usual failures) leaves nothing to
        # undo. One that fails after writing is undone by rolling the batch back and running its
        # other operations again; nobody has been answered yet, so nothing they returned was seen.
        if not self._run(op, tx, conn):
            self._replay(tx, conn)
        if len(self._pending) >= MAX_BATCH:
            self._commit()
        return await fut

    @staticmethod
    def _run(op: _Op, tx: SQLiteTx, conn: sqlite3.Connection) -> bool:
        """Runs one operation; False when it failed after writing (its writes must be undone)."""
        before = conn.total_changes
        try:
            op.value = op.fn(tx)
        # Any error of the operation goes back to its caller, after the commit; the rest of the
        # batch still commits.
        except Exception as exc:  # noqa: BLE001
            op.error = exc
            # SQLite rolls the whole transaction back by itself on some errors (disk full, I/O).
            return conn.total_changes == before and conn.in_transaction
        return True

    def _replay(self, tx: SQLiteTx, conn: sqlite3.Connection) -> None:
        while True:
            tx.drop_marks()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            if all(self._run(op, tx, conn) for op in self._pending if op.error is None):
                return

    def _commit(self) -> None:
        """Commit the open transaction, then answer every write in it (scheduled by ``write``)."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        self._last_batch = len(batch)
        assert self._conn is not None and self._tx is not None
        try:
            self._tx.flush_marks()
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            # The commit itself failed (disk full, I/O error): nothing in the batch was stored.
            log.error("sqlite commit failed: %s", exc)
            self._tx.drop_marks()
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            err = _unavailable(exc)
            for op in batch:
                op.error = err
        # After the COMMIT (see stats_days.py); after a failed one too, which only costs a recount.
        if self._tx.touched:
            self._days.touched(self._tx.touched)
            self._tx.touched = set()
        for op in batch:
            if op.fut.cancelled():
                continue
            if op.error is not None:
                op.fut.set_exception(op.error)
            else:
                op.fut.set_result(op.value)

    async def read(self, fn: Callable[[SQLiteTx], R]) -> R:
        if self._loop is None:
            raise Unavailable("the SQLite store is not running")
        return await self._loop.run_in_executor(self._readers, self._read_in_thread, fn)

    def _read_in_thread(self, fn: Callable[[SQLiteTx], R]) -> R:
        tx = getattr(self._local, "tx", None)
        if tx is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = 1")
            tx = self._local.tx = SQLiteTx(conn, self._days)
        tx.c.execute("BEGIN")
        try:
            return fn(tx)
        finally:
            tx.c.execute("COMMIT")


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _match_terms(m: EventMatch) -> tuple[list[str], list[Any]]:
    """The WHERE terms of the dashboard's filters but the class (see list_events). The time bounds the
    walk by an index; the spec, text and label have none (an extra index costs every report): the list
    walks seq backwards and stops at ``limit``, through the whole history when few events match."""
    where: list[str] = []
    args: list[Any] = []
    if m.spec:
        where.append("spec = ?")
        args.append(m.spec)
    if m.since is not None:
        # created_at grows with seq: the first event at or after `since` (one step into events_window)
        # bounds the walk, which otherwise read every older row when nothing matched.
        where.append("created_at >= ? AND seq >= (SELECT seq FROM events INDEXED BY events_window "
                     "WHERE created_at >= ? ORDER BY created_at LIMIT 1)")
        args += [m.since, m.since]
    if m.text:
        # LIKE is case-insensitive for ASCII only; the escape keeps a searched % or _ literal.
        where.append("(test LIKE ? ESCAPE '\\' OR message LIKE ? ESCAPE '\\' OR spec LIKE ? ESCAPE '\\')")
        args += [_like(m.text)] * 3
    if m.label:
        key, value = m.label
        where.append("json_extract(labels, ?) = ?")
        args += ['$."' + key + '"', value]
    return where, args
