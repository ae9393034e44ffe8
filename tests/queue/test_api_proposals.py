"""Proposed fixes against a real server process: verifying → proposed → resolved | escalated, decided by a
person (approve, reject) or by the proposal's expiry, which a restart does not lose (issue 12)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import QueueServer, failure, wait_until


def _propose(c: httpx.Client, n: int = 1) -> tuple[str, str]:
    eid = c.post("/v1/events", json=failure(n)).json()["id"]
    r = c.post("/v1/events/next", json={"worker": "agent-1"})
    assert r.status_code == 200, r.text
    tok = r.json()["lease"]["token"]
    for to in ("analyzing", "fixing", "verifying"):
        assert c.post(f"/v1/events/{eid}/transition", json={"token": tok, "to": to}).status_code == 200
    r = c.post(f"/v1/events/{eid}/transition", json={
        "token": tok, "to": "proposed", "note": "verified on healloop/x; waiting for approval",
        "data": {"proposal": {"branch": f"healloop/{eid}", "node": "node-a", "sha": "abc1234"}}})
    assert r.status_code == 200, r.text
    return eid, tok


def _last(ev: dict[str, Any]) -> dict[str, Any]:
    return ev["history"][-1]


def test_a_proposal_ends_the_lease_absorbs_repeats_and_is_approved_once(server: QueueServer) -> None:
    with server.client() as c:
        eid, tok = _propose(c)
        ev = c.get(f"/v1/events/{eid}").json()
        assert ev["status"] == "proposed" and ev["worker"] is None and ev["lease_expires_at"] is None
        assert ev["proposal_expires_at"].endswith("Z")
        # The agent is done with it: its token no longer holds anything.
        assert c.post(f"/v1/events/{eid}/heartbeat", json={"token": tok}).status_code == 409
        # The same failure reported again waits with the proposal instead of being repaired again.
        again = c.post("/v1/events", json=failure(1)).json()
        assert again == {"id": eid, "status": "proposed", "count": 2, "merged": True}
        assert c.post("/v1/events/next", json={"worker": "agent-2"}).status_code == 204

        r = c.post(f"/v1/events/{eid}/approve", json={"by": "qa-lead", "commit": "def5678",
                                                      "data": {"fast_forward": True}})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "resolved" and r.json()["resolved_at"]
        step = _last(c.get(f"/v1/events/{eid}").json())
        assert (step["from"], step["to"], step["note"]) == ("proposed", "resolved", "fix approved by qa-lead")
        assert step["data"] == {"fast_forward": True, "by": "qa-lead", "decision": "approved",
                                "commit": {"sha": "def5678"}}
        twice = c.post(f"/v1/events/{eid}/approve", json={"by": "qa-lead"})
        assert twice.status_code == 409
        assert "is resolved; only a proposed fix can be approved or rejected" in twice.json()["message"]


def test_a_rejection_escalates_with_who_and_why_and_bad_input_is_named(server: QueueServer) -> None:
    with server.client() as c:
        eid, _ = _propose(c)
        bad = c.post(f"/v1/events/{eid}/reject", json={"reason": "no"})
        assert bad.status_code == 400 and "by" in bad.json()["message"]
        bad = c.post(f"/v1/events/{eid}/approve", json={"by": "qa", "commit": "not a sha"})
        assert bad.status_code == 400 and "commit" in bad.json()["message"]
        assert c.post("/v1/events/evt_nope/approve", json={"by": "qa"}).status_code == 404
        assert c.get(f"/v1/events/{eid}").json()["status"] == "proposed"  # nothing half-done

        r = c.post(f"/v1/events/{eid}/reject", json={"by": "qa-lead", "reason": "it picks the wrong row"})
        assert r.status_code == 200 and r.json()["status"] == "escalated"
        step = _last(c.get(f"/v1/events/{eid}").json())
        assert step["note"] == "fix rejected by qa-lead: it picks the wrong row"
        assert step["data"]["decision"] == "rejected"
        # A held event is not a proposal: a person cannot approve it out from under its agent.
        held = c.post("/v1/events", json=failure(2)).json()["id"]
        assert c.post("/v1/events/next", json={"worker": "w"}).status_code == 200
        refused = c.post(f"/v1/events/{held}/approve", json={"by": "qa"})
        assert refused.status_code == 409 and "is processing" in refused.json()["message"]


def test_an_unanswered_proposal_expires_to_escalated_even_across_a_restart(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server("--proposal-ttl", "1")
    with server.client() as c:
        eid, _ = _propose(c)
        wait_until(lambda: c.get(f"/v1/events/{eid}").json()["status"] == "escalated", timeout=20,
                   what="the proposal to expire")
        step = _last(c.get(f"/v1/events/{eid}").json())
        assert step["from"] == "proposed" and step["data"] == {"decision": "expired"}
        assert step["note"] == (f"proposal expired: neither approved nor rejected within 1 s; "
                                f"its branch healloop/{eid} is left on node node-a")
    server.stop()

    # Proposed while the server is up, expired while it is down: the restart sweeps it.
    long_lived = make_server("--proposal-ttl", "3")
    with long_lived.client() as c:
        second, _ = _propose(c, 2)
    long_lived.kill9()
    restarted = make_server("--proposal-ttl", "3")
    with restarted.client() as c:
        wait_until(lambda: c.get(f"/v1/events/{second}").json()["status"] == "escalated", timeout=20,
                   what="the proposal to expire after the restart")


def test_an_approved_plan_goes_back_to_the_queue_with_the_plan_and_a_rejected_one_escalates(
    server: QueueServer,
) -> None:
    plan = {"playbook": "service_restart", "label": None,
            "actions": [{"tool": "service_restart", "args": {"name": "web"}, "why": "web is down"}]}
    with server.client() as c:
        ids = []
        for n in (1, 2):
            eid = c.post("/v1/events", json=failure(n)).json()["id"]
            tok = c.post("/v1/events/next", json={"worker": "agent-1"}).json()["lease"]["token"]
            r = c.post(f"/v1/events/{eid}/transition", json={"token": tok, "to": "analyzing"})
            assert r.status_code == 200, r.text
            # analyzing -> proposed: a plan, not yet carried out, waits for a person.
            proposal = {"kind": "plan", "classes": ["restart"], "node": "node-a", "plan": plan}
            r = c.post(f"/v1/events/{eid}/transition", json={
                "token": tok, "to": "proposed", "note": "planned service_restart name=web waits for approval",
                "data": {"proposal": proposal}})
            assert r.status_code == 200, r.text
            ids.append(eid)
        # Not carried out yet: no agent gets it while it waits.
        assert c.post("/v1/events/next", json={"worker": "agent-2"}).status_code == 204

        r = c.post(f"/v1/events/{ids[0]}/approve", json={"by": "ops", "data": {"node": "node-a"}})
        assert r.status_code == 200, r.text
        ev = c.get(f"/v1/events/{ids[0]}").json()
        assert ev["status"] == "queued" and ev["attempt"] == 0 and ev["proposal_expires_at"] is None
        step = _last(ev)
        assert (step["from"], step["to"]) == ("proposed", "queued")
        assert step["note"] == "plan approved by ops; back in the queue for an agent to carry it out"
        assert step["data"]["approved"] == {"plan": plan, "classes": ["restart"]}
        # Carried out by whoever claims it next.
        claimed = c.post("/v1/events/next", json={"worker": "agent-2"})
        assert claimed.status_code == 200 and claimed.json()["event"]["id"] == ids[0]

        r = c.post(f"/v1/events/{ids[1]}/reject", json={"by": "ops", "reason": "not in business hours"})
        assert r.status_code == 200 and r.json()["status"] == "escalated"
        assert _last(c.get(f"/v1/events/{ids[1]}").json())["note"] == (
            "plan rejected by ops: not in business hours")
