"""The queue's behaviour: reports, merging, claims under leases, moves and lapses, over any store.

Each public method runs one operation in one store transaction, so a rule and the write it allows
are atomic. Long-poll waiters and the lease-expiry timer live here, in the server's event loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from healloop.errors import BudgetExhausted, Conflict, HealloopError, InvalidInput, LeaseLost, NotFound
from healloop.forge.model import Closed
from healloop.ids import new_id
from healloop.notify.model import NODE_MOVED
from healloop.notify.outbox import Dispatcher, NotifySettings, node_moved_key
from healloop.queue import rules, stats
from healloop.queue.feed import ChangeFeed
from healloop.queue.ingest import ALERT_STATUSES, AlertWebhook, alert_fingerprint, to_report
from healloop.queue.listing import EventMatch
from healloop.queue.metrics import Metrics
from healloop.queue.model import (
    NEEDS_SPEC_AND_TEST,
    ArtifactMeta,
    DecisionIn,
    Delivery,
    Event,
    HistoryEntry,
    Mute,
    MuteIn,
    Node,
    NodeIn,
    NodeMove,
    ReportIn,
    RevertIn,
    revalidate,
)
from healloop.queue.rules import QueuePolicy
from healloop.queue.stats import StatsWindow
from healloop.queue.store.base import EventStore, ReadTx, WriteTx
from healloop.queue.testbook import TestBook
from healloop.timeutil import EARLIEST_US, US, now_us, parse_rfc3339, span, to_rfc3339

log = logging.getLogger(__name__)
# How often a server on a shared database (PostgreSQL) looks for leases lapsed on other servers.
SHARED_LAPSE_CHECK_S = 5
# A proposal's branch is healloop/<event id> (the agent names it so); its pull request's head says which
# event a forge's webhook is about.
PROPOSAL_PREFIX = "healloop/"


@dataclass
class ReportResult:
    event: Event
    created: bool
    duplicate: bool = False
    requeued: bool = False  # merged into a quarantined event whose quarantine had ended: queued again

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.event.id,
            "status": self.event.status,
            "count": self.event.count,
            "merged": not self.created,
        }


@dataclass
class Claim:
    event: Event

    def to_json(self) -> dict[str, Any]:
        ev = self.event
        return {
            "event": ev.to_json(),
            "lease": {
                "token": ev.lease_token,
                "fencing": ev.fencing,
                "expires_at": to_rfc3339(ev.lease_expires_at),
            },
        }


class QueueService:
    def __init__(self, store: EventStore, policy: QueuePolicy | None = None,
                 notify: NotifySettings | None = None) -> None:
        self.store = store
        self.policy = policy or QueuePolicy()
        # Channels to tell of outcomes: each move to a told state writes its deliveries into the
        # outbox in the move's own transaction; the dispatcher sends them (notify/outbox.py).
        self.notify = notify if notify is not None and notify.channels else None
        self.dispatcher: Dispatcher | None = None
        self.metrics = Metrics()
        # (event id, status) after each committed write, for the dashboard's live page (queue/feed.py).
        self.feed = ChangeFeed()
        self.tests = TestBook(store, self.policy, self.feed)
        # Long-poll waiters, woken in arrival order; the generation lets a claimer that found
        # nothing notice work that arrived while its empty claim was in flight.
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._work_generation = 0
        self._lapse_timer: asyncio.TimerHandle | None = None
        self._lapse_at: int | None = None
        self._lapse_task: asyncio.Task[None] | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def waiting(self) -> int:
        """How many claim requests are parked waiting for work."""
        return len(self._waiters)

    def stop_waiting(self) -> None:
        """Shutting down: parked claims answer 'nothing to claim' now, and no new claim parks."""
        self._stopping = True
        self._work_arrived(len(self._waiters))
        self.feed.close()

    # -- life cycle
    async def start(self) -> None:
        await self.store.start()
        # Work queued by another server on the same database (PostgreSQL's NOTIFY) wakes the long-polls
        # parked here, as this server's own reports do.
        self.store.watch_work(self._work_arrived)
        await self.tests.start()
        # Leases that lapsed while the server was down are returned to the queue at once.
        await self._sweep_lapsed()
        self._housekeeping = asyncio.create_task(self._purge_loop())
        if self.notify is not None:
            self.dispatcher = Dispatcher(self, self.notify)
            self.dispatcher.start()

    async def close(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self._lapse_timer:
            self._lapse_timer.cancel()
        for task in (self._lapse_task, self._housekeeping):
            if task:
                task.cancel()
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        await self.store.close()

    # -- reports
    async def report(self, r: ReportIn) -> ReportResult:
        if r.kind == NEEDS_SPEC_AND_TEST:
            for name in ("spec", "test"):
                if not getattr(r, name):
                    raise InvalidInput(
                        f"`{name}` is required when `kind` is test_failure", field=name
                    )
        for i, a in enumerate(r.artifacts):
            if not (a.url or a.path):
                raise InvalidInput(
                    f"`artifacts[{i}]` needs a `url` or a `path`", field=f"artifacts[{i}]"
                )
        occurred = parse_rfc3339(r.occurred_at, "occurred_at") if r.occurred_at else None
        if r.sent_at:
            sent = parse_rfc3339(r.sent_at, "sent_at")
            if occurred is not None:
                # The node's clock, read twice, against the queue's: a failure from a node three hours
                # slow, reported now, happened now, and is not taken for a late report of the past.
                # Never after the queue's now, never before what RFC 3339 can write.
                now = now_us()
                occurred = max(EARLIEST_US, min(occurred + now - sent, now))
        fp = r.fingerprint or rules.fingerprint(
            r.kind, r.source, r.spec, r.test, r.labels, r.node if r.local else None
        )
        result = await self.store.write(lambda tx: self._report_op(tx, r, fp, occurred))
        if not result.duplicate:
            self.feed.publish(result.event.id, result.event.status, result.event.spec, result.event.test)
        if result.created and result.event.status == rules.ESCALATED:
            self._outbox_changed()
        self.metrics.reports += 1
        if not result.created and not result.duplicate:
            self.metrics.merges += 1
        if (result.created or result.requeued) and result.event.status == rules.QUEUED:
            self._work_arrived(1)
        return result

    def _report_op(self, tx: WriteTx, r: ReportIn, fp: str, occurred: int | None) -> ReportResult:
        now = now_us()
        p = self.policy
        if r.idempotency_key:
            seen = tx.idempotency_get(r.idempotency_key, now - p.idempotency_window_s * US)
            if seen is not None:
                ev = tx.get_event(seen)
                if ev is not None:
                    return ReportResult(ev, created=False, duplicate=True)
        occurred_at = occurred if occurred is not None else now
        open_ev, latest, recent = tx.fingerprint_state(fp, now - p.flap_window_s * US)
        quarantined = self.tests.quarantine_of(tx, r, now)
        requeued = open_ev is not None and open_ev.status == rules.QUARANTINED and quarantined is None
        if requeued:
            assert open_ev is not None
            self.tests.on_unquarantined(tx, open_ev, now)
        # Whether the latest resolution was a repair is read only inside the cooldown, so the
        # common report (no resolved event, or an old one) costs no extra query.
        fixed = bool(
            open_ev is None and latest is not None and p.cooldown_s > 0
            and (latest.resolved_at or 0) > now - p.cooldown_s * US and tx.was_fixed(latest.id)
            and rules.has_the_fix(r.node, [(h.to_state, h.data) for h in tx.history(latest.id)])
        )
        decision = rules.decide_report(
            open_event_id=open_ev.id if open_ev else None,
            latest_resolved=(latest.id, latest.resolved_at or 0) if latest else None,
            occurred_at=occurred_at,
            resolved_recently=recent,
            policy=p,
            latest_fixed=fixed,
            now=now,
            quarantined=quarantined.words() if quarantined else None,
        )
        self.tests.on_failure(tx, r, quarantined, now)
        if decision.action == "merge":
            ev = open_ev or latest
            assert ev is not None
            ev.count += 1
            ev.priority = min(ev.priority, r.priority)
            ev.updated_at = now
            if r.node not in ev.nodes:
                ev.nodes.append(r.node)
                tx.add_node_to_event(ev, r.node)
            tx.save_event(ev)
            created = False
        else:
            ev = Event(
                id=new_id(), fingerprint=fp, kind=r.kind, node=r.node, source=r.source,
                spec=r.spec, test=r.test, message=r.message, stack=r.stack, priority=r.priority,
                occurred_at=occurred_at, labels=r.labels,
                artifacts=[_artifact_json(a) for a in r.artifacts],
                idempotency_key=r.idempotency_key, status=decision.initial_status,
                created_at=now, updated_at=now, nodes=[r.node],
            )
            # The first node is the event's own `node` column; event_nodes holds the nodes that
            # joined later. Indexing the first one too cost every new failure ~8 us and a third of
            # its WAL bytes (one more page written at random per report, measured).
            tx.insert_event(ev)
            # A plain report's first history entry is the event row itself (created_at, node), shown
            # by `get` (see _creation); writing it too cost every new failure ~6% of its rate. A report
            # created escalated (flapping, or within the cooldown after a repair) keeps its entry, since
            # its note says why.
            if decision.note:
                tx.add_history(HistoryEntry(ev.id, now, None, ev.status, note=decision.note))
                if ev.status == rules.ESCALATED:
                    # A cooldown is told as flapping too: both are a repair that did not hold, stopped
                    # before an agent loops on it; a later escalation of the event is then told apart.
                    self._tell(tx, ev, "flapping", now, decision.note)
            created = True
        if r.idempotency_key:
            tx.idempotency_put(r.idempotency_key, ev.id, now)
        return ReportResult(ev, created=created, requeued=requeued)

    # -- claims
    async def claim(self, worker: str, wait: float, lease: float) -> Claim | None:
        started = time.monotonic()
        deadline = started + wait
        while True:
            generation = self._work_generation
            ev = await self.store.write(lambda tx: self._claim_op(tx, worker, lease))
            if ev is not None:
                self.feed.publish(ev.id, ev.status, ev.spec, ev.test)
                self.metrics.claims += 1
                self.metrics.claim_wait.observe(time.monotonic() - started)
                self._arm_lapse_timer(ev.lease_expires_at)
                return Claim(ev)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping:
                return None
            if generation != self._work_generation:
                continue  # work arrived while our claim was in flight: try again now
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                return None
            finally:
                if not fut.done():
                    fut.cancel()
                with contextlib.suppress(ValueError):  # already popped by _work_arrived
                    self._waiters.remove(fut)

    def _claim_op(self, tx: WriteTx, worker: str, lease: float) -> Event | None:
        now = now_us()
        ev = tx.claim_next(
            worker=worker, token=secrets.token_urlsafe(18), lease_seconds=lease, now=now,
            expires_at=now + int(lease * US),
        )
        if ev is not None:
            tx.add_history(HistoryEntry(ev.id, now, rules.QUEUED, rules.PROCESSING, worker=worker))
        return ev

    async def claim_event(self, event_id: str, worker: str, lease: float) -> Claim:
        """Claim one named event, if it is queued: an agent that repaired a failure also takes the
        queued events its repair resolves (the same renamed selector in other tests)."""

        def op(tx: WriteTx) -> Event:
            now = now_us()
            ev = tx.claim_one(event_id, worker=worker, token=secrets.token_urlsafe(18), lease_seconds=lease,
                              now=now, expires_at=now + int(lease * US))
            if ev is None:
                current = tx.get_event(event_id)
                if current is None:
                    raise NotFound(f"no event with id {event_id!r}")
                raise Conflict(f"event {event_id} is {current.status}; only a queued event can be claimed "
                               "by id (a held one belongs to its lease holder)")
            tx.add_history(HistoryEntry(ev.id, now, rules.QUEUED, rules.PROCESSING, worker=worker))
            return ev

        ev = await self.store.write(op)
        self.feed.publish(ev.id, ev.status, ev.spec, ev.test)
        self.metrics.claims += 1
        self._arm_lapse_timer(ev.lease_expires_at)
        return Claim(ev)

    def work_arrived(self, n: int) -> None:
        """Events were queued outside this class's own operations (a quarantine lifted)."""
        self._work_arrived(n)

    def _work_arrived(self, n: int) -> None:
        self._work_generation += 1
        while n > 0 and self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                n -= 1

    # -- moves by the lease holder
    def _held(self, tx: WriteTx, event_id: str, token: str, now: int) -> Event:
        ev = tx.get_event(event_id)
        if ev is None:
            raise NotFound(f"no event with id {event_id!r}")
        if ev.lease_token is None or not hmac.compare_digest(ev.lease_token, token):
            raise LeaseLost(
                f"this token does not hold event {event_id} (it is {ev.status}; its lease was "
                "released, lapsed, finished or taken by another claim): claim again with "
                "POST /v1/events/next"
            )
        if ev.lease_expires_at is not None and ev.lease_expires_at <= now:
            raise LeaseLost(
                f"the lease on event {event_id} expired at {to_rfc3339(ev.lease_expires_at)}; "
                "the event goes back to the queue"
            )
        return ev

    async def heartbeat(self, event_id: str, token: str) -> dict[str, Any]:
        def op(tx: WriteTx) -> Event:
            now = now_us()
            ev = self._held(tx, event_id, token, now)
            ev.lease_expires_at = now + int((ev.lease_seconds or 60) * US)
            ev.updated_at = now
            tx.save_event(ev)
            return ev

        ev = await self.store.write(op)
        return {"id": ev.id, "fencing": ev.fencing, "expires_at": to_rfc3339(ev.lease_expires_at)}

    async def release(self, event_id: str, token: str, note: str | None) -> Event:
        def op(tx: WriteTx) -> Event:
            now = now_us()
            ev = self._held(tx, event_id, token, now)
            tx.add_history(
                HistoryEntry(ev.id, now, ev.status, rules.QUEUED, ev.lease_worker,
                             note or "released by its worker")
            )
            _end_lease(ev, rules.QUEUED, now)
            tx.save_event(ev)
            return ev

        ev = await self.store.write(op)
        self.feed.publish(ev.id, ev.status, ev.spec, ev.test)
        self._work_arrived(1)
        return ev

    async def transition(
        self, event_id: str, token: str, to: str, note: str | None, data: dict[str, Any] | None
    ) -> Event:
        rules.check_state_name(to)

        def op(tx: WriteTx) -> Event:
            now = now_us()
            ev = self._held(tx, event_id, token, now)
            ev.attempt = rules.next_attempt(ev.status, to, ev.attempt, self.policy)
            if to == rules.FIXING:
                self._spend_action(tx, ev, data, now)
            tx.add_history(HistoryEntry(ev.id, now, ev.status, to, ev.lease_worker, note, data))
            if to in rules.FINAL:
                _end_lease(ev, to, now)
                self._tell(tx, ev, to, now, note)
            elif to == rules.PROPOSED:
                # The agent is done; the fix waits for a person, until the deadline the lapse timer keeps.
                _end_lease(ev, to, now)
                ev.lease_expires_at = now + self.policy.proposal_ttl_s * US
                self._tell(tx, ev, to, now, note)
            else:
                ev.status = to
                ev.updated_at = now
            tx.save_event(ev)
            if to == rules.RESOLVED:
                self.tests.on_resolved(tx, ev, data, now)
            return ev

        try:
            ev = await self.store.write(op)
        except BudgetExhausted:
            self.metrics.budget_refusals += 1
            raise
        self.feed.publish(ev.id, ev.status, ev.spec, ev.test)
        if to in rules.FINAL or to == rules.PROPOSED:
            self._outbox_changed()
        if to == rules.PROPOSED:
            self._arm_lapse_timer(ev.lease_expires_at)
        return ev

    def _spend_action(self, tx: WriteTx, ev: Event, data: dict[str, Any] | None, now: int) -> None:
        """A move to fixing is where an agent is about to change something: here, in the move's own
        transaction, whoever the agent is, the budgets per test and per node are checked (a refusal
        writes nothing) and the action recorded. The node is the one the move names in ``data.node``;
        a move that names none is counted against its test only."""
        p = self.policy
        node = (data or {}).get("node")
        node = node if isinstance(node, str) and node else None
        since = now - rules.ACTION_WINDOW_S * US
        for_test = on_node = 0
        if p.actions_per_hour_test and ev.spec and ev.test:
            for_test = tx.actions_for_test(ev.spec, ev.test, since, p.actions_per_hour_test)
        if p.actions_per_hour_node and node:
            on_node = tx.actions_on_node(node, since, p.actions_per_hour_node)
        rules.check_budget(spec=ev.spec, test=ev.test, node=node, for_test=for_test, on_node=on_node,
                           policy=p)
        tx.add_action(now, ev.id, ev.spec, ev.test, node)

    # -- what a person does with a proposed fix
    async def decide(self, event_id: str, approve: bool, d: DecisionIn) -> Event:
        """Approve or reject a proposal, recording who and why. An approved fix (made on a branch) is
        resolved: the git side (landing or deleting the proposal's branch on its node) is done by
        ``healloop approve|reject`` before this records it, and ``commit`` is what approval landed, so
        ``healloop revert`` can undo it. An approved plan (a restart or rerun not yet carried out) goes
        back to the queue with the approval in its history, for an agent to carry out and verify.
        A rejected one of either kind is escalated."""

        def op(tx: WriteTx) -> Event:
            now = now_us()
            ev = tx.get_event(event_id)
            if ev is None:
                raise NotFound(f"no event with id {event_id!r}")
            proposal = _proposal(tx, ev.id)
            plan = proposal.get("kind") == rules.PLAN_PROPOSAL
            to = (rules.QUEUED if plan else rules.RESOLVED) if approve else rules.ESCALATED
            rules.check_decision(ev.status, to, event_id)
            verb = "approved" if approve else "rejected"
            what = "plan" if plan else "fix"
            note = f"{what} {verb} by {d.by}" + (f": {d.reason}" if d.reason else "")
            data: dict[str, Any] = {**(d.data or {}), "by": d.by, "decision": verb}
            if d.commit:
                data["commit"] = {"sha": d.commit}
            if plan and approve:
                # What was approved, exactly: the agent that claims the event carries out this plan and
                # no other (a different plan is proposed again).
                data["approved"] = {"plan": proposal.get("plan"), "classes": proposal.get("classes")}
                note += "; back in the queue for an agent to carry it out"
            tx.add_history(HistoryEntry(ev.id, now, ev.status, to, None, note, data))
            _end_lease(ev, to, now)
            if to == rules.QUEUED:
                ev.attempt, ev.lapses = 0, 0
            else:
                self._tell(tx, ev, to, now, note)
            tx.save_event(ev)
            return ev

        ev = await self.store.write(op)
        self.feed.publish(ev.id, ev.status, ev.spec, ev.test)
        if ev.status == rules.QUEUED:
            self._work_arrived(1)
        else:
            self._outbox_changed()
        return ev

    async def pull_request_closed(self, news: Closed) -> Event:
        """A forge's webhook: the pull request from ``healloop/<event id>`` was merged (the proposal is
        approved, by who merged it, with the merge commit) or closed unmerged (rejected)."""
        # healloop/<id> holds a proposed edit, healloop/revert-<id> a proposed revert.
        event_id = news.branch.removeprefix(PROPOSAL_PREFIX).removeprefix("revert-")
        if not news.branch.startswith(PROPOSAL_PREFIX) or not event_id:
            raise InvalidInput(f"the pull request's branch {news.branch!r} is not a healloop proposal "
                               f"({PROPOSAL_PREFIX}<event id>); nothing was changed", field="branch")
        # The same decision `healloop forge sync` records when it polls instead.
        decided = news.decision()
        d = DecisionIn(by=decided.by, reason=decided.reason, commit=decided.commit, data=decided.data)
        try:
            return await self.decide(event_id, decided.approve, d)
        except NotFound:
            raise NotFound(f"the pull request's branch {news.branch} names no event here ({event_id!r}); "
                           "nothing was changed") from None

    # -- what a person does with an escalated event
    async def requeue(self, event_id: str, note: str | None) -> Event:
        def op(tx: WriteTx) -> Event:
            now = now_us()
            ev = self._unheld(tx, event_id, rules.QUEUED, "requeued")
            tx.add_history(HistoryEntry(ev.id, now, ev.status, rules.QUEUED, None,
                                        note or "requeued by an operator"))
            ev.status, ev.attempt, ev.lapses, ev.updated_at = rules.QUEUED, 0, 0, now
            tx.save_event(ev)
            return ev

        ev = await self.store.write(op)
        self.feed.publish(ev.id, ev.status, ev.spec, ev.test)
        self._work_arrived(1)
        return ev

    async def close_event(self, event_id: str, note: str | None) -> Event:
        def op(tx: WriteTx) -> Event:
            now = now_us()
            ev = self._unheld(tx, event_id, rules.RESOLVED, "closed")
            note_ = note or "closed by an operator"
            tx.add_history(HistoryEntry(ev.id, now, ev.status, rules.RESOLVED, None, note_))
            ev.status, ev.resolved_at, ev.updated_at = rules.RESOLVED, now, now
            tx.save_event(ev)
            self._tell(tx, ev, rules.RESOLVED, now, note_)
            return ev

        ev = await self.store.write(op)
        self.feed.publish(ev.id, ev.status, ev.spec, ev.test)
        self._outbox_changed()
        return ev

    async def revert_event(self, event_id: str, r: RevertIn) -> Event:
        """A person undid this resolved event's fix: it is escalated again (new reports of the failure
        merge into it and wait for a person), and agents that take it up again never repeat the fix
        (the history records it as reverted)."""

        def op(tx: WriteTx) -> Event:
            now = now_us()
            ev = tx.get_event(event_id)
            if ev is None:
                raise NotFound(f"no event with id {event_id!r}")
            if ev.status != rules.RESOLVED:
                raise Conflict(f"only a resolved event's fix can be reverted; event {event_id} is "
                               f"{ev.status}")
            note = f"heal reverted by {r.by}" + (f": {r.reason}" if r.reason else "")
            data = {"reverted": list(r.reverted), "reverts": list(r.reverts), "by": r.by}
            tx.add_history(HistoryEntry(ev.id, now, ev.status, rules.ESCALATED, None, note, data))
            ev.status, ev.resolved_at, ev.updated_at = rules.ESCALATED, None, now
            tx.save_event(ev)
            self._tell(tx, ev, "reverted", now, note)
            return ev

        ev = await self.store.write(op)
        self.feed.publish(ev.id, ev.status, ev.spec, ev.test)
        self._outbox_changed()
        return ev

    @staticmethod
    def _unheld(tx: WriteTx, event_id: str, to: str, verb: str) -> Event:
        ev = tx.get_event(event_id)
        if ev is None:
            raise NotFound(f"no event with id {event_id!r}")
        rules.check_person_move(ev.status, to, event_id, verb)
        return ev

    # -- lease lapses
    def _arm_lapse_timer(self, expires_at: int | None) -> None:
        if expires_at is None or (self._lapse_at is not None and self._lapse_at <= expires_at):
            return
        if self._lapse_timer:
            self._lapse_timer.cancel()
        loop = asyncio.get_running_loop()
        delay = max(0.0, (expires_at - now_us()) / US)
        self._lapse_at = expires_at
        self._lapse_timer = loop.call_later(delay, self._on_lapse_timer)

    def _on_lapse_timer(self) -> None:
        self._lapse_timer = None
        self._lapse_at = None
        if self._lapse_task is None or self._lapse_task.done():
            self._lapse_task = asyncio.create_task(self._sweep_lapsed())

    async def _sweep_lapsed(self) -> None:
        while True:
            moved: list[Event] = []
            lapsed = await self.store.write(lambda tx, moved=moved: self._lapse_op(tx, moved))
            for ev in moved:
                self.feed.publish(ev.id, ev.status, ev.spec, ev.test)
            self._outbox_changed()
            if lapsed:
                self.metrics.lapses += lapsed
                self._work_arrived(lapsed)
            if lapsed < 100:
                break
        nxt = await self.store.read(lambda tx: tx.next_lease_expiry())
        if getattr(self.store, "shared", False):
            # Other servers grant leases this one never hears of: should one of them die holding some,
            # this server still lapses them, looking again at least every SHARED_LAPSE_CHECK_S.
            soon = now_us() + SHARED_LAPSE_CHECK_S * US
            nxt = soon if nxt is None else min(nxt, soon)
        self._arm_lapse_timer(nxt)

    def _lapse_op(self, tx: WriteTx, moved: list[Event]) -> int:
        now = now_us()
        requeued = 0
        moved.clear()  # a retried transaction starts over
        for ev in tx.expired_leases(now, 100):
            moved.append(ev)
            if ev.status == rules.PROPOSED:
                self._expire_proposal(tx, ev, now)
                continue
            ev.lapses += 1
            worker, expired = ev.lease_worker, ev.lease_expires_at
            escalate = ev.lapses >= self.policy.max_lapses
            to = rules.ESCALATED if escalate else rules.QUEUED
            note = (
                f"lease held by {worker} expired at {to_rfc3339(expired)} without a heartbeat "
                f"(lapse {ev.lapses} of {self.policy.max_lapses})"
            )
            if escalate:
                note += "; escalated: agents keep dying on this event"
            tx.add_history(HistoryEntry(ev.id, now, ev.status, to, worker, note))
            _end_lease(ev, to, now)
            tx.save_event(ev)
            if escalate:
                self._tell(tx, ev, rules.ESCALATED, now, note)
            requeued += 0 if escalate else 1
        return requeued

    def _expire_proposal(self, tx: WriteTx, ev: Event, now: int) -> None:
        proposal = _proposal(tx, ev.id)
        where = (f"; its branch {proposal['branch']} is left on node {proposal.get('node')}"
                 if proposal.get("branch") else "")
        within = span(self.policy.proposal_ttl_s)
        note = f"proposal expired: neither approved nor rejected within {within}{where}"
        tx.add_history(HistoryEntry(ev.id, now, ev.status, rules.ESCALATED, None, note,
                                    {"decision": "expired"}))
        _end_lease(ev, rules.ESCALATED, now)
        tx.save_event(ev)
        self._tell(tx, ev, rules.ESCALATED, now, note)

    async def _purge_loop(self) -> None:
        while True:
            cutoff = now_us() - self.policy.idempotency_window_s * US
            before = now_us() - rules.ACTION_WINDOW_S * US
            try:
                await self.store.write(lambda tx, cutoff=cutoff: tx.purge_idempotency(cutoff))
                await self.store.write(lambda tx, before=before: tx.purge_actions(before))
            except HealloopError as exc:  # housekeeping must never stop the server
                log.warning("could not purge old idempotency keys and actions: %s", exc)
            await asyncio.sleep(600)

    # -- notifications
    def _tell(self, tx: WriteTx, ev: Event, outcome: str, now: int, note: str | None) -> None:
        """In the move's transaction: one delivery per channel that wants this outcome, muted when a
        person muted the test. A second move to the same outcome adds nothing (one message each)."""
        n = self.notify
        if n is None:
            return
        muted = bool(ev.spec and ev.test and tx.mute_active(ev.spec, ev.test, now))
        for name, channel in n.channels.items():
            if channel.wants(outcome, ev.node, ev.spec or ""):
                tx.outbox_add(Delivery(ev.id, outcome, name, now, (note or "")[:1000] or None,
                                       "muted" if muted else "pending", next_at=now))

    def _tell_node_moved(self, tx: WriteTx, name: str, move: NodeMove) -> None:
        """In the registration's transaction: one delivery per channel (every channel: see
        notify.model.ALWAYS), keyed by the node and the time, since there is no event to tell of."""
        if self.notify is None:
            return
        note = (f"node {name} re-registered with MCP URL {move.new_url} (was {move.old_url}). If no one "
                "moved it, someone may be taking its place: agents send the node token only to hosts in "
                "[agent] node_hosts; check GET /v1/nodes and the node's machine")
        for channel in self.notify.channels:
            tx.outbox_add(Delivery(node_moved_key(name, move.at), NODE_MOVED, channel, move.at, note[:1000],
                                   "pending", next_at=move.at))

    def _outbox_changed(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    async def mute(self, m: MuteIn) -> Mute:
        mute = Mute(m.spec, m.test, now_us() + m.seconds * US, m.reason)
        await self.store.write(lambda tx: tx.mute_put(mute))
        return mute

    async def unmute(self, spec: str, test: str) -> None:
        if not await self.store.write(lambda tx: tx.mute_delete(spec, test)):
            raise NotFound(f"no mute for {spec} > {test}")

    async def mutes(self) -> list[Mute]:
        now = now_us()
        return await self.store.read(lambda tx: tx.mute_list(now))

    async def notification_counts(self) -> dict[tuple[str, str], int]:
        return await self.store.read(lambda tx: tx.outbox_counts())

    # -- reads
    async def get(self, event_id: str) -> dict[str, Any]:
        def fn(tx: Any) -> dict[str, Any] | None:
            ev = tx.get_event(event_id)
            if ev is None:
                return None
            body = ev.to_json()
            history = tx.history(event_id)
            if not history or history[0].from_state is not None:
                history.insert(0, _creation(ev))
            body["history"] = [h.to_json() for h in history]
            # What each channel was told, and whether it got it: a channel that is down shows here.
            body["notifications"] = [d.to_json() for d in tx.outbox_for_event(event_id)]
            return body

        body = await self.store.read(fn)
        if body is None:
            raise NotFound(f"no event with id {event_id!r}")
        return body

    async def list(
        self, *, status: str | None, node: str | None, fingerprint: str | None, limit: int,
        match: EventMatch | None = None,
    ) -> list[dict[str, Any]]:
        events = await self.store.read(
            lambda tx: tx.list_events(status=status, node=node, fingerprint=fingerprint, limit=limit,
                                      match=match or None)
        )
        return [e.to_json() for e in events]

    async def stats(self, window: StatsWindow) -> dict[str, Any]:
        rows = await self.store.read(lambda tx: tx.stats(window, stats.TOP))
        return stats.to_json(window, rows)

    async def count_by_status(self) -> dict[str, int]:
        return await self.store.read(lambda tx: tx.count_by_status())

    # -- alerts
    async def ingest_alerts(
        self, hook: AlertWebhook, *, source: str, node: str | None
    ) -> dict[str, Any]:
        results, notes = [], 0
        reports = self._alert_reports(hook, source=source, node=node)
        for i, alert in enumerate(hook.alerts):
            if alert.status == "firing":
                r = await self.report(reports[i])
                results.append(r.to_json())
            elif alert.status == "resolved":
                fp = alert_fingerprint(alert)[:256]
                note = f"{source}: alert resolved" + (f" at {alert.endsAt}" if alert.endsAt else "")

                def op(tx: WriteTx, fp: str = fp, note: str = note) -> tuple[str, str] | None:
                    ev = tx.latest_by_fingerprint(fp)
                    if ev is None:
                        return None
                    tx.add_history(HistoryEntry(ev.id, now_us(), ev.status, ev.status, None, note))
                    return ev.id, ev.status

                noted = await self.store.write(op)
                if noted:
                    self.feed.publish(*noted)
                notes += bool(noted)
        return {"events": results, "notes": notes}

    @staticmethod
    def _alert_reports(hook: AlertWebhook, *, source: str, node: str | None) -> dict[int, ReportIn]:
        """The reports of the firing alerts, each checked (with every alert's status) before any is
        stored: a report built from an alert's labels (a NUL or blank `node` label) passes no decoder's
        checks by itself."""
        reports = {}
        for i, alert in enumerate(hook.alerts):
            if alert.status not in ALERT_STATUSES:
                raise InvalidInput(f"alert status must be {' or '.join(ALERT_STATUSES)}, got "
                                   f"{alert.status!r}", field="alerts.status")
            if alert.status != "firing":
                continue
            try:
                r = revalidate(to_report(alert, source=source, node=node, receiver=hook.receiver))
                if r.occurred_at:
                    parse_rfc3339(r.occurred_at, "occurred_at")
            except InvalidInput as exc:
                raise InvalidInput(f"alerts[{i}] cannot become a report: {exc.message}",
                                   field=f"alerts[{i}]") from None
            reports[i] = r
        return reports

    # -- artifacts
    async def add_artifacts(self, event_id: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def op(tx: WriteTx) -> str:
            now = now_us()
            ev = tx.get_event(event_id)
            if ev is None:
                raise NotFound(f"no event with id {event_id!r}")
            for item in items:
                tx.put_artifact(ArtifactMeta(item["digest"], item["content_type"], item["size"], now))
                ev.artifacts.append(item)
            ev.updated_at = now
            tx.save_event(ev)
            return ev.status

        status = await self.store.write(op)
        self.feed.publish(event_id, status)
        return items

    async def artifact(self, digest: str) -> ArtifactMeta:
        meta = await self.store.read(lambda tx: tx.get_artifact(digest))
        if meta is None:
            raise NotFound(f"no artifact {digest}")
        return meta

    async def exists(self, event_id: str) -> bool:
        return await self.store.read(lambda tx: tx.get_event(event_id)) is not None

    # -- nodes
    async def register_node(self, n: NodeIn) -> Node:
        """Record a node's registration. One that changes the node's ``mcp_url`` is kept in the node's
        ``moves`` and told to every notification channel: agents send that URL the node token, so a
        move no one made is someone taking the node's place."""
        now = now_us()
        moved: list[NodeMove] = []

        def op(tx: WriteTx) -> Node:
            old = tx.get_node(n.name)
            if old is not None and old.mcp_url != n.mcp_url:
                moved.append(NodeMove(now, old.mcp_url, n.mcp_url))
                tx.add_node_move(n.name, moved[0])
                self._tell_node_moved(tx, n.name, moved[0])
            tx.upsert_node(Node(n.name, n.mcp_url, dict(n.labels), now))
            node = tx.get_node(n.name)
            assert node is not None
            return node

        node = await self.store.write(op)
        if moved:
            log.warning("node %s re-registered with a new MCP URL %s (was %s)", n.name, moved[0].new_url,
                        moved[0].old_url)
            self._outbox_changed()
        return node

    async def list_nodes(self) -> list[Node]:
        return await self.store.read(lambda tx: tx.list_nodes())


def _creation(ev: Event) -> HistoryEntry:
    """The first history entry of an event created queued, which is not stored (see _report_op)."""
    return HistoryEntry(ev.id, ev.created_at, None, rules.QUEUED, note=f"reported by {ev.node}")


def _proposal(tx: ReadTx, event_id: str) -> dict[str, Any]:
    """The proposal of the event's latest move to ``proposed`` (its history's ``data.proposal``)."""
    for h in reversed(tx.history(event_id)):
        if h.to_state == rules.PROPOSED:
            return dict((h.data or {}).get("proposal") or {})
    return {}


def _end_lease(ev: Event, to: str, now: int) -> None:
    ev.status = to
    ev.lease_token = ev.lease_worker = ev.lease_seconds = ev.lease_expires_at = None
    ev.updated_at = now
    if to == rules.RESOLVED:
        ev.resolved_at = now


def _artifact_json(a: Any) -> dict[str, Any]:
    return {k: v for k, v in (("name", a.name), ("content_type", a.content_type),
                              ("url", a.url), ("path", a.path)) if v is not None}
