"""The PostgreSQL backend: several ``healloop serve`` processes on one database.

The store interface runs a sync function of the ``WriteTx``/``ReadTx`` primitives in one transaction;
here each runs on a worker thread that owns one connection (``THREADS`` of them, opened on first use).
One connection per thread, not a pool: a transaction already needs its connection for as long as its
thread runs it, so a pool would only add a checkout to every call, and a thread's connection is never
shared. Transactions are READ COMMITTED with explicit locks where SQLite's single writer serialized
things implicitly:

- claims take rows with ``FOR UPDATE SKIP LOCKED`` (queued events, lapsed leases), so concurrent
  claimers on any server get different events without waiting on each other;
- a write reads the event it will save with ``FOR UPDATE`` (a lease holder's move against a sweep);
- reports of one fingerprint, and of one idempotency key, take turns on a transaction-scoped advisory
  lock, so two servers never both create an event where one would merge into the other.

A write that fails on a serialization failure or a deadlock runs again from the start (``RETRIES``);
``write`` returns only after its COMMIT, with ``synchronous_commit = on`` (durable). A write that
queues work (a new queued event, a move back to queued) sends ``NOTIFY healloop_work`` in its own
transaction; each server LISTENs on a connection of its own and wakes its parked long-polls, so a
report on one server wakes a claimer waiting on another (queue/service.py ``work_arrived``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import msgspec

from healloop.errors import ConfigError, HealloopError, Unavailable
from healloop.queue.listing import EventMatch
from healloop.queue.model import EVENT_ROWS, ArtifactMeta, Delivery, Event, HistoryEntry, Mute, Node, NodeMove
from healloop.queue.quarantine import Quarantine, TestRuns
from healloop.queue.stats import (
    StatsRows,
    StatsWindow,
    move_marks,
    move_outcome,
    node_figures,
    recorded_class,
    repair_figures,
)
from healloop.queue.store.sql import load_queries
from healloop.queue.tokens import Token

try:  # the `postgres` extra; without it, PostgresStore() says what to install
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - exercised by test_missing_psycopg_is_named
    psycopg = None  # type: ignore[assignment]
    pg_errors = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
R = TypeVar("R")

COLUMNS = (
    "id, fingerprint, kind, node, source, spec, test, message, stack, priority, occurred_at, labels, "
    "artifacts, idempotency_key, status, created_at, updated_at, count, nodes, attempt, lapses, "
    "fencing, lease_token, lease_worker, lease_seconds, lease_expires_at, resolved_at, seq"
)
_INSERT_COLUMNS = COLUMNS.replace(", seq", "")
_QCOLUMNS = ("id, spec, test, owner, set_at, until, reason, auto, clean, clean_nodes, lifted_at, lifted_by, "
             "lift_note")
Q = load_queries(
    "postgres_queries.sql",
    columns=COLUMNS,
    qcolumns=_QCOLUMNS,
    insert_columns=_INSERT_COLUMNS,
    insert_params=", ".join(["%s"] * len(_INSERT_COLUMNS.split(","))),
    window="e.created_at >= %(since)s AND e.created_at < %(until)s AND (%(node)s::text IS NULL "
           "OR e.node = %(node)s::text "
           "OR e.seq IN (SELECT seq FROM event_nodes WHERE node = %(node)s::text))",
)
SCHEMA_VERSION = 2  # its own numbering: it started at SQLite's version of the day, with no older schema
SCHEMA_LOCK = 0x6865616C  # pg_advisory_lock key of schema creation and upgrades ("heal")
THREADS = 8  # worker threads, each with its own connection
RETRIES = 20  # runs of a write that keeps meeting serialization failures or deadlocks
NODE_MOVES_SHOWN = 10
WORK_CHANNEL = "healloop_work"  # NOTIFY channel: "<server id> <events queued>"
LISTEN_POLL_S = 0.5  # how often the listener checks whether the store is closing
INSTALL_HINT = "pip install 'healloop[postgres]'"

_enc = msgspec.json.Encoder()
_dec = msgspec.json.decode


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    netloc = user + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


# PostgreSQL's text cannot hold U+0000, which a report's message or stack may (SQLite keeps it): such
# text is stored with NUL as ESC + "0" and ESC itself as ESC + "1", ESC being a private-use character,
# and read back exactly. Text without either is stored as it is.
_ESC = "\ue000"


def nul_in(text: str | None) -> str | None:
    if text is None or ("\x00" not in text and _ESC not in text):
        return text
    return text.replace(_ESC, _ESC + "1").replace("\x00", _ESC + "0")


def nul_out(text: str | None) -> str | None:
    if text is None or _ESC not in text:
        return text
    # Every ESC starts a pair, so ESC + "0" is only ever an escaped NUL (see nul_in).
    return text.replace(_ESC + "0", "\x00").replace(_ESC + "1", _ESC)


def _row_to_event(row: tuple[Any, ...]) -> Event:
    ev = Event(*row)
    ev.message = nul_out(ev.message)  # type: ignore[assignment]
    ev.stack = nul_out(ev.stack)
    ev.labels = _dec(ev.labels)
    ev.artifacts = _dec(ev.artifacts)
    ev.nodes = _dec(ev.nodes)
    return ev


def _text(value: Any) -> str:
    return _enc.encode(value).decode()


class PostgresTx:
    """The primitives of ``WriteTx``/``ReadTx`` over one psycopg connection, inside one transaction."""

    def __init__(self, conn: Any) -> None:
        self.c = conn
        self.writing = False
        self.work = 0  # events this transaction made claimable: told to the other servers at commit

    def _ex(self, sql: str, args: Any = None) -> Any:
        return self.c.execute(sql, args)

    def _one(self, sql: str, args: Any) -> Event | None:
        row = self._ex(sql, args).fetchone()
        return _row_to_event(row) if row else None

    def _scalar(self, sql: str, args: Any = None) -> Any:
        row = self._ex(sql, args).fetchone()
        return row[0] if row else None

    # -- reads
    def get_event(self, event_id: str) -> Event | None:
        return self._one(Q["get_event_locked" if self.writing else "get_event"], (event_id,))

    def history(self, event_id: str) -> list[HistoryEntry]:
        out = []
        for row in self._ex(Q["history"], (event_id,)):
            entry = HistoryEntry(*row)
            entry.note = nul_out(entry.note)
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
        if status:
            where.append("status = %s")
            args.append(status)
        if node:
            where.append("(node = %s OR seq IN (SELECT seq FROM event_nodes WHERE node = %s))")
            args += [node, node]
        if fingerprint:
            where.append("fingerprint = %s")
            args.append(fingerprint)
        sql = f"SELECT {COLUMNS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT %s"
        return [_row_to_event(r) for r in self._ex(sql, [*args, limit])]

    def count_by_status(self) -> dict[str, int]:
        return {status: n for status, n in self._ex(Q["count_by_status"]) if n}

    def next_lease_expiry(self) -> int | None:
        return self._scalar(Q["next_lease_expiry"])

    def list_nodes(self) -> list[Node]:
        return [self._node(row) for row in self._ex(Q["list_nodes"]).fetchall()]

    def get_node(self, name: str) -> Node | None:
        row = self._ex(Q["get_node"], (name,)).fetchone()
        return self._node(row) if row else None

    def _node(self, row: tuple[Any, ...]) -> Node:
        name, url, labels, seen = row
        moves = [NodeMove(*m) for m in self._ex(Q["node_moves"], (name, NODE_MOVES_SHOWN)).fetchall()]
        return Node(name, url, _dec(labels), seen, moves)

    # -- writes
    def fingerprint_state(self, fingerprint: str, since: int) -> tuple[Event | None, Event | None, int]:
        self._ex(Q["fingerprint_lock"], (fingerprint,))
        open_ev = self._one(Q["fingerprint_open"], (fingerprint,))
        row = self._ex(Q["fingerprint_resolved"], {"fp": fingerprint, "since": since}).fetchone()
        if row is None:
            return open_ev, None, 0
        return open_ev, _row_to_event(row[:-1]), int(row[-1])

    def idempotency_get(self, key: str, since: int) -> str | None:
        # Two reports with one key take turns: the second sees the first's event once it commits.
        self._ex(Q["idempotency_lock"], (key,))
        return self._scalar(Q["idempotency_get"], (key, since))

    def idempotency_put(self, key: str, event_id: str, at: int) -> None:
        self._ex(Q["idempotency_put"], (key, event_id, at))

    def purge_idempotency(self, before: int) -> int:
        return self._ex(Q["purge_idempotency"], (before,)).rowcount

    def insert_event(self, ev: Event) -> None:
        row = self._ex(
            Q["insert_event"],
            (
                ev.id, ev.fingerprint, ev.kind, ev.node, ev.source, ev.spec, ev.test, nul_in(ev.message),
                nul_in(ev.stack), ev.priority, ev.occurred_at, _text(ev.labels), _text(ev.artifacts),
                ev.idempotency_key, ev.status, ev.created_at, ev.updated_at, ev.count, _text(ev.nodes),
                ev.attempt, ev.lapses, ev.fencing, ev.lease_token, ev.lease_worker, ev.lease_seconds,
                ev.lease_expires_at, ev.resolved_at, move_outcome(None, ev.status, None),
            ),
        ).fetchone()
        ev.seq = row[0]
        if ev.status == "queued":
            self.work += 1

    def save_event(self, ev: Event) -> None:
        self._ex(Q["save_event"], (
            ev.status, ev.count, _text(ev.nodes), _text(ev.artifacts), ev.priority, ev.attempt, ev.lapses,
            ev.fencing, ev.lease_token, ev.lease_worker, ev.lease_seconds, ev.lease_expires_at,
            ev.resolved_at, ev.updated_at, ev.id,
        ))

    def add_node_to_event(self, ev: Event, node: str) -> None:
        self._ex(Q["add_node_to_event"], (node, ev.seq))

    def add_history(self, e: HistoryEntry) -> None:
        data = _text(e.data) if e.data is not None else None
        self._ex(Q["add_history"], (e.event_id, e.at, e.from_state, e.to_state, e.worker, nul_in(e.note),
                                    data))
        # The event's class, outcome and marks for GET /v1/stats, in the move's own transaction (see the
        # schema in sqlite_queries.sql); save_event never writes these columns, so order does not matter.
        cls, outcome = recorded_class(e.data), move_outcome(e.from_state, e.to_state, e.data)
        marks = move_marks(e.to_state, e.data)
        if cls is not None or outcome is not None or marks:
            self._ex(Q["mark_event"], (cls, outcome, marks, e.event_id))
        if e.to_state == "queued" and e.from_state != "queued":
            self.work += 1

    def claim_next(
        self, *, worker: str, token: str, lease_seconds: float, now: int, expires_at: int
    ) -> Event | None:
        return self._one(Q["claim_next"], (token, worker, lease_seconds, expires_at, now))

    def claim_one(
        self, event_id: str, *, worker: str, token: str, lease_seconds: float, now: int, expires_at: int
    ) -> Event | None:
        return self._one(Q["claim_one"], (token, worker, lease_seconds, expires_at, now, event_id))

    def expired_leases(self, now: int, limit: int) -> list[Event]:
        return [_row_to_event(r) for r in self._ex(Q["expired_leases"], (now, limit))]

    def latest_by_fingerprint(self, fingerprint: str) -> Event | None:
        return self._one(Q["latest_by_fingerprint"], (fingerprint,))

    def put_artifact(self, meta: ArtifactMeta) -> None:
        self._ex(Q["put_artifact"], (meta.digest, meta.content_type, meta.size, meta.created_at))

    def get_artifact(self, digest: str) -> ArtifactMeta | None:
        row = self._ex(Q["get_artifact"], (digest,)).fetchone()
        return ArtifactMeta(*row) if row else None

    def upsert_node(self, node: Node) -> None:
        self._ex(Q["upsert_node"], (node.name, node.mcp_url, _text(node.labels), node.last_seen))

    def add_node_move(self, name: str, move: NodeMove) -> None:
        self._ex(Q["add_node_move"], (name, move.at, move.old_url, move.new_url))

    # -- notifications (the outbox) and mutes
    def outbox_add(self, d: Delivery) -> bool:
        cur = self._ex(Q["outbox_add"], (d.event_id, d.outcome, d.channel, d.created_at, d.note, d.status,
                                         d.next_at))
        return cur.rowcount == 1

    def outbox_due(self, now: int, limit: int) -> list[Delivery]:
        return [Delivery(*row) for row in self._ex(Q["outbox_due"], (now, limit))]

    def outbox_pending_for(self, channel: str, limit: int) -> list[Delivery]:
        return [Delivery(*row) for row in self._ex(Q["outbox_pending_for"], (channel, limit))]

    def outbox_next_due(self) -> int | None:
        return self._scalar(Q["outbox_next_due"])

    def outbox_update(self, d: Delivery) -> None:
        self._ex(Q["outbox_update"], (d.status, d.attempts, d.next_at, d.last_error, d.done_at, d.event_id,
                                      d.outcome, d.channel))

    def outbox_for_event(self, event_id: str) -> list[Delivery]:
        return [Delivery(*row) for row in self._ex(Q["outbox_for_event"], (event_id,))]

    def outbox_recent(self, channel: str, since: int) -> int:
        return int(self._scalar(Q["outbox_recent"], (channel, since)))

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        return {(ch, st): n for ch, st, n in self._ex(Q["outbox_counts"])}

    def mute_put(self, mute: Mute) -> None:
        self._ex(Q["mute_put"], (mute.spec, mute.test, mute.until, mute.reason))

    def mute_active(self, spec: str, test: str, now: int) -> Mute | None:
        row = self._ex(Q["mute_active"], (spec, test, now)).fetchone()
        return Mute(*row) if row else None

    def mute_list(self, now: int) -> list[Mute]:
        return [Mute(*row) for row in self._ex(Q["mute_list"], (now,))]

    def mute_delete(self, spec: str, test: str) -> bool:
        return self._ex(Q["mute_delete"], (spec, test)).rowcount == 1

    # -- run history and quarantines
    def runs_passed(self, node: str, tests: list[tuple[str, str]], at: int) -> None:
        if tests:
            with self.c.cursor() as cur:
                cur.executemany(Q["run_passed"], [(spec, test, node, at) for spec, test in tests])

    def run_failed(self, spec: str, test: str, node: str, at: int) -> None:
        self._ex(Q["run_failed"], (spec, test, node, at))

    def test_runs(self, spec: str, test: str) -> list[TestRuns]:
        return [TestRuns(*row) for row in self._ex(Q["test_runs"], (spec, test))]

    def quarantine_open(self, spec: str, test: str, now: int) -> Quarantine | None:
        row = self._ex(Q["quarantine_open"], (spec, test, now)).fetchone()
        return _row_to_quarantine(row) if row else None

    def quarantine_all_open(self, now: int) -> list[Quarantine]:
        return [_row_to_quarantine(r) for r in self._ex(Q["quarantine_all_open"], (now,))]

    def quarantine_history(self, spec: str, test: str, limit: int) -> list[Quarantine]:
        return [_row_to_quarantine(r) for r in self._ex(Q["quarantine_history"], (spec, test, limit))]

    def quarantine_put(self, q: Quarantine) -> None:
        nodes = _text(q.clean_nodes)
        if q.id is None:
            row = self._ex(Q["quarantine_insert"], (
                q.spec, q.test, q.owner, q.set_at, q.until, q.reason, int(q.auto), q.clean, nodes,
                q.lifted_at, q.lifted_by, q.lift_note)).fetchone()
            q.id = row[0]
        else:
            self._ex(Q["quarantine_update"], (q.clean, nodes, q.lifted_at, q.lifted_by, q.lift_note, q.id))

    def events_of_fingerprints(self, fingerprints: list[str], limit: int) -> list[Event]:
        return [_row_to_event(r) for r in self._ex(Q["events_of_fingerprints"], (list(fingerprints), limit))]

    def flaky_calls(self, fingerprint: str, since: int) -> int:
        return int(self._scalar(Q["flaky_calls"], (fingerprint, since)))

    # -- role tokens
    def list_tokens(self) -> list[Token]:
        return [Token(*row) for row in self._ex(Q["list_tokens"])]

    def get_token(self, name: str) -> Token | None:
        row = self._ex(Q["get_token"], (name,)).fetchone()
        return Token(*row) if row else None

    def put_token(self, t: Token) -> None:
        self._ex(Q["delete_token_hash"], (t.hash, t.name))
        self._ex(Q["put_token"], (t.name, t.role, t.hash, t.created_at))

    def revoke_token(self, name: str, at: int) -> bool:
        return self._ex(Q["revoke_token"], (at, name)).rowcount == 1

    def touch_tokens(self, uses: list[tuple[str, int]]) -> None:
        if uses:
            with self.c.cursor() as cur:
                cur.executemany(Q["touch_token"], [(at, name) for name, at in uses])

    # -- GET /v1/stats
    def stats(self, w: StatsWindow, top: int) -> StatsRows:
        args = {"since": w.since, "until": w.until, "node": w.node, "top": top}

        def rows(name: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in self._ex(Q[name], args)]

        notes = rows("stats_notifications")
        return StatsRows(
            per_day=rows("stats_per_day"),
            outcomes={outcome: n for outcome, n in rows("stats_outcomes")},
            repair=repair_figures(rows("stats_repair")),
            flaky=rows("stats_flaky"),
            suspects=rows("stats_suspects"),
            nodes=node_figures(rows("stats_nodes"), rows("stats_nodes_joined")),
            notifications=[(ch, st, n) for ch, st, n, _, _ in notes],
            notify_errors=_newest_errors(notes),
            seen={n.name: n.last_seen for n in self.list_nodes()},
        )

    # -- the budgets of automatic actions
    def was_fixed(self, event_id: str) -> bool:
        return bool(self._scalar(Q["was_fixed"], (event_id,)))

    def add_action(self, at: int, event_id: str, spec: str | None, test: str | None,
                   node: str | None) -> None:
        self._ex(Q["add_action"], (at, event_id, spec, test, node))

    def actions_for_test(self, spec: str, test: str, since: int, limit: int) -> int:
        return int(self._scalar(Q["actions_for_test"], (spec, test, since, limit)))

    def actions_on_node(self, node: str, since: int, limit: int) -> int:
        return int(self._scalar(Q["actions_on_node"], (node, since, limit)))

    def purge_actions(self, before: int) -> int:
        return self._ex(Q["purge_actions"], (before,)).rowcount

    # -- retention (healloop prune)
    def finished_before(self, before: int, after_seq: int, limit: int) -> list[tuple[int, str]]:
        return [(seq, eid) for seq, eid in self._ex(Q["finished_before"], (after_seq, before, limit))]

    def event_rows(self, event_id: str) -> dict[str, int]:
        row = self._ex(Q["event_extras"], (event_id,)).fetchone()
        if row is None:
            return dict.fromkeys(EVENT_ROWS[1:], 0)
        nodes, key = row
        return {
            "history": self._scalar(Q["count_history"], (event_id,)),
            "notifications": self._scalar(Q["count_outbox"], (event_id,)),
            "event_nodes": max(0, len(_dec(nodes)) - 1),
            "idempotency_keys": self._scalar(Q["count_idempotency"], (key, event_id)) if key else 0,
            "actions": self._scalar(Q["count_actions"], (event_id,)),
        }

    def artifact_refs(self, after_seq: int, limit: int) -> list[tuple[int, str]]:
        return [(seq, refs) for seq, refs in self._ex(Q["artifact_refs"], (after_seq, limit))]

    def max_seq(self) -> int:
        return int(self._scalar(Q["max_seq"]))

    def list_artifacts(self, after: str, limit: int) -> list[ArtifactMeta]:
        return [ArtifactMeta(*row) for row in self._ex(Q["list_artifacts"], (after, limit))]

    def delete_events(self, ids: list[str], before: int) -> dict[str, int]:
        out = dict.fromkeys(EVENT_ROWS, 0)
        for event_id in ids:
            row = self._ex(Q["delete_event"], (event_id, before)).fetchone()
            if row is None:
                continue
            seq, nodes, key = row
            out["events"] += 1
            out["history"] += self._ex(Q["delete_history"], (event_id,)).rowcount
            out["notifications"] += self._ex(Q["delete_outbox"], (event_id,)).rowcount
            for node in _dec(nodes)[1:]:
                out["event_nodes"] += self._ex(Q["delete_event_node"], (node, seq)).rowcount
            if key:
                out["idempotency_keys"] += self._ex(Q["delete_idempotency"], (key, event_id)).rowcount
            out["actions"] += self._ex(Q["delete_actions"], (event_id,)).rowcount
        return out

    def delete_artifact(self, digest: str) -> bool:
        return self._ex(Q["delete_artifact"], (digest,)).rowcount == 1

    def stale_test_rows(self, before: int) -> dict[str, int]:
        return {"test_runs": int(self._scalar(Q["count_stale_runs"], (before,))),
                "quarantines": int(self._scalar(Q["count_ended_quarantines"], (before,)))}

    def delete_stale_test_rows(self, before: int, limit: int) -> dict[str, int]:
        return {"test_runs": self._ex(Q["delete_stale_runs"], (before, limit)).rowcount,
                "quarantines": self._ex(Q["delete_ended_quarantines"], (before, limit)).rowcount}


def _row_to_quarantine(row: tuple[Any, ...]) -> Quarantine:
    (id_, spec, test, owner, set_at, until, reason, auto, clean, nodes, lifted_at, lifted_by,
     lift_note) = row
    return Quarantine(spec, test, owner, set_at, until, reason, bool(auto), clean, _dec(nodes), lifted_at,
                      lifted_by, lift_note, id_)


def _newest_errors(notes: list[tuple[Any, ...]]) -> dict[str, str]:
    """Per channel, the error of its newest failed or pending delivery."""
    newest: dict[str, tuple[int, str]] = {}
    for channel, status, _, last, error in notes:
        if error and status in ("failed", "pending") and (last or 0) >= newest.get(channel, (-1, ""))[0]:
            newest[channel] = (last or 0, error)
    return {channel: error for channel, (_, error) in newest.items()}


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _match_terms(m: EventMatch) -> tuple[list[str], list[Any]]:
    """The dashboard's filters, as on SQLite (store/sqlite.py ``_match_terms``)."""
    where: list[str] = []
    args: list[Any] = []
    if m.spec:
        where.append("spec = %s")
        args.append(m.spec)
    if m.since is not None:
        where.append("created_at >= %s")
        args.append(m.since)
    if m.text:
        where.append("(test ILIKE %s OR message ILIKE %s OR spec ILIKE %s)")
        args += [_like(m.text)] * 3
    if m.label:
        key, value = m.label
        where.append("labels::jsonb ->> %s = %s")
        args += [key, value]
    if m.klass:
        where.append("id IN (SELECT event_id FROM history "
                     "WHERE data IS NOT NULL AND data::jsonb ->> 'class' = %s)")
        args.append(m.klass)
    return where, args


