"""The contract every ``EventStore`` backend must meet, run on each backend (see test_store_*.py).

A backend's test module subclasses ``StoreContract`` and provides an async ``store`` fixture.
"""

from __future__ import annotations

import asyncio

import pytest

from healloop.errors import NotFound
from healloop.ids import new_id
from healloop.queue.listing import EventMatch
from healloop.queue.model import ArtifactMeta, Delivery, Event, HistoryEntry, Mute, Node, NodeMove
from healloop.queue.quarantine import Quarantine
from healloop.queue.stats import StatsWindow
from healloop.queue.tokens import hash_secret, new_token
from healloop.timeutil import US, now_us


def make_event(fp: str = "fp", status: str = "queued", priority: int = 3, node: str = "n1") -> Event:
    now = now_us()
    return Event(id=new_id(), fingerprint=fp, kind="test_failure", node=node, source="cypress",
                 spec="a.cy.js", test="登录 > «works»", message="boom <b>\"x\"</b>", stack=None,
                 priority=priority, occurred_at=now, labels={"k": "v"}, artifacts=[],
                 idempotency_key=None, status=status, created_at=now, updated_at=now, nodes=[node])


async def insert(store, ev: Event) -> Event:
    return await store.write(lambda tx: (tx.insert_event(ev), ev)[1])


async def claim(store, worker: str = "w", lease: float = 60):
    now = now_us()
    return await store.write(lambda tx: tx.claim_next(
        worker=worker, token=new_id("tok_"), lease_seconds=lease, now=now,
        expires_at=now + int(lease * US)))


