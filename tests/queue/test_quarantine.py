"""Run history and quarantine on a real ``healloop serve`` process and its SQLite file: runs counted per
node, the test view, automatic quarantine after flaky calls (never for a test that always fails), a
quarantined failure kept from the agents, the release after clean runs on two nodes, a person's add and
lift, the roles, and bad input named."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import jsonschema

from healloop.queue.openapi import openapi_document
from tests.pgdb import db_of
from tests.support import QueueServer, failure, wait_until

SPEC, TEST = "cypress/e2e/spec1.cy.js", "checkout > pays 1"
# Flaky calls resolve a test's events in a row: well within the default flapping threshold (3 in an
# hour), which would escalate the next failure instead.
NO_FLAPPING = ("--flap-threshold", "1000")
DOC = openapi_document()


def _runs(c: httpx.Client, node: str, run_id: str, *tests: tuple[str, str]) -> dict[str, Any]:
    r = c.post("/v1/runs", json={"node": node, "run_id": run_id,
                                 "passed": [{"spec": s, "test": t} for s, t in tests]})
    assert r.status_code == 200, r.text
    return r.json()


def _view(c: httpx.Client, spec: str = SPEC, test: str = TEST) -> dict[str, Any]:
    r = c.get("/v1/test", params={"spec": spec, "test": test})
    assert r.status_code == 200, r.text
    return r.json()


def _called_flaky(c: httpx.Client, n: int, **extra: Any) -> str:
    """A failure of test n reported, claimed and resolved as an agent does when its unchanged rerun
    passed (label flaky). Returns the event id."""
    eid = c.post("/v1/events", json=failure(n, **extra)).json()["id"]
    got = c.post(f"/v1/events/{eid}/claim", json={"worker": "w"})
    assert got.status_code == 200, got.text
    tok = got.json()["lease"]["token"]
    for to, data in (("analyzing", None), ("verifying", None), ("resolved", {"label": "flaky"})):
        r = c.post(f"/v1/events/{eid}/transition", json={"token": tok, "to": to, "data": data})
        assert r.status_code == 200, r.text
    return eid


def test_runs_and_failures_count_per_node_and_a_run_counts_once(server: QueueServer) -> None:
    with server.client() as c:
        assert _runs(c, "node-a", "r1", (SPEC, TEST), ("other.cy.js", "t"))["counted"] == 2
        assert _runs(c, "node-a", "r1", (SPEC, TEST))["duplicate"] is True  # a retry of the same run
        _runs(c, "node-a", "r2", (SPEC, TEST))
        _runs(c, "node-b", "r1", (SPEC, TEST))  # another node's run of the same id is its own
        c.post("/v1/events", json=failure(1, node="node-b"))
        c.post("/v1/events", json=failure(1, node="node-c"))
        v = _view(c)
    jsonschema.validate(v, DOC["paths"]["/v1/test"]["get"]["responses"]["200"]["content"]["application/json"]
                        ["schema"])
    by = {n["node"]: n for n in v["nodes"]}
    assert (by["node-a"]["passes"], by["node-a"]["failures"]) == (2, 0)
    assert (by["node-b"]["passes"], by["node-b"]["failures"]) == (1, 1)
    assert (by["node-c"]["passes"], by["node-c"]["failures"]) == (0, 1)
    assert by["node-c"]["last_run"]["passed"] is False and by["node-a"]["last_run"]["passed"] is True
    assert v["runs"] == {"passes": 3, "failures": 2, "total": 5}
    assert v["failure_rate"] == 0.4 and v["flake_rate"] == 0.0
    assert v["last_good_run"]["node"] in ("node-a", "node-b")
    assert v["quarantine"] is None and len(v["events"]) == 1 and v["events"][0]["count"] == 2


def test_flaky_calls_quarantine_the_test_and_its_next_failure_is_kept_from_agents(
        make_server: Any) -> None:
    server = make_server("--quarantine-after", "3", "--quarantine-for", "2d", *NO_FLAPPING)
    with server.client() as c:
        _runs(c, "node-a", "r1", (SPEC, TEST))
        first = _called_flaky(c, 1)
        _called_flaky(c, 1)
        assert c.get("/v1/quarantines").json()["quarantines"] == []  # 2 of 3
        third = _called_flaky(c, 1)
        (q,) = c.get("/v1/quarantines").json()["quarantines"]
        assert (q["spec"], q["test"], q["owner"], q["automatic"]) == (SPEC, TEST, "healloop", True)
        assert "called flaky 3 times in 7 d" in q["reason"]
        notes = [h["note"] or "" for h in c.get(f"/v1/events/{third}").json()["history"]]
        assert any(n.startswith("quarantined the test: called flaky 3 times") for n in notes)
        # The next failure is reported, kept and counted, and no agent can claim it.
        r = c.post("/v1/events", json=failure(1, node="node-b"))
        assert r.status_code == 201 and r.json()["status"] == "quarantined"
        eid = r.json()["id"]
        assert c.post("/v1/events", json=failure(1, node="node-c")).json() == {
            "id": eid, "status": "quarantined", "count": 2, "merged": True}
        assert c.post("/v1/events/next", json={"worker": "w"}).status_code == 204
        assert c.post(f"/v1/events/{eid}/claim", json={"worker": "w"}).status_code == 409
        ev = c.get(f"/v1/events/{eid}").json()
        assert ev["history"][0]["to"] == "quarantined"
        assert "kept, not handed to an agent" in ev["history"][0]["note"]
        v = _view(c)
    assert v["flaky_calls"] == 3 and v["quarantine"]["owner"] == "healloop"
    assert {h["event_id"] for h in v["heals"]} >= {first, third}
    assert all(h["label"] == "flaky" for h in v["heals"])
    # runs: 1 pass + 5 failures (3 flaky calls, 2 quarantined reports)
    assert v["runs"]["total"] == 6 and v["flake_rate"] == round(3 / 6, 4)


def test_a_test_that_never_passed_is_not_quarantined_however_often_called_flaky(make_server: Any) -> None:
    server = make_server(*NO_FLAPPING)
    with server.client() as c:
        for _ in range(4):
            _called_flaky(c, 2)
        assert c.get("/v1/quarantines").json()["quarantines"] == []
        assert c.post("/v1/events", json=failure(2)).json()["status"] == "queued"


def test_clean_runs_on_two_nodes_release_the_quarantine_and_a_failure_starts_them_over(
        make_server: Any) -> None:
    server = make_server("--release-after", "3")
    with server.client() as c:
        q = c.post("/v1/quarantines", json={"spec": SPEC, "test": TEST, "owner": "ana", "seconds": 86400,
                                            "reason": "race in the payment iframe"})
        assert q.status_code == 201, q.text
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        for i in range(4):  # clean runs on one node alone free nothing
            assert _runs(c, "node-a", f"a{i}", (SPEC, TEST))["released"] == []
        assert c.get("/v1/quarantines").json()["quarantines"][0]["clean_runs"] == 4
        c.post("/v1/events", json=failure(1, node="node-b"))  # a failure: the clean runs start over
        (q,) = c.get("/v1/quarantines").json()["quarantines"]
        assert (q["clean_runs"], q["clean_nodes"]) == (0, [])
        _runs(c, "node-a", "a9", (SPEC, TEST))
        _runs(c, "node-a", "a10", (SPEC, TEST))
        released = _runs(c, "node-b", "b1", (SPEC, TEST))["released"]
        assert [(r["spec"], r["test"]) for r in released] == [(SPEC, TEST)]
        assert "3 clean runs on 2 nodes (node-a, node-b)" in released[0]["note"]
        assert c.get("/v1/quarantines").json()["quarantines"] == []
        ev = c.get(f"/v1/events/{eid}").json()
        assert ev["status"] == "resolved" and "quarantine released" in ev["history"][-1]["note"]
        v = _view(c)
        # The next failure is an agent's again.
        assert c.post("/v1/events", json=failure(1)).json()["status"] == "queued"
    (past,) = v["quarantines"]
    assert past["ended"] == "released" and past["lifted_by"] == "healloop" and past["owner"] == "ana"


def test_a_person_lifts_a_quarantine_and_its_failures_go_back_to_the_queue(server: QueueServer) -> None:
    with server.client() as c:
        queued = c.post("/v1/events", json=failure(3)).json()["id"]
        q = {"spec": "cypress/e2e/spec3.cy.js", "test": "checkout > pays 3", "owner": "li", "seconds": 600}
        assert c.post("/v1/quarantines", json=q).status_code == 201
        # The queued event no agent had taken yet is taken out of the queue.
        assert c.get(f"/v1/events/{queued}").json()["status"] == "quarantined"
        assert c.post("/v1/events/next", json={"worker": "w"}).status_code == 204
        lift = {"spec": q["spec"], "test": q["test"], "by": "li", "reason": "fixed the wait"}
        r = c.post("/v1/quarantines/lift", json=lift)
        assert r.status_code == 200 and r.json()["requeued"] == 1 and r.json()["ended"] == "lifted"
        assert c.post("/v1/events/next", json={"worker": "w"}).json()["event"]["id"] == queued
        again = c.post("/v1/quarantines/lift", json=lift)
        assert again.status_code == 404 and "no quarantine in force" in again.json()["message"]
        # An operator may close or requeue a quarantined event, as an escalated one.
        c.post("/v1/quarantines", json={**q, "spec": "cypress/e2e/spec5.cy.js", "test": "checkout > pays 5"})
        eid = c.post("/v1/events", json=failure(5, node="node-b")).json()["id"]
        assert c.get(f"/v1/events/{eid}").json()["status"] == "quarantined"
        assert c.post(f"/v1/events/{eid}/close", json={"note": "known"}).json()["status"] == "resolved"


def test_an_expired_quarantine_lets_the_next_failure_reach_an_agent(server: QueueServer) -> None:
    with server.client() as c:
        q = {"spec": "cypress/e2e/spec4.cy.js", "test": "checkout > pays 4", "owner": "li", "seconds": 1}
        assert c.post("/v1/quarantines", json=q).status_code == 201
        eid = c.post("/v1/events", json=failure(4)).json()["id"]
        assert c.get(f"/v1/events/{eid}").json()["status"] == "quarantined"
        wait_until(lambda: c.get("/v1/quarantines").json()["quarantines"] == [], timeout=10,
                   what="the quarantine to expire")
        r = c.post("/v1/events", json=failure(4, node="node-b")).json()
        assert (r["id"], r["status"]) == (eid, "queued")
        assert c.post("/v1/events/next", json={"worker": "w"}).json()["event"]["id"] == eid
        assert _view(c, q["spec"], q["test"])["quarantines"][0]["ended"] == "expired"


def test_roles_reporters_send_runs_and_read_quarantines_operators_set_them(make_server: Any) -> None:
    server = make_server(token="admin-secret")
    secrets = {}
    for role in ("reporter", "agent", "operator"):
        out = subprocess.run([sys.executable, "-m", "healloop", "token", "create", "--name", role, "--role",
                              role, "--db", str(db_of(server.db))],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        secrets[role] = out.stdout.strip().split()[-1]
    wait_until(lambda: server.client(secrets["reporter"]).get("/v1/quarantines").status_code == 200,
               timeout=10, what="the new tokens to be read")
    rep, agent, op = (server.client(secrets[r]) for r in ("reporter", "agent", "operator"))
    q = {"spec": SPEC, "test": TEST, "owner": "ana", "seconds": 600}
    assert rep.post("/v1/runs", json={"node": "n", "run_id": "1", "passed": []}).status_code == 200
    assert rep.post("/v1/quarantines", json=q).status_code == 403
    assert rep.get("/v1/test", params={"spec": SPEC, "test": TEST}).status_code == 403
    assert agent.get("/v1/test", params={"spec": SPEC, "test": TEST}).status_code == 200
    assert agent.post("/v1/quarantines", json=q).status_code == 403
    assert op.post("/v1/quarantines", json=q).status_code == 201
    assert op.post("/v1/runs", json={"node": "n", "run_id": "1", "passed": []}).status_code == 403
    assert len(rep.get("/v1/quarantines").json()["quarantines"]) == 1


def test_bad_input_is_named_and_changes_nothing(server: QueueServer) -> None:
    with server.client() as c:
        too_many = [{"spec": "a.py", "test": f"t{i}"} for i in range(2001)]
        r = c.post("/v1/runs", json={"node": "n", "run_id": "1", "passed": too_many})
        assert r.status_code == 400 and "passed" in r.json()["message"]
        outside = [{"spec": "/etc/x.py", "test": "t"}]
        r = c.post("/v1/runs", json={"node": "n", "run_id": "1", "passed": outside})
        assert r.status_code == 400 and "spec" in r.json()["message"]
        r = c.get("/v1/test", params={"spec": SPEC})
        assert r.status_code == 400 and r.json()["field"] == "test"
        r = c.get("/v1/test", params={"spec": SPEC, "test": TEST, "node": "x"})
        assert r.status_code == 400 and "not a known parameter" in r.json()["message"]
        r = c.post("/v1/quarantines", json={"spec": SPEC, "test": TEST, "owner": "a", "seconds": 91 * 86400})
        assert r.status_code == 400 and "seconds" in r.json()["message"]
        assert c.get("/v1/quarantines").json()["quarantines"] == []
        assert _view(c)["runs"]["total"] == 0


def test_a_quarantine_holds_across_a_restart_of_the_queue(make_server: Any) -> None:
    first = make_server()
    with first.client() as c:
        q = {"spec": "cypress/e2e/spec6.cy.js", "test": "checkout > pays 6", "owner": "li", "seconds": 3600}
        assert c.post("/v1/quarantines", json=q).status_code == 201
    first.stop()
    again = make_server()  # the same SQLite file: the quarantines in force are read at start
    with again.client() as c:
        assert c.post("/v1/events", json=failure(6)).json()["status"] == "quarantined"
        assert c.post("/v1/events", json=failure(7)).json()["status"] == "queued"
