"""The queue's side of run history and quarantine: what each report, run and flaky call changes, in the
caller's transaction, and the reads and a person's moves behind the test view and ``healloop quarantine``.

The rules (when to quarantine, when to release, the flake rate) are in ``quarantine.py``; this module
applies them to a store. ``QueueService`` calls the ``on_*`` hooks inside its own operations, so a
report and the run count it adds, or a flaky resolution and the quarantine it causes, commit together.
"""

from __future__ import annotations

from typing import Any

from healloop.errors import NotFound
from healloop.queue import quarantine, rules
from healloop.queue.feed import RUNS, TEST, ChangeFeed
from healloop.queue.model import NEEDS_SPEC_AND_TEST, Event, HistoryEntry, ReportIn
from healloop.queue.quarantine import AUTO_OWNER, HISTORY_SHOWN, LiftIn, Quarantine, QuarantineIn, RunsIn
from healloop.queue.rules import QueuePolicy
from healloop.queue.store.base import EventStore, ReadTx, WriteTx
from healloop.timeutil import US, now_us, to_rfc3339

VIEW_EVENTS = 200  # a test's newest events read for its view (heals, flaky calls)


def _fingerprint(spec: str, test: str, node: str | None = None) -> str:
    return rules.fingerprint(NEEDS_SPEC_AND_TEST, "", spec, test, {}, node)


def _fingerprints(tx: ReadTx, spec: str, test: str) -> list[str]:
    """The one every node shares, and each node's own (failures local to that machine)."""
    return [_fingerprint(spec, test), *(_fingerprint(spec, test, r.node) for r in tx.test_runs(spec, test))]


def _move(tx: WriteTx, ev: Event, to: str, note: str, now: int, verb: str, data: dict[str, Any] | None = None
          ) -> None:
    rules.check_person_move(ev.status, to, ev.id, verb)
    tx.add_history(HistoryEntry(ev.id, now, ev.status, to, None, note, data))
    ev.status, ev.updated_at = to, now
    if to == rules.RESOLVED:
        ev.resolved_at = now
    elif to == rules.QUEUED:
        ev.attempt = ev.lapses = 0
    tx.save_event(ev)


def _events_in(tx: WriteTx, spec: str, test: str, status: str) -> list[Event]:
    return [e for e in tx.events_of_fingerprints(_fingerprints(tx, spec, test), VIEW_EVENTS)
            if e.status == status]


