"""Hypothesis state machine: the queue's service on a real SQLite file against a plain Python model of
the event rules (README "States", "Merging", "Leases"). Hypothesis picks reports (merges, idempotent
resends), claims, heartbeats, moves with fresh and stale tokens, time passing so leases lapse, requeues
and closes; after every step the service must agree with the model, every event's history must be
complete and follow the move table, and no event may have more than one live lease.

The clock is the service's own (``healloop.queue.service.now_us``), replaced by one the test moves,
so a lapse is a step and not a sleep; the lapse sweep is the one the server's timer runs."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from healloop.errors import HealloopError, IllegalTransition, LeaseLost
from healloop.queue import rules
from healloop.queue import service as service_module
from healloop.queue.model import ReportIn
from healloop.queue.rules import HELD, QueuePolicy
from healloop.queue.service import QueueService
from healloop.queue.store.sqlite import SQLiteStore
from healloop.timeutil import US

# Budgets, cooldown and flapping have their own tests (tests/queue); here they are off so the model
# stays the move table, merging, attempts and leases.
POLICY = QueuePolicy(max_attempts=3, max_lapses=3, flap_threshold=10_000, cooldown_s=0,
                     actions_per_hour_test=0, actions_per_hour_node=0)
TESTS = ("t0", "t1", "t2", "t3")
TARGETS = rules.STATES
# The move table as the README states it, written out again (not imported) so that a change to
# rules.TRANSITIONS that the README does not say fails here.
TABLE = {
    "processing": {"analyzing", "escalated"},
    "analyzing": {"fixing", "verifying", "proposed", "escalated"},
    "fixing": {"verifying", "analyzing", "escalated"},
    "verifying": {"resolved", "proposed", "analyzing", "escalated"},
}
# The legal moves, weighted towards going on (a repeat is a weight), so runs reach fixing, verifying
# and the last attempt instead of mostly escalating at the first step.
ONWARD = {
    "processing": ["analyzing", "analyzing", "analyzing", "escalated"],
    "analyzing": ["fixing", "fixing", "verifying", "verifying", "proposed", "escalated"],
    "fixing": ["verifying", "verifying", "analyzing", "escalated"],
    "verifying": ["analyzing", "analyzing", "analyzing", "resolved", "proposed", "escalated"],
}


@dataclass
class ModelEvent:
    test: str
    priority: int
    seq: int
    status: str = rules.QUEUED
    count: int = 1
    attempt: int = 0
    lapses: int = 0
    fencing: int = 0
    token: str | None = None
    expires_at: int | None = None
    lease_s: float = 0
    history: list[tuple[str | None, str]] = field(default_factory=lambda: [(None, rules.QUEUED)])

    def move(self, to: str) -> None:
        self.history.append((self.status, to))
        self.status = to


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000 * US

    def __call__(self) -> int:
        self.now += 1000  # every call is a later moment, as on a real clock
        return self.now


class QueueRules(RuleBasedStateMachine):
    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="healloop-model-"))
        self.clock = Clock()
        self._real_now = service_module.now_us
        service_module.now_us = self.clock
        self.loop = asyncio.new_event_loop()
        self.service = QueueService(SQLiteStore(self.dir / "events.db"), POLICY)
        self.run(self.service.start())
        self.events: dict[str, ModelEvent] = {}
        self.keys: dict[str, str] = {}
        self.seq = 0

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.service.close())
            self.loop.close()
        finally:
            service_module.now_us = self._real_now
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- the model's own rules
    def open_event(self, test: str) -> str | None:
        return next((i for i, e in self.events.items() if e.test == test and e.status in rules.OPEN), None)

    @rule(test=st.sampled_from(TESTS), node=st.sampled_from(("n1", "n2")), priority=st.integers(1, 5),
          key=st.none() | st.sampled_from(("k1", "k2", "k3")))
    def report(self, test: str, node: str, priority: int, key: str | None) -> None:
        r = ReportIn(node=node, source="pytest", message="boom", spec="tests/test_x.py", test=test,
                     priority=priority, idempotency_key=key)
        got = self.run(self.service.report(r))
        if key in self.keys:
            assert (got.event.id, got.created) == (self.keys[key], False)
            return
        target = self.open_event(test)
        if target is None:
            # Nothing open: a new event (a report is never older than a resolved event here: it
            # happens now, and resolved ones were resolved before).
            assert got.created, got.to_json()
            self.seq += 1
            self.events[got.event.id] = ModelEvent(test, priority, self.seq)
        else:
            assert (got.event.id, got.created) == (target, False)
            e = self.events[target]
            e.count += 1
            e.priority = min(e.priority, priority)
        if key is not None:
            self.keys[key] = got.event.id

    @rule(target=tokens, worker=st.sampled_from(("w1", "w2", "w3")), lease=st.sampled_from((5, 30, 120)))
    def claim(self, worker: str, lease: int) -> tuple[str, str] | None:
        got = self.run(self.service.claim(worker, 0, lease))
        queued = [(e.priority, e.seq, i) for i, e in self.events.items() if e.status == rules.QUEUED]
        if not queued:
            assert got is None
            return None
        _, _, expected = min(queued)
        assert got is not None and got.event.id == expected
        e = self.events[expected]
        e.move(rules.PROCESSING)
        e.fencing += 1
        assert got.event.fencing == e.fencing
        e.token, e.lease_s = got.event.lease_token, lease
        e.expires_at = got.event.lease_expires_at
        return expected, got.event.lease_token

    def live(self, event_id: str, token: str) -> bool:
        e = self.events[event_id]
        return e.token == token and e.expires_at is not None and e.expires_at > self.clock.now

    @rule(held=tokens)
    def heartbeat(self, held: tuple[str, str] | None) -> None:
        if held is None:
            return
        event_id, token = held
        ok = self.live(event_id, token)
        try:
            got = self.run(self.service.heartbeat(event_id, token))
        except LeaseLost:
            assert not ok, "a live lease's heartbeat was refused"
            return
        assert ok, "a stale token's heartbeat was accepted (not fenced)"
        e = self.events[event_id]
        e.expires_at = self.clock.now + int(e.lease_s * US)
        assert got["fencing"] == e.fencing

    @rule(held=tokens, to=st.sampled_from(TARGETS))
    def transition(self, held: tuple[str, str] | None, to: str) -> None:
        if held is None:
            return
        event_id, token = held
        e = self.events[event_id]
        ok_lease = self.live(event_id, token)
        allowed = to in TABLE.get(e.status, set())
        last = e.status == rules.VERIFYING and to == rules.ANALYZING and e.attempt + 1 > POLICY.max_attempts
        try:
            got = self.run(self.service.transition(event_id, token, to, None, {"step": "model"}))
        except LeaseLost:
            assert not ok_lease, f"{e.status} -> {to} with a live lease was refused as lease lost"
            return
        except IllegalTransition:
            assert ok_lease and (not allowed or last), f"{e.status} -> {to} was refused"
            return
        assert ok_lease, f"a stale token moved {event_id} {e.status} -> {to} (not fenced)"
        assert allowed and not last, f"{e.status} -> {to} is not in the move table but was made"
        if to == rules.ANALYZING:
            e.attempt = e.attempt + 1 if e.status == rules.VERIFYING else max(e.attempt, 1)
        e.move(to)
        if to not in HELD:
            e.token = e.expires_at = None  # resolved, escalated and proposed end the lease
        assert got.status == to and got.attempt == e.attempt

    def held(self) -> list[str]:
        return sorted(i for i, e in self.events.items() if e.token is not None)

    @precondition(lambda self: self.held())
    @rule(data=st.data())
    def holder_moves_on(self, data: st.DataObject) -> None:
        """The usual step of an agent: a move the table allows, with the token it holds (which may
        have expired meanwhile); the `transition` rule tries any move with any token ever issued."""
        event_id = data.draw(st.sampled_from(self.held()))
        e = self.events[event_id]
        token = e.token
        assert token is not None
        # A few moves in a row, so runs reach the later attempts; mostly legal ones, now and then any
        # state, so illegal moves are tried with live tokens too.
        for _ in range(data.draw(st.integers(1, 8))):
            if e.status not in TABLE:
                break
            anything = data.draw(st.integers(0, 7)) == 0
            to = data.draw(st.sampled_from(TARGETS if anything else ONWARD[e.status]))
            self.transition((event_id, token), to)

    @rule(seconds=st.sampled_from((1, 10, 60, 200)), timer=st.booleans())
    def time_passes(self, seconds: float, timer: bool) -> None:
        """Time passes; the lease timer fires (the server's own sweep) or has not fired yet, when an
        expired lease must still be refused at once."""
        self.clock.now += int(seconds * US)
        if not timer:
            return
        self.run(self.service._sweep_lapsed())
        for e in self.events.values():
            if e.status in HELD and e.expires_at is not None and e.expires_at <= self.clock.now:
                e.lapses += 1
                e.move(rules.ESCALATED if e.lapses >= POLICY.max_lapses else rules.QUEUED)
                e.token = e.expires_at = None

    @precondition(lambda self: self.events)
    @rule(data=st.data(), close=st.booleans())
    def person_decides(self, data: st.DataObject, close: bool) -> None:
        """Requeue or close: allowed on an escalated event only (README "Operator CLI")."""
        event_id = data.draw(st.sampled_from(sorted(self.events)))
        e = self.events[event_id]
        act = self.service.close_event if close else self.service.requeue
        if e.status != rules.ESCALATED:
            with pytest.raises(HealloopError, match="only an escalated event"):
                self.run(act(event_id, None))
            return
        self.run(act(event_id, None))
        if close:
            e.move(rules.RESOLVED)
        else:
            e.move(rules.QUEUED)
            e.attempt = e.lapses = 0

    # -- what must hold after every step
    @invariant()
    def service_agrees_with_the_model(self) -> None:
        for event_id, e in self.events.items():
            got = self.run(self.service.get(event_id))
            assert (got["status"], got["count"], got["attempt"], got["lapses"], got["fencing"]) == (
                e.status, e.count, e.attempt, e.lapses, e.fencing), (event_id, got, e)
            assert got["priority"] == e.priority
            # History complete: every step the model made, in order, and nothing else.
            steps = [(h["from"], h["to"]) for h in got["history"]]
            assert steps == e.history, (event_id, steps, e.history)

    @invariant()
    def history_follows_the_table(self) -> None:
        people = {(rules.ESCALATED, rules.QUEUED), (rules.ESCALATED, rules.RESOLVED)}
        for e in self.events.values():
            for (_, prev), (frm, to) in itertools.pairwise(e.history):
                assert frm == prev
                legal = (to in TABLE.get(frm, set()) or (frm, to) in people
                         or (frm, to) == (rules.QUEUED, rules.PROCESSING)
                         or (frm in HELD and to in (rules.QUEUED, rules.ESCALATED)))  # a lapse
                assert legal, (frm, to)

    @invariant()
    def at_most_one_live_lease(self) -> None:
        rows = self.run(self.service.store.read(lambda tx: tx.c.execute(
            "SELECT id, status, lease_token, lease_expires_at FROM events").fetchall()))
        for event_id, status, token, expires in rows:
            if status in HELD:
                assert token is not None and expires is not None, (event_id, status)
            elif status != rules.PROPOSED:
                assert token is None, (event_id, status)  # a proposal keeps only its deadline
        tokens = [t for _, _, t, _ in rows if t]
        assert len(tokens) == len(set(tokens))


QueueRules.TestCase.settings = settings(
    max_examples=60, stateful_step_count=80, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_queue_rules_against_a_model = QueueRules.TestCase