@pytest.mark.anyio
class StoreContract:
    async def test_insert_and_get_round_trips_every_field_byte_for_byte(self, store) -> None:
        ev = await insert(store, make_event())
        got = await store.read(lambda tx: tx.get_event(ev.id))
        assert got is not None
        assert (got.test, got.message, got.labels, got.nodes) == (ev.test, ev.message, ev.labels, ["n1"])
        assert got.seq is not None
        assert await store.read(lambda tx: tx.get_event("evt_missing")) is None

    async def test_claim_order_is_priority_then_oldest(self, store) -> None:
        a = await insert(store, make_event("a", priority=3))
        b = await insert(store, make_event("b", priority=1))
        c = await insert(store, make_event("c", priority=3))
        order = [(await claim(store)).id for _ in range(3)]
        assert order == [b.id, a.id, c.id]
        assert await claim(store) is None

    async def test_claim_sets_lease_and_bumps_fencing(self, store) -> None:
        await insert(store, make_event())
        got = await claim(store, "w1", 30)
        assert got.status == "processing" and got.lease_worker == "w1" and got.fencing == 1
        assert got.lease_expires_at > now_us()

    async def test_concurrent_claims_never_share_an_event(self, store) -> None:
        for i in range(40):
            await insert(store, make_event(f"fp{i}"))
        got = await asyncio.gather(*(claim(store, f"w{i}") for i in range(60)))
        ids = [e.id for e in got if e is not None]
        assert len(ids) == 40 and len(set(ids)) == 40

    async def test_claim_one_takes_only_that_queued_event_once(self, store) -> None:
        a = await insert(store, make_event("a", priority=1))
        b = await insert(store, make_event("b", priority=3))

        def one(event_id: str, worker: str):
            now = now_us()
            return store.write(lambda tx: tx.claim_one(
                event_id, worker=worker, token=new_id("tok_"), lease_seconds=30, now=now,
                expires_at=now + 30 * US))

        got = await asyncio.gather(*(one(b.id, f"w{i}") for i in range(5)))
        winners = [e for e in got if e is not None]
        assert len(winners) == 1 and winners[0].id == b.id and winners[0].status == "processing"
        assert winners[0].fencing == 1
        assert await one(b.id, "late") is None  # held now
        assert (await claim(store)).id == a.id  # claim_next skips the held one
        assert await claim(store) is None
        assert await one("evt_missing", "w") is None

    async def test_fingerprint_state_finds_the_open_and_the_latest_resolved_event(self, store) -> None:
        def state(fp, since):
            return store.write(lambda tx: tx.fingerprint_state(fp, since))

        old = make_event("fp", status="resolved")
        old.resolved_at = now_us() - 10 * US
        await insert(store, old)
        newer = make_event("fp", status="resolved")
        newer.resolved_at = now_us()
        await insert(store, newer)
        await insert(store, make_event("fp-other", status="queued"))
        open_ev, latest, n = await state("fp", now_us() - 5 * US)
        assert open_ev is None and latest.id == newer.id and n == 1
        assert (await state("fp", 0))[2] == 2
        assert await state("none", 0) == (None, None, 0)
        esc = await insert(store, make_event("fp", status="escalated"))
        open_ev, latest, n = await state("fp", 0)
        assert open_ev.id == esc.id and open_ev.status == "escalated" and latest.id == newer.id and n == 2
        assert latest.resolved_at == newer.resolved_at

    async def test_save_event_persists_mutable_fields(self, store) -> None:
        ev = await insert(store, make_event())
        ev.count, ev.nodes, ev.attempt, ev.status = 5, ["n1", "n2"], 2, "escalated"

        def op(tx):
            tx.save_event(ev)
            tx.add_node_to_event(ev, "n2")
        await store.write(op)
        got = await store.read(lambda tx: tx.get_event(ev.id))
        assert (got.count, got.nodes, got.attempt, got.status) == (5, ["n1", "n2"], 2, "escalated")
        other = await insert(store, make_event("fp-other", node="n3"))
        for name, expected in (("n2", [ev.id]), ("n1", [ev.id]), ("n3", [other.id]), ("n9", [])):
            # n1 reported the event (its `node`), n2 joined it later, n3 reported another one.
            listed = await store.read(lambda tx, name=name: tx.list_events(
                status=None, node=name, fingerprint=None, limit=10))
            assert [e.id for e in listed] == expected, name

    async def test_list_matches_spec_label_text_time_and_class(self, store) -> None:
        a = make_event("fa")
        b = make_event("fb")
        b.spec, b.test, b.message, b.labels = "b.cy.js", "pays 50%_off", "timed out", {"k": "w", "o": "1"}
        for ev in (a, b):
            await insert(store, ev)
        await store.write(lambda tx: tx.add_history(HistoryEntry(b.id, now_us(), "processing", "analyzing",
                                                                 data={"class": "selector_not_found"})))

        async def ids(**m) -> list[str]:
            match = EventMatch(**m)
            got = await store.read(lambda tx: tx.list_events(status=None, node=None, fingerprint=None,
                                                             limit=10, match=match))
            return sorted(e.id for e in got)

        assert await ids(spec="b.cy.js") == [b.id]
        assert await ids(label=("k", "v")) == [a.id] and await ids(label=("o", "1")) == [b.id]
        assert await ids(text="«WORKS»") == [a.id] and await ids(text="登录 >") == [a.id]  # ASCII case folds
        assert await ids(text="50%_o") == [b.id] and await ids(text="5%o") == []
        assert await ids(text="<b>") == [a.id]
        assert await ids(klass="selector_not_found") == [b.id]
        # Within one open state the class is looked up per event: the same answer.
        klass = EventMatch(klass="selector_not_found")
        in_state = await store.read(lambda tx: tx.list_events(status="queued", node=None, fingerprint=None,
                                                              limit=10, match=klass))
        assert [e.id for e in in_state] == [b.id]
        assert await ids(since=now_us() + 60 * US) == []
        assert await ids(since=a.created_at) == sorted([a.id, b.id])

    async def test_failed_operation_rolls_back_alone(self, store) -> None:
        def bad(tx):
            tx.insert_event(make_event("bad"))
            raise NotFound("boom")
        good = make_event("good")
        results = await asyncio.gather(store.write(bad), insert(store, good), return_exceptions=True)
        assert isinstance(results[0], NotFound)
        listed = await store.read(lambda tx: tx.list_events(status=None, node=None, fingerprint=None,
                                                            limit=10))
        assert [e.fingerprint for e in listed] == ["good"]

    async def test_a_failed_operation_in_the_middle_of_a_batch_loses_only_itself(self, store) -> None:
        def bad(tx):
            tx.insert_event(make_event("bad"))
            tx.add_history(HistoryEntry("evt_x", now_us(), None, "queued"))
            raise NotFound("boom")

        def refused(tx):  # fails before writing anything
            raise NotFound("no such event")

        before, after = make_event("before"), make_event("after")
        results = await asyncio.gather(insert(store, before), store.write(bad), store.write(refused),
                                       insert(store, after), return_exceptions=True)
        assert [type(r).__name__ for r in results] == ["Event", "NotFound", "NotFound", "Event"]
        assert results[0].seq is not None and results[3].seq is not None
        listed = await store.read(lambda tx: tx.list_events(status=None, node=None, fingerprint=None,
                                                            limit=10))
        assert sorted(e.fingerprint for e in listed) == ["after", "before"]
        assert await store.read(lambda tx: tx.history("evt_x")) == []

    async def test_a_moves_class_and_outcome_survive_a_batch_replayed_around_them(self, store) -> None:
        ev = make_event("marked")
        ev.created_at = 1_796_256_000 * US  # 2026-12-03T00:00:00Z

        def heal(tx):
            tx.insert_event(ev)
            tx.add_history(HistoryEntry(ev.id, ev.created_at + 1, "verifying", "resolved", "w", None,
                                        {"class": "timeout", "label": "flaky"}))
            ev.status, ev.resolved_at = "resolved", ev.created_at + 2
            tx.save_event(ev)

        def bad(tx):  # fails after writing: the batch is rolled back and heal runs again
            tx.add_history(HistoryEntry("evt_x", now_us(), "verifying", "escalated", None, None,
                                        {"class": "unknown"}))
            raise NotFound("boom")

        results = await asyncio.gather(store.write(heal), store.write(bad), return_exceptions=True)
        assert results[0] is None and isinstance(results[1], NotFound)
        got = await store.read(lambda tx: tx.stats(StatsWindow(ev.created_at, ev.created_at + US), 10))
        assert got.outcomes == {"healed": 1} and got.per_day == [("2026-12-03", "timeout", 1)]
        assert [(s, t, n) for s, t, n, _ in got.flaky] == [("a.cy.js", "登录 > «works»", 1)]

    async def test_history_is_appended_in_order(self, store) -> None:
        ev = await insert(store, make_event())

        def op(tx):
            tx.add_history(HistoryEntry(ev.id, 1, None, "queued"))
            tx.add_history(HistoryEntry(ev.id, 2, "queued", "processing", "w", "n", {"a": [1]}))
        await store.write(op)
        hist = await store.read(lambda tx: tx.history(ev.id))
        assert [(h.from_state, h.to_state, h.data) for h in hist] == [
            (None, "queued", None), ("queued", "processing", {"a": [1]})]

    async def test_expired_leases_and_next_expiry(self, store) -> None:
        await insert(store, make_event("a"))
        await insert(store, make_event("b"))
        short = await claim(store, lease=1)
        long = await claim(store, lease=100)
        assert await store.read(lambda tx: tx.next_lease_expiry()) == short.lease_expires_at
        expired = await store.write(lambda tx: tx.expired_leases(short.lease_expires_at, 10))
        assert [e.id for e in expired] == [short.id]
        assert long.id not in [e.id for e in expired]

    async def test_idempotency_keys_expire_by_window_and_purge(self, store) -> None:
        await store.write(lambda tx: tx.idempotency_put("k", "evt_1", 1000))
        assert await store.write(lambda tx: tx.idempotency_get("k", 500)) == "evt_1"
        assert await store.write(lambda tx: tx.idempotency_get("k", 2000)) is None
        await store.write(lambda tx: tx.idempotency_put("k", "evt_2", 3000))
        assert await store.write(lambda tx: tx.idempotency_get("k", 2000)) == "evt_2"
        assert await store.write(lambda tx: tx.purge_idempotency(4000)) == 1

    async def test_nodes_upsert_and_list(self, store) -> None:
        await store.write(lambda tx: tx.upsert_node(Node("b", "http://b/mcp", {}, 1)))
        await store.write(lambda tx: tx.upsert_node(Node("a", "http://a/mcp", {"os": "linux"}, 2)))
        await store.write(lambda tx: tx.upsert_node(Node("b", "http://b2/mcp", {}, 3)))
        nodes = await store.read(lambda tx: tx.list_nodes())
        assert [(n.name, n.mcp_url, n.last_seen) for n in nodes] == [
            ("a", "http://a/mcp", 2), ("b", "http://b2/mcp", 3)]

    async def test_node_moves_are_kept_newest_first(self, store) -> None:
        await store.write(lambda tx: tx.upsert_node(Node("a", "http://a/mcp", {}, 1)))
        await store.write(lambda tx: tx.add_node_move("a", NodeMove(2, "http://a/mcp", "http://evil/mcp")))
        await store.write(lambda tx: tx.add_node_move("a", NodeMove(3, "http://evil/mcp", "http://a/mcp")))
        node = await store.read(lambda tx: tx.get_node("a"))
        assert node is not None and [(m.at, m.old_url, m.new_url) for m in node.moves] == [
            (3, "http://evil/mcp", "http://a/mcp"), (2, "http://a/mcp", "http://evil/mcp")]
        assert [n.moves for n in await store.read(lambda tx: tx.list_nodes())] == [node.moves]
        assert await store.read(lambda tx: tx.get_node("b")) is None

    async def test_count_by_status(self, store) -> None:
        await insert(store, make_event("a"))
        await insert(store, make_event("b", status="escalated"))
        await insert(store, make_event("c", status="escalated"))
        assert await store.read(lambda tx: tx.count_by_status()) == {"queued": 1, "escalated": 2}
        for fp in ("d", "e"):
            await insert(store, make_event(fp, status="resolved"))
        counts = {"queued": 1, "escalated": 2, "resolved": 2}
        assert await store.read(lambda tx: tx.count_by_status()) == counts

    async def test_artifact_meta_first_write_wins(self, store) -> None:
        await store.write(lambda tx: tx.put_artifact(ArtifactMeta("sha256:ab", "image/png", 3, 1)))
        await store.write(lambda tx: tx.put_artifact(ArtifactMeta("sha256:ab", "text/plain", 3, 2)))
        meta = await store.read(lambda tx: tx.get_artifact("sha256:ab"))
        assert (meta.content_type, meta.created_at) == ("image/png", 1)
        assert await store.read(lambda tx: tx.get_artifact("sha256:cd")) is None

    async def test_latest_by_fingerprint_whatever_the_state(self, store) -> None:
        await insert(store, make_event("fp", status="resolved"))
        newest = await insert(store, make_event("fp", status="escalated"))
        await insert(store, make_event("other"))
        assert (await store.write(lambda tx: tx.latest_by_fingerprint("fp"))).id == newest.id
        assert await store.write(lambda tx: tx.latest_by_fingerprint("none")) is None

    async def test_the_outbox_keeps_one_delivery_per_event_outcome_and_channel(self, store) -> None:
        now = now_us()
        ev = await insert(store, make_event())
        d = Delivery(ev.id, "escalated", "qa", now, note="escalated: why", next_at=now)
        assert await store.write(lambda tx: tx.outbox_add(d)) is True
        again = Delivery(ev.id, "escalated", "qa", now + 5, note="another", next_at=now)
        assert await store.write(lambda tx: tx.outbox_add(again)) is False
        other = Delivery(ev.id, "resolved", "qa", now + 10, next_at=now + 10 * US)
        await store.write(lambda tx: tx.outbox_add(other))
        due = await store.read(lambda tx: tx.outbox_due(now + 1, 10))
        assert [(x.outcome, x.note) for x in due] == [("escalated", "escalated: why")]
        assert await store.read(lambda tx: tx.outbox_next_due()) == now
        due[0].status, due[0].attempts, due[0].done_at = "delivered", 1, now + 2
        await store.write(lambda tx: tx.outbox_update(due[0]))
        listed = await store.read(lambda tx: tx.outbox_for_event(ev.id))
        assert [(x.outcome, x.status, x.attempts) for x in listed] == [
            ("escalated", "delivered", 1), ("resolved", "pending", 0)]
        assert await store.read(lambda tx: tx.outbox_next_due()) == now + 10 * US
        assert await store.read(lambda tx: tx.outbox_recent("qa", now)) == 2
        counts = await store.read(lambda tx: tx.outbox_counts())
        assert counts == {("qa", "delivered"): 1, ("qa", "pending"): 1}
        pending = await store.read(lambda tx: tx.outbox_pending_for("qa", 10))
        assert [x.outcome for x in pending] == ["resolved"]

    async def test_mutes_expire_and_can_be_lifted(self, store) -> None:
        now = now_us()
        test = "登录 > «works»"
        await store.write(lambda tx: tx.mute_put(Mute("a.cy.js", test, now + US, "known")))
        assert (await store.read(lambda tx: tx.mute_active("a.cy.js", test, now))).reason == "known"
        assert await store.read(lambda tx: tx.mute_active("a.cy.js", test, now + 2 * US)) is None
        assert [m.test for m in await store.read(lambda tx: tx.mute_list(now))] == [test]
        assert await store.write(lambda tx: tx.mute_delete("a.cy.js", test)) is True
        assert await store.read(lambda tx: tx.mute_list(now)) == []

    async def test_actions_are_counted_per_test_and_per_node_within_a_window_and_purged(self, store) -> None:
        test = "登录 > «works»"

        def op(tx):
            tx.add_action(100, "evt_1", "a.cy.js", test, "ci-1")
            tx.add_action(200, "evt_2", "a.cy.js", test, None)
            tx.add_action(300, "evt_3", "b.cy.js", test, "ci-1")
            tx.add_action(400, "evt_4", None, None, "ci-2")  # an alert: no spec and test
        await store.write(op)
        assert await store.read(lambda tx: tx.actions_for_test("a.cy.js", test, 0, 10)) == 2
        assert await store.read(lambda tx: tx.actions_for_test("a.cy.js", test, 150, 10)) == 1
        assert await store.read(lambda tx: tx.actions_for_test("a.cy.js", "other", 0, 10)) == 0
        assert await store.read(lambda tx: tx.actions_on_node("ci-1", 0, 10)) == 2
        assert await store.read(lambda tx: tx.actions_on_node("ci-1", 0, 1)) == 1  # stops at the limit
        assert await store.read(lambda tx: tx.actions_on_node("ci-2", 0, 10)) == 1
        assert await store.write(lambda tx: tx.purge_actions(250)) == 2
        assert await store.read(lambda tx: tx.actions_for_test("a.cy.js", test, 0, 10)) == 0
        assert await store.read(lambda tx: tx.actions_on_node("ci-1", 0, 10)) == 1

    async def test_was_fixed_means_the_history_has_a_move_to_fixing(self, store) -> None:
        fixed, rerun = await insert(store, make_event("a")), await insert(store, make_event("b"))

        def op(tx):
            for ev, steps in ((fixed, ("analyzing", "fixing", "verifying")),
                              (rerun, ("analyzing", "verifying"))):
                for i, to in enumerate(steps):
                    tx.add_history(HistoryEntry(ev.id, i, None, to))
        await store.write(op)
        assert await store.read(lambda tx: tx.was_fixed(fixed.id)) is True
        assert await store.read(lambda tx: tx.was_fixed(rerun.id)) is False
        assert await store.read(lambda tx: tx.was_fixed("evt_missing")) is False

    async def test_tokens_are_kept_hashed_revoked_in_place_and_touched_forward(self, store) -> None:
        secret, t = new_token("ci-1", "node")
        await store.write(lambda tx: tx.put_token(t))
        got = await store.read(lambda tx: tx.get_token("ci-1"))
        assert (got.role, got.hash, got.revoked_at) == ("node", hash_secret(secret), None)
        assert secret not in repr(await store.read(lambda tx: tx.list_tokens()))
        await store.write(lambda tx: tx.touch_tokens([("ci-1", 500)]))
        await store.write(lambda tx: tx.touch_tokens([("ci-1", 400)]))  # an older use changes nothing
        assert (await store.read(lambda tx: tx.get_token("ci-1"))).last_used_at == 500
        assert await store.write(lambda tx: tx.revoke_token("ci-1", 600)) is True
        assert await store.write(lambda tx: tx.revoke_token("ci-1", 700)) is False
        assert [(x.name, x.revoked_at) for x in await store.read(lambda tx: tx.list_tokens())] == [
            ("ci-1", 600)]
        _, again = new_token("ci-1", "node")  # a new token under a revoked one's name replaces it
        await store.write(lambda tx: tx.put_token(again))
        assert (await store.read(lambda tx: tx.get_token("ci-1"))).revoked_at is None

    async def test_retention_deletes_old_resolved_events_with_only_their_rows(self, store) -> None:
        now = now_us()
        old, cut = now - 100 * 86400 * US, now - 90 * 86400 * US

        def resolved(fp: str, at: int, key: str | None = None) -> Event:
            ev = make_event(fp, status="resolved")
            ev.resolved_at, ev.idempotency_key = at, key
            return ev

        gone = resolved("gone", old, key="k-gone")
        gone.nodes = ["n1", "n2"]
        kept = {"recent": resolved("recent", now), "escalated": make_event("esc", status="escalated"),
                "queued": make_event("q"), "proposed": make_event("p", status="proposed")}
        newest = resolved("newest", old)  # old, but the newest event: its seq must not be reused

        def fill(tx) -> None:
            for ev in (gone, *kept.values(), newest):
                tx.insert_event(ev)
                tx.add_history(HistoryEntry(ev.id, 1, None, "analyzing"))
                tx.outbox_add(Delivery(ev.id, "resolved", "qa", 1, next_at=1))
                tx.add_action(now, ev.id, ev.spec, ev.test, ev.node)
            tx.add_node_to_event(gone, "n2")
            tx.idempotency_put("k-gone", gone.id, now)
        await store.write(fill)
        listed = await store.read(lambda tx: tx.finished_before(cut, 0, 10))
        assert [eid for _, eid in listed] == [gone.id, newest.id]
        assert await store.read(lambda tx: tx.finished_before(cut, listed[0][0], 10)) == listed[1:]
        assert await store.read(lambda tx: tx.max_seq()) == newest.seq
        rows = {"history": 1, "notifications": 1, "event_nodes": 1, "idempotency_keys": 1, "actions": 1}
        assert await store.read(lambda tx: tx.event_rows(gone.id)) == rows
        every = [gone.id, newest.id, *(ev.id for ev in kept.values())]
        assert await store.write(lambda tx: tx.delete_events(every, cut)) == {"events": 1, **rows}
        assert await store.read(lambda tx: tx.get_event(gone.id)) is None
        assert await store.read(lambda tx: tx.history(gone.id)) == []
        assert await store.read(lambda tx: tx.outbox_for_event(gone.id)) == []
        assert await store.write(lambda tx: tx.idempotency_get("k-gone", 0)) is None
        for ev in (*kept.values(), newest):
            assert await store.read(lambda tx, e=ev: tx.get_event(e.id)) is not None
            assert len(await store.read(lambda tx, e=ev: tx.history(e.id))) == 1
        assert (await store.write(lambda tx: tx.delete_events([gone.id], cut)))["events"] == 0

    async def test_retention_reads_artifact_references_and_forgets_artifacts(self, store) -> None:
        a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
        plain = await insert(store, make_event("plain"))
        named = make_event("named")
        named.artifacts = [{"name": "shot.png", "digest": a, "url": f"/v1/artifacts/{a}"}]
        await insert(store, named)
        by_url = make_event("url")
        by_url.artifacts = [{"name": "dom.html", "url": f"http://q:8787/v1/artifacts/{b}"}]
        await insert(store, by_url)
        refs = await store.read(lambda tx: tx.artifact_refs(0, 10))
        assert [seq for seq, _ in refs] == [named.seq, by_url.seq] and plain.seq < named.seq
        assert b in refs[1][1]
        assert await store.read(lambda tx: tx.artifact_refs(named.seq, 10)) == refs[1:]
        for digest in (b, a):
            await store.write(lambda tx, d=digest: tx.put_artifact(ArtifactMeta(d, "image/png", 3, 1)))
        assert [x.digest for x in await store.read(lambda tx: tx.list_artifacts("", 10))] == [a, b]
        assert [x.digest for x in await store.read(lambda tx: tx.list_artifacts(a, 10))] == [b]
        assert await store.write(lambda tx: tx.delete_artifact(a)) is True
        assert await store.write(lambda tx: tx.delete_artifact(a)) is False
        assert await store.read(lambda tx: tx.get_artifact(a)) is None

    async def test_stats_count_the_window_by_class_outcome_and_node_exactly(self, store) -> None:
        day = 86_400 * US
        t0 = 1_796_256_000 * US  # 2026-12-03T00:00:00Z
        events = []
        # Ten resolved by the agent: timeout, taking 1..10 s (p90 by nearest rank: 9 s), on two days.
        for i in range(10):
            ev = make_event(f"t{i}", status="resolved")
            ev.created_at = t0 - day + i * 3600 * US if i < 4 else t0 + i * US
            ev.resolved_at = ev.created_at + (i + 1) * US
            events.append((ev, [("verifying", "resolved", {"class": "timeout", "label": "flaky"})]))
        late = make_event("late", status="escalated", node="n2")  # reported by n2, joined by n1
        late.created_at, late.nodes = t0 + 100 * US, ["n2", "n1"]
        # The class is the latest one recorded; the revert makes it "reverted", not "escalated".
        events.append((late, [("analyzing", "escalated", {"class": "timeout"}),
                              ("escalated", "queued", None),
                              ("verifying", "resolved", {"class": "selector_not_found"}),
                              ("resolved", "escalated", {"reverted": ["abc1234"], "by": "dev"})]))
        outside = make_event("outside")
        outside.created_at = t0 + day  # until is exclusive
        events.append((outside, []))

        def op(tx):
            for ev, moves in events:
                tx.insert_event(ev)
                if ev.nodes[1:]:
                    tx.add_node_to_event(ev, ev.nodes[1])
                for i, (frm, to, data) in enumerate(moves):
                    tx.add_history(HistoryEntry(ev.id, ev.created_at + i, frm, to, "w", None, data))
        await store.write(op)
        got = await store.read(lambda tx: tx.stats(StatsWindow(t0 - day, t0 + day), 10))
        assert got.per_day == [("2026-12-02", "timeout", 4), ("2026-12-03", "selector_not_found", 1),
                               ("2026-12-03", "timeout", 6)]
        assert got.outcomes == {"healed": 10, "reverted": 1}
        assert [(c, n, mean, p90) for c, n, mean, p90 in got.repair] == [("timeout", 10, 5.5 * US, 9 * US)]
        assert [(s, t, n) for s, t, n, _ in got.flaky] == [("a.cy.js", "登录 > «works»", 10)]
        assert got.suspects == [] and got.notifications == []
        assert [(n, e, ok) for n, e, ok, _ in got.nodes] == [("n1", 11, 10), ("n2", 1, 0)]
        n1 = await store.read(lambda tx: tx.stats(StatsWindow(t0, t0 + day, "n1"), 10))
        assert n1.outcomes == {"healed": 6, "reverted": 1}
        assert [(n, e, last) for n, e, _, last in n1.nodes] == [("n1", 7, t0 + 9 * US)]  # late: n1 joined

    async def test_run_rows_are_upserted_per_node_and_never_go_back_in_time(self, store) -> None:
        await store.write(lambda tx: tx.runs_passed("n1", [("a.cy.js", "t"), ("b.cy.js", "t")], 100))
        await store.write(lambda tx: tx.runs_passed("n1", [("a.cy.js", "t")], 50))  # an older run, late
        await store.write(lambda tx: tx.run_failed("a.cy.js", "t", "n2", 70))
        rows = await store.read(lambda tx: tx.test_runs("a.cy.js", "t"))
        assert [(r.node, r.passes, r.failures, r.last_pass_at, r.last_fail_at) for r in rows] == [
            ("n1", 2, 0, 100, None), ("n2", 0, 1, None, 70)]
        assert await store.read(lambda tx: tx.test_runs("c.cy.js", "t")) == []

    async def test_quarantines_open_end_and_stay_in_the_history(self, store) -> None:
        t = "登录 > «works»"
        q = Quarantine("a.cy.js", t, "ana", 10, 1000, "race", clean=2, clean_nodes=["n1"])
        await store.write(lambda tx: tx.quarantine_put(q))
        assert q.id is not None
        got = await store.read(lambda tx: tx.quarantine_open("a.cy.js", t, 500))
        assert got is not None
        assert (got.owner, got.clean, got.clean_nodes, got.auto) == ("ana", 2, ["n1"], False)
        assert await store.read(lambda tx: tx.quarantine_open("a.cy.js", t, 1000)) is None  # expired
        assert [x.test for x in await store.read(lambda tx: tx.quarantine_all_open(500))] == [t]
        q.lifted_at, q.lifted_by, q.lift_note = 600, "li", "fixed"
        await store.write(lambda tx: tx.quarantine_put(q))
        assert await store.read(lambda tx: tx.quarantine_all_open(500)) == []
        (past,) = await store.read(lambda tx: tx.quarantine_history("a.cy.js", t, 10))
        assert (past.lifted_by, past.lift_note, past.ended(700)) == ("li", "fixed", "lifted")

    async def test_retention_forgets_stale_run_rows_and_ended_quarantines_in_batches(self, store) -> None:
        await store.write(lambda tx: tx.run_failed("a.cy.js", "t", "n1", 100))
        await store.write(lambda tx: tx.runs_passed("n2", [("a.cy.js", "t"), ("b.cy.js", "t")], 150))
        await store.write(lambda tx: tx.runs_passed("n1", [("b.cy.js", "t")], 900))  # ran since: stays
        ended = (("q1", 190, None), ("q2", 5000, 120), ("q3", 5000, None), ("q4", 5000, 300))
        for spec, until, lifted in ended:
            await store.write(lambda tx, s=spec, u=until, li=lifted: tx.quarantine_put(
                Quarantine(s, "t", "ana", 10, u, lifted_at=li)))
        assert await store.read(lambda tx: tx.stale_test_rows(200)) == {"test_runs": 3, "quarantines": 2}
        assert await store.write(lambda tx: tx.delete_stale_test_rows(200, 1)) == {
            "test_runs": 1, "quarantines": 1}
        assert await store.write(lambda tx: tx.delete_stale_test_rows(200, 5)) == {
            "test_runs": 2, "quarantines": 1}
        assert await store.read(lambda tx: tx.test_runs("a.cy.js", "t")) == []
        assert [r.node for r in await store.read(lambda tx: tx.test_runs("b.cy.js", "t"))] == ["n1"]
        assert [len(await store.read(lambda tx, s=s: tx.quarantine_history(s, "t", 5)))
                for s in ("q1", "q2", "q3", "q4")] == [0, 0, 1, 1]

    async def test_events_of_fingerprints_and_flaky_calls(self, store) -> None:
        a, b, other = make_event("fa"), make_event("fb", status="resolved"), make_event("fc")
        b.resolved_at = b.created_at
        for ev in (a, b, other):
            await insert(store, ev)
        flaky = HistoryEntry(b.id, 100, "verifying", "resolved", "w", None, {"label": "flaky"})
        await store.write(lambda tx: tx.add_history(flaky))
        got = await store.read(lambda tx: tx.events_of_fingerprints(["fa", "fb"], 10))
        assert [e.id for e in got] == [b.id, a.id]
        assert await store.read(lambda tx: tx.flaky_calls("fb", 100)) == 1
        assert await store.read(lambda tx: tx.flaky_calls("fb", 101)) == 0
        assert await store.read(lambda tx: tx.flaky_calls("fa", 0)) == 0

    async def test_text_with_nul_and_private_use_characters_round_trips(self, store) -> None:
        """PostgreSQL's text holds no U+0000: the backend escapes it, and its escape character too."""
        text = "a\x00b \ue000 \ue0000 \ue0001 \x00\ue000\x001 end"
        ev = make_event()
        ev.message, ev.stack = text, text + "!"
        await insert(store, ev)
        await store.write(lambda tx: tx.add_history(HistoryEntry(ev.id, now_us(), "queued", "queued",
                                                                 note=text)))
        got = await store.read(lambda tx: tx.get_event(ev.id))
        assert (got.message, got.stack) == (text, text + "!")
        assert (await store.read(lambda tx: tx.history(ev.id)))[-1].note == text