class TestBook:
    def __init__(self, store: EventStore, policy: QueuePolicy, feed: ChangeFeed | None = None) -> None:
        self.store = store
        self.policy = policy
        # Told after each commit: the events a quarantine moved, the test whose quarantine changed, and
        # each run report (the dashboard's live pages; see queue/feed.py).
        self.feed = feed or ChangeFeed()
        # (spec, test) -> until of the quarantines in force, so that a report of a test with none (nearly
        # every report) skips the store's lookup (measured: ~6 us of a report's transaction). Only a
        # filter: an entry sends the report to the store, which decides. So entries are added inside
        # the setting transaction (one rolled back leaves a harmless extra) and removed only after the
        # ending one commits. One server process per store (see store/sqlite.py) keeps it whole.
        self._held: dict[tuple[str, str], int] | None = None

    async def start(self) -> None:
        now = now_us()
        found = await self.store.read(lambda tx: tx.quarantine_all_open(now))
        self._held = {(q.spec, q.test): q.until for q in found}

    # -- hooks, in the caller's transaction
    def quarantine_of(self, tx: WriteTx, r: ReportIn, now: int) -> Quarantine | None:
        if r.kind != NEEDS_SPEC_AND_TEST or not r.spec or not r.test:
            return None
        if self._held is not None and self._held.get((r.spec, r.test), 0) <= now:
            return None
        return tx.quarantine_open(r.spec, r.test, now)

    def on_failure(self, tx: WriteTx, r: ReportIn, q: Quarantine | None, now: int) -> None:
        """A failure report (not a repeat): counted on its node; a quarantine's clean runs start over."""
        if r.kind != NEEDS_SPEC_AND_TEST or not r.spec or not r.test:
            return
        tx.run_failed(r.spec, r.test, r.node, now)
        if q is not None and (q.clean or q.clean_nodes):
            quarantine.count_failure(q)
            tx.quarantine_put(q)

    @staticmethod
    def on_unquarantined(tx: WriteTx, ev: Event, now: int) -> None:
        """A report merging into a quarantined event whose quarantine has ended (expired): the event goes
        back to the queue first, so the new failure is repaired like any other."""
        _move(tx, ev, rules.QUEUED, "quarantine ended (expired); back in the queue", now, "requeued")

    def on_resolved(self, tx: WriteTx, ev: Event, data: dict[str, Any] | None, now: int) -> None:
        """An agent resolved ``ev``: when it called the test flaky, the test may now be quarantined."""
        if (data or {}).get("label") != "flaky" or not ev.spec or not ev.test:
            return
        p = self.policy
        if not p.quarantine_after or tx.quarantine_open(ev.spec, ev.test, now) is not None:
            return
        calls = tx.flaky_calls(_fingerprint(ev.spec, ev.test), now - p.quarantine_window_s * US)
        if ev.fingerprint != _fingerprint(ev.spec, ev.test):
            calls += tx.flaky_calls(ev.fingerprint, now - p.quarantine_window_s * US)
        passes = [r.last_pass_at for r in tx.test_runs(ev.spec, ev.test) if r.last_pass_at]
        q = quarantine.auto_quarantine(spec=ev.spec, test=ev.test, flaky_calls=calls,
                                       last_pass_at=max(passes, default=None), now=now, policy=p)
        if q is None:
            return
        self._set(tx, q, now)
        tx.add_history(HistoryEntry(ev.id, now, ev.status, ev.status, None,
                                    f"quarantined the test: {q.reason}; until {to_rfc3339(q.until)}",
                                    {"quarantine": q.to_json(now)}))

    def _set(self, tx: WriteTx, q: Quarantine, now: int) -> list[Event]:
        """Put ``q`` in force; the queued events it took out of the queue."""
        tx.quarantine_put(q)
        if self._held is not None:
            key = (q.spec, q.test)
            self._held[key] = max(self._held.get(key, 0), q.until)
        events = _events_in(tx, q.spec, q.test, rules.QUEUED)
        for ev in events:
            _move(tx, ev, rules.QUARANTINED, f"quarantined: {q.words()}; taken out of the queue", now,
                  "quarantined")
        return events

    # -- operations
    async def record_runs(self, r: RunsIn) -> dict[str, Any]:
        key = f"runs:{r.node}:{r.run_id}"
        pairs = [(t.spec, t.test) for t in r.passed]

        moved: list[Event] = []

        def op(tx: WriteTx) -> dict[str, Any]:
            now = now_us()
            moved.clear()  # a store may run the operation again after a failed batch
            if tx.idempotency_get(key, now - self.policy.idempotency_window_s * US) is not None:
                return {"counted": 0, "duplicate": True, "released": []}
            tx.runs_passed(r.node, pairs, now)
            tx.idempotency_put(key, "", now)
            held = {(q.spec, q.test): q for q in tx.quarantine_all_open(now)}
            released = []
            for pair in pairs:
                q = held.get(pair)
                if q is None or q.lifted_at is not None:
                    continue
                quarantine.count_clean(q, r.node)
                note = quarantine.release_note(q, self.policy)
                if note is not None:
                    q.lifted_at, q.lifted_by, q.lift_note = now, AUTO_OWNER, note
                    for ev in _events_in(tx, q.spec, q.test, rules.QUARANTINED):
                        _move(tx, ev, rules.RESOLVED, f"quarantine {note}", now, "closed")
                        moved.append(ev)
                    released.append({"spec": q.spec, "test": q.test, "note": note})
                tx.quarantine_put(q)
            return {"counted": len(pairs), "duplicate": False, "released": released}

        got = await self.store.write(op)
        for r in got["released"]:
            self._forget(r["spec"], r["test"])
            self.feed.publish("", TEST, r["spec"], r["test"])
        self._told(moved)
        if not got["duplicate"]:
            self.feed.publish("", RUNS)
        return got

    def _told(self, moved: list[Event]) -> None:
        for ev in moved:
            self.feed.publish(ev.id, ev.status, ev.spec, ev.test)

    def _forget(self, spec: str, test: str) -> None:
        if self._held is not None:
            self._held.pop((spec, test), None)

    async def add(self, qin: QuarantineIn) -> Quarantine:
        def op(tx: WriteTx) -> tuple[Quarantine, list[Event]]:
            now = now_us()
            old = tx.quarantine_open(qin.spec, qin.test, now)
            if old is not None:
                old.lifted_at, old.lifted_by = now, qin.owner
                old.lift_note = f"replaced by a quarantine set by {qin.owner}"
                tx.quarantine_put(old)
            q = Quarantine(qin.spec, qin.test, qin.owner, now, now + qin.seconds * US, qin.reason)
            return q, self._set(tx, q, now)

        q, moved = await self.store.write(op)
        self._told(moved)
        self.feed.publish("", TEST, q.spec, q.test)
        return q

    async def lift(self, lift: LiftIn) -> tuple[Quarantine, int]:
        """End a quarantine now; the test's quarantined events go back to the queue (how many)."""

        def op(tx: WriteTx) -> tuple[Quarantine, list[Event]]:
            now = now_us()
            q = tx.quarantine_open(lift.spec, lift.test, now)
            if q is None:
                raise NotFound(f"no quarantine in force for {lift.spec} > {lift.test}; "
                               "`healloop quarantine list` shows those in force")
            why = f": {lift.reason}" if lift.reason else ""
            q.lifted_at, q.lifted_by, q.lift_note = now, lift.by, f"lifted by {lift.by}{why}"
            tx.quarantine_put(q)
            events = _events_in(tx, q.spec, q.test, rules.QUARANTINED)
            for ev in events:
                _move(tx, ev, rules.QUEUED, f"quarantine {q.lift_note}; back in the queue", now, "requeued")
            return q, events

        q, requeued = await self.store.write(op)
        self._forget(q.spec, q.test)
        self._told(requeued)
        self.feed.publish("", TEST, q.spec, q.test)
        return q, len(requeued)

    async def in_force(self) -> list[dict[str, Any]]:
        now = now_us()
        return [q.to_json(now) for q in await self.store.read(lambda tx: tx.quarantine_all_open(now))]

    async def view(self, spec: str, test: str) -> dict[str, Any]:
        def fn(tx: ReadTx) -> dict[str, Any]:
            now = now_us()
            runs = tx.test_runs(spec, test)
            events = tx.events_of_fingerprints(_fingerprints(tx, spec, test), VIEW_EVENTS)
            histories = {ev.id: tx.history(ev.id) for ev in events}
            past = tx.quarantine_history(spec, test, HISTORY_SHOWN)
            return _view(spec, test, runs, events, histories, past, now)

        return await self.store.read(fn)


