"""Clock skew between nodes: six nodes whose clocks are hours apart report through a real queue. Their
`occurred_at` only decides the late-report rule; merging, the order of events and history, and leases
run on the queue's own clock (`now_us()` in queue/service.py, read once per operation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support import QueueServer, failure, wait_until

SKEWS_H = (-5, -3, -1, 1, 3, 5)


def at(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def us(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1_000_000)


def test_reports_from_skewed_nodes_merge_and_order_by_the_queue_s_clock(server: QueueServer) -> None:
    with server.client() as c:
        ids = []
        for n, skew in enumerate(SKEWS_H):
            # The same failure from every node, plus one of its own: one shared event, six singles.
            shared = c.post("/v1/events", json=failure("shared", node=f"ci-{n}", occurred_at=at(skew)))
            assert shared.status_code == (201 if n == 0 else 200), shared.text
            own = c.post("/v1/events", json=failure(f"own-{n}", node=f"ci-{n}", occurred_at=at(skew)))
            assert own.status_code == 201
            ids.append(own.json()["id"])
        shared_id = shared.json()["id"]
        ev = c.get(f"/v1/events/{shared_id}").json()
        assert ev["count"] == len(SKEWS_H) and sorted(ev["nodes"]) == [f"ci-{n}" for n in range(6)]
        # Newest first in arrival order, whatever each node's clock said.
        listed = [e["id"] for e in c.get("/v1/events", params={"limit": 100}).json()["events"]]
        assert [i for i in listed if i in ids] == ids[::-1]
        # Claims take the oldest queued by arrival, not by occurred_at (ci-0's is five hours "older").
        claimed = [c.post("/v1/events/next", json={"worker": "w", "lease": 1}).json() for _ in range(3)]
        assert [x["event"]["id"] for x in claimed] == [shared_id, ids[0], ids[1]]
        for x in claimed:
            # The lease is the queue's clock plus the lease: not shifted by the node's skew.
            ev = c.get(f"/v1/events/{x['event']['id']}").json()
            claim_at = next(h["at"] for h in ev["history"] if h["to"] == "processing")
            assert us(x["lease"]["expires_at"]) - us(claim_at) == 1_000_000
        # And it lapses by that clock: never before its expiry (a +5 h event does not lapse at once).
        wait_until(lambda: all(c.get(f"/v1/events/{x['event']['id']}").json()["status"] == "queued"
                               for x in claimed), timeout=20, what="the one-second leases to lapse")
        for x in claimed:
            hist = c.get(f"/v1/events/{x['event']['id']}").json()["history"]
            lapse = next(h for h in hist if "expired" in (h.get("note") or ""))
            assert us(lapse["at"]) >= us(x["lease"]["expires_at"])
            times = [us(h["at"]) for h in hist]
            assert times == sorted(times)  # history in the queue's order


def resolve(c, event_id: str) -> None:
    lease = c.post(f"/v1/events/{event_id}/claim", json={"worker": "w"}).json()["lease"]
    for to in ("analyzing", "verifying", "resolved"):
        assert c.post(f"/v1/events/{event_id}/transition",
                      json={"token": lease["token"], "to": to}).status_code == 200


def test_a_late_report_from_a_node_behind_joins_the_resolved_event(server: QueueServer) -> None:
    # A node an hour behind reports, after the resolution, a failure it saw before it: it happened
    # before the fix by the queue's reading of its clock, so it joins the resolved event (README
    # "Merging", rule 2); a node an hour ahead reporting the same now is a new failure.
    with server.client() as c:
        first = c.post("/v1/events", json=failure("late", node="ci-0")).json()["id"]
        resolve(c, first)
        late = c.post("/v1/events", json=failure("late", node="ci-1", occurred_at=at(-1))).json()
        assert (late["id"], late["merged"], late["status"]) == (first, True, "resolved")
        ahead = c.post("/v1/events", json=failure("late", node="ci-2", occurred_at=at(+1))).json()
        assert ahead["id"] != first and ahead["status"] == "queued"


def test_a_new_failure_from_a_node_three_hours_behind_is_not_swallowed(server: QueueServer) -> None:
    with server.client() as c:
        first = c.post("/v1/events", json=failure("slow", node="ci-0")).json()["id"]
        resolve(c, first)
        # A really late report from a node three hours slow (seen two hours before it is sent, long
        # before the fix) joins the resolved event: its reporter sends its clock with the report
        # (sent_at), and the queue shifts occurred_at by the difference.
        late = c.post("/v1/events", json=failure("slow", node="ci-4", occurred_at=at(-5),
                                                 sent_at=at(-3))).json()
        assert (late["id"], late["status"]) == (first, "resolved")
        # The fix did not hold on ci-3, whose clock is three hours slow too: a new failure, now.
        again = c.post("/v1/events", json=failure("slow", node="ci-3", occurred_at=at(-3),
                                                  sent_at=at(-3))).json()
        assert again["id"] != first and again["status"] in ("queued", "escalated")
        occurred = us(c.get(f"/v1/events/{again['id']}").json()["occurred_at"])
        assert abs(occurred - us(at(0))) < 60 * 1_000_000  # stored on the queue's clock


def test_a_reporter_three_hours_slow_reports_a_failure_of_now_as_now(tmp_path, server: QueueServer) -> None:
    # The Python reporter adds its clock when it sends (sent_at); on a machine three hours slow, the
    # failure it saw a minute ago by that clock is stored as a minute ago by the queue's.
    from healloop.sources.failure import Failure
    from healloop.sources.reporter import Reporter
    from healloop.sources.settings import SourceSettings
    from healloop.timeutil import now_us

    slow = 3 * 3600 * 1_000_000
    settings = SourceSettings(url=server.url, node="ci-5", spool_dir=tmp_path / "spool", budget_s=30)
    outcome = Reporter(settings, wall=lambda: now_us() - slow).send(Failure(
        source="pytest", spec="tests/test_a.py", test="test_a", message="boom",
        occurred_at=at(-3 - 1 / 60)))
    assert outcome.status == "delivered", outcome
    with server.client() as c:
        ev = c.get(f"/v1/events/{outcome.event_id}").json()
    assert abs(us(ev["occurred_at"]) - us(at(-1 / 60))) < 30 * 1_000_000