def _need_psycopg() -> None:
    if psycopg is None:
        raise ConfigError(f"a postgresql:// database needs psycopg 3, which is not installed: run "
                          f"{INSTALL_HINT}")


def connect(url: str, *, autocommit: bool = True) -> Any:
    """One connection, or a ConfigError that names the database and what to check."""
    _need_psycopg()
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as exc:
        raise ConfigError(f"cannot connect to PostgreSQL at {redact(url)}: {str(exc).strip()}; check that "
                          "the server runs, the database exists and the user may log in") from None
    conn.execute("SET synchronous_commit = on")
    return conn


def ensure_schema(conn: Any, url: str) -> int:
    """Creates the schema if missing, under ``pg_advisory_lock`` so servers starting together do not race;
    returns the version found (0 for a new database). A database written by a newer healloop is refused."""
    conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
    try:
        found = 0
        if conn.execute(Q["has_events"]).fetchone()[0]:
            row = conn.execute(Q["schema_version"]).fetchone()
            found = int(row[0]) if row else 0
            if found > SCHEMA_VERSION:
                raise ConfigError(f"{redact(url)} holds a healloop schema of version {found}, newer than "
                                  f"this healloop's {SCHEMA_VERSION}: upgrade healloop on this machine")
        with conn.transaction():
            conn.execute(Q["schema"])
        return found
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