def _view(spec: str, test: str, runs: list[quarantine.TestRuns], events: list[Event],
          histories: dict[str, list[HistoryEntry]], past: list[Quarantine], now: int) -> dict[str, Any]:
    passes, failures = sum(r.passes for r in runs), sum(r.failures for r in runs)
    heals, flaky = [], 0
    for ev in events:
        for h in histories[ev.id]:
            data = h.data or {}
            if h.to_state == rules.RESOLVED and h.from_state != rules.RESOLVED:
                how = {rules.PROPOSED: "approved", rules.ESCALATED: "closed",
                       rules.QUARANTINED: "closed"}.get(h.from_state or "", "healed")
                label = data.get("label") if isinstance(data.get("label"), str) else None
                flaky += label == "flaky"
                commit = data.get("commit") if isinstance(data.get("commit"), dict) else {}
                heals.append({"event_id": ev.id, "at": to_rfc3339(h.at), "how": how, "label": label,
                              "commit": commit.get("sha") if isinstance(commit.get("sha"), str) else None,
                              "note": h.note, "reverted": False})
            elif h.to_state == rules.ESCALATED and isinstance(data.get("reverted"), list):
                for heal in heals:
                    if heal["event_id"] == ev.id and heal["commit"] in data["reverted"]:
                        heal["reverted"] = True
    good = max(runs, key=lambda r: r.last_pass_at or 0, default=None)
    current = next((q for q in past if q.active(now)), None)
    return {
        "spec": spec, "test": test,
        "runs": {"passes": passes, "failures": failures, "total": passes + failures},
        "nodes": [r.to_json() for r in runs],
        "flaky_calls": flaky,
        "flake_rate": quarantine.flake_rate(flaky, passes + failures),
        "failure_rate": round(failures / (passes + failures), 4) if passes + failures else None,
        "last_good_run": None if good is None or not good.last_pass_at else {
            "node": good.node, "at": to_rfc3339(good.last_pass_at)},
        "heals": sorted(heals, key=lambda h: h["at"], reverse=True),
        "events": [{"id": ev.id, "status": ev.status, "count": ev.count, "nodes": ev.nodes,
                    "created_at": to_rfc3339(ev.created_at), "message": ev.message} for ev in events],
        "quarantine": current.to_json(now) if current else None,
        "quarantines": [q.to_json(now) for q in past],
    }