class PostgresStore:
    """``EventStore`` on a PostgreSQL database, shared by any number of servers."""

    shared = True  # other servers write here too (queue/service.py sweeps their lapsed leases)

    def __init__(self, url: str, *, threads: int = THREADS) -> None:
        _need_psycopg()
        self.url = url
        self.server_id = secrets.token_hex(8)  # tells this server's own NOTIFYs apart from the others'
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._conns: list[Any] = []
        self._conns_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_work: Callable[[int], None] | None = None
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        self._opened = False

    def __str__(self) -> str:
        return redact(self.url)

    def open(self) -> None:
        """Connect once and create the schema (idempotent): a wrong URL fails here, before serving."""
        if self._opened:
            return
        conn = connect(self.url)
        try:
            ensure_schema(conn, self.url)
        finally:
            conn.close()
        self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="healloop-pg")
        self._opened = True

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.open()
        self._stop.clear()
        self._listener = threading.Thread(target=self._listen, name="healloop-pg-listen", daemon=True)
        self._listener.start()

    async def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            await asyncio.to_thread(self._listener.join)
            self._listener = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._opened = False

    def watch_work(self, callback: Callable[[int], None]) -> None:
        """``callback(n)`` runs on the event loop when another server queued ``n`` events."""
        self._on_work = callback

    # -- transactions
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            try:
                conn = connect(self.url)
            except ConfigError as exc:
                raise Unavailable(f"the event store cannot reach PostgreSQL: {exc.message}") from None
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    async def write(self, fn: Callable[[PostgresTx], R]) -> R:
        return await self._submit(self._write_in_thread, fn)

    async def read(self, fn: Callable[[PostgresTx], R]) -> R:
        return await self._submit(self._read_in_thread, fn)

    async def _submit(self, run: Callable[[Callable[[PostgresTx], R]], R],
                      fn: Callable[[PostgresTx], R]) -> R:
        if self._pool is None or self._loop is None:
            raise Unavailable("the PostgreSQL store is not running")
        return await self._loop.run_in_executor(self._pool, run, fn)

    def _write_in_thread(self, fn: Callable[[PostgresTx], R]) -> R:
        for attempt in range(RETRIES):
            conn = self._conn()
            tx = PostgresTx(conn)
            tx.writing = True
            try:
                with conn.transaction():
                    value = fn(tx)
                    if tx.work:
                        conn.execute("SELECT pg_notify(%s, %s)",
                                     (WORK_CHANNEL, f"{self.server_id} {tx.work}"))
                return value
            except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected) as exc:
                # Nothing of this run was stored; another transaction won. Run it again on fresh data,
                # after a short random pause so the two do not collide the same way again.
                log.debug("write retried after %s (attempt %d)", type(exc).__name__, attempt + 1)
                time.sleep(secrets.randbelow(1000) / 1e6 * (attempt + 1))
            except HealloopError:
                raise
            except psycopg.Error as exc:
                raise _unavailable(exc) from None
        raise Unavailable(f"the event store could not commit after {RETRIES} tries against concurrent "
                          "writes; nothing of this request was stored: send it again")

    def _read_in_thread(self, fn: Callable[[PostgresTx], R]) -> R:
        conn = self._conn()
        try:
            with conn.transaction():
                # One snapshot for every statement of the read, as SQLite's read transaction gives.
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                return fn(PostgresTx(conn))
        except HealloopError:
            raise
        except psycopg.Error as exc:
            raise _unavailable(exc) from None

    # -- wake-ups from other servers
    def _listen(self) -> None:
        """LISTENs on a connection of its own; reconnects after a lost connection (a wake-up missed
        meanwhile costs a parked claimer at most its wait: it claims again when it times out)."""
        while not self._stop.is_set():
            try:
                conn = connect(self.url)
            except ConfigError as exc:
                log.warning("LISTEN connection failed, retrying: %s", exc.message)
                self._stop.wait(1.0)
                continue
            try:
                conn.execute(f"LISTEN {WORK_CHANNEL}")
                while not self._stop.is_set():
                    for note in conn.notifies(timeout=LISTEN_POLL_S):
                        self._heard(note.payload)
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    log.warning("LISTEN connection lost, reconnecting: %s", exc)
                    self._stop.wait(0.2)
            finally:
                conn.close()

    def _heard(self, payload: str) -> None:
        server, _, count = payload.partition(" ")
        if server == self.server_id or self._on_work is None or self._loop is None:
            return  # this server's own writes woke its waiters already
        try:
            n = int(count)
        except ValueError:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed while this server was stopping
            self._loop.call_soon_threadsafe(self._on_work, n)


def _unavailable(exc: Exception) -> Unavailable:
    return Unavailable(f"the event store could not complete the transaction: {str(exc).strip()}; nothing of "
                       "this request was stored: send it again, and see the queue's log if this goes on")


def token_admin(url: str) -> PostgresTx:
    """``healloop token`` on a PostgreSQL queue, beside its running servers (as store/sqlite.py's
    ``token_admin``): creates the schema when missing. Use each call's writes inside ``with tx.c:``,
    which commits (and closes the connection)."""
    conn = connect(url)
    ensure_schema(conn, url)
    conn.autocommit = False
    tx = PostgresTx(conn)
    tx.writing = True
    return tx


class PostgresAdmin:
    """Short transactions on a PostgreSQL queue from another process (``healloop prune``), beside its
    running servers, as store/sqlite.py's ``SQLiteAdmin``: one connection, each ``write`` one
    transaction, run again on a serialization failure or deadlock."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn = connect(url)
        if not self._conn.execute(Q["has_events"]).fetchone()[0]:
            self._conn.close()
            raise ConfigError(f"{redact(url)} holds no healloop queue (it has no events table); pass the "
                              "URL given to `healloop serve --db`")

    def read(self, fn: Callable[[PostgresTx], R]) -> R:
        return self._run(fn, writing=False)

    def write(self, fn: Callable[[PostgresTx], R]) -> R:
        return self._run(fn, writing=True)

    def _run(self, fn: Callable[[PostgresTx], R], *, writing: bool) -> R:
        for _ in range(RETRIES):
            tx = PostgresTx(self._conn)
            tx.writing = writing
            try:
                with self._conn.transaction():
                    return fn(tx)
            except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected):
                continue
            except HealloopError:
                raise
            except psycopg.Error as exc:
                raise _unavailable(exc) from None
        raise Unavailable(f"could not commit after {RETRIES} tries against the servers' writes; run it again")

    def close(self) -> None:
        self._conn.close()
