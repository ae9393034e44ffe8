"""Claims, leases, moves and attempts against a real server process."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.support import QueueServer, failure, wait_until


def _claim(c, worker="w", **kw):
    r = c.post("/v1/events/next", json={"worker": worker, **kw})
    assert r.status_code == 200, r.text
    body = r.json()
    return body["event"]["id"], body["lease"]["token"], body


def _move(c, eid, tok, to, **kw):
    return c.post(f"/v1/events/{eid}/transition", json={"token": tok, "to": to, **kw})


def test_claim_hands_out_processing_with_a_lease_and_history(server: QueueServer) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        got_id, _, body = _claim(c, "agent-1", lease=30)
        assert got_id == eid and body["event"]["status"] == "processing"
        assert body["lease"]["fencing"] == 1 and body["lease"]["expires_at"].endswith("Z")
        assert c.post("/v1/events/next", json={"worker": "agent-2"}).status_code == 204
        ev = c.get(f"/v1/events/{eid}").json()
        assert [(h["from"], h["to"], h["worker"]) for h in ev["history"]] == [
            (None, "queued", None), ("queued", "processing", "agent-1")]


def test_claim_order_is_priority_then_oldest(server: QueueServer) -> None:
    with server.client() as c:
        a = c.post("/v1/events", json=failure(1, priority=4)).json()["id"]
        b = c.post("/v1/events", json=failure(2, priority=2)).json()["id"]
        d = c.post("/v1/events", json=failure(3, priority=4)).json()["id"]
        e = c.post("/v1/events", json=failure(4, priority=5)).json()["id"]
        c.post("/v1/events", json=failure(4, priority=1))  # a merge can make an event more urgent
        assert [_claim(c)[0] for _ in range(4)] == [e, b, a, d]


def test_full_happy_path_and_data_is_kept(server: QueueServer) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        _, tok, _ = _claim(c)
        for to in ("analyzing", "fixing", "verifying"):
            r = _move(c, eid, tok, to, note=f"now {to}", data={"actions": [{"tool": "edit_file"}]})
            assert r.status_code == 200 and r.json()["status"] == to
        assert r.json()["attempt"] == 1
        r = _move(c, eid, tok, "resolved", note="verified")
        assert r.json()["status"] == "resolved" and r.json()["resolved_at"]
        ev = c.get(f"/v1/events/{eid}").json()
        assert [h["to"] for h in ev["history"]] == [
            "queued", "processing", "analyzing", "fixing", "verifying", "resolved"]
        assert ev["history"][3]["data"] == {"actions": [{"tool": "edit_file"}]}
        assert ev["history"][5]["note"] == "verified"
        # The lease ended with the event: the token no longer works anywhere.
        assert _move(c, eid, tok, "analyzing").status_code == 409
        assert c.post(f"/v1/events/{eid}/heartbeat", json={"token": tok}).status_code == 409


ILLEGAL = [
    ("processing", "fixing"), ("processing", "verifying"), ("processing", "resolved"),
    ("processing", "queued"), ("processing", "processing"), ("analyzing", "resolved"),
    ("analyzing", "queued"), ("fixing", "resolved"), ("fixing", "fixing"), ("verifying", "fixing"),
]
PATHS = {"processing": [], "analyzing": ["analyzing"], "fixing": ["analyzing", "fixing"],
         "verifying": ["analyzing", "verifying"]}


@pytest.mark.parametrize(("src", "dst"), ILLEGAL)
def test_illegal_moves_are_409_and_change_nothing(server: QueueServer, src: str, dst: str) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        _, tok, _ = _claim(c)
        for to in PATHS[src]:
            assert _move(c, eid, tok, to).status_code == 200
        r = _move(c, eid, tok, dst)
        assert r.status_code == 409 and r.json()["error"] == "illegal_transition"
        assert f"from {src} to {dst}" in r.json()["message"]
        assert c.get(f"/v1/events/{eid}").json()["status"] == src


def test_unknown_state_is_400_wrong_token_409_unknown_id_404(server: QueueServer) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        _, tok, _ = _claim(c)
        r = _move(c, eid, tok, "done")
        assert r.status_code == 400 and r.json()["field"] == "to"
        r = _move(c, eid, "not-the-token", "analyzing")
        assert r.status_code == 409 and r.json()["error"] == "lease_lost"
        assert _move(c, "evt_unknown", tok, "analyzing").status_code == 404
        r = c.post(f"/v1/events/{eid}/transition", json={"to": "analyzing"})
        assert r.status_code == 400 and r.json()["field"] == "token"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "worker"), ({"worker": ""}, "worker"), ({"worker": "w", "wait": 31}, "wait"),
    ({"worker": "w", "wait": -1}, "wait"), ({"worker": "w", "lease": 0}, "lease"),
    ({"worker": "w", "lease": 3601}, "lease"), ({"worker": "w", "lease": "long"}, "lease"),
])
def test_bad_claims_are_400_naming_the_field(server: QueueServer, body, field) -> None:
    with server.client() as c:
        c.post("/v1/events", json=failure(1))
        r = c.post("/v1/events/next", json=body)
        assert r.status_code == 400 and r.json()["field"] == field
        assert c.get("/v1/events").json()["events"][0]["status"] == "queued"


def test_claim_by_id_takes_that_queued_event_and_only_once(server: QueueServer) -> None:
    with server.client() as c:
        first = c.post("/v1/events", json=failure(1, priority=1)).json()["id"]
        second = c.post("/v1/events", json=failure(2, priority=5)).json()["id"]
        r = c.post(f"/v1/events/{second}/claim", json={"worker": "agent-1", "lease": 30})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["event"]["id"] == second and body["event"]["status"] == "processing"
        assert body["lease"]["fencing"] == 1 and body["lease"]["token"]
        again = c.post(f"/v1/events/{second}/claim", json={"worker": "agent-2"})
        assert again.status_code == 409 and "processing" in again.json()["message"]
        assert c.post("/v1/events/evt_nope/claim", json={"worker": "w"}).status_code == 404
        bad = c.post(f"/v1/events/{first}/claim", json={"worker": "w", "lease": 0})
        assert bad.status_code == 400 and bad.json()["field"] == "lease"
        assert _claim(c)[0] == first  # the next claim skips the held one
        ev = c.get(f"/v1/events/{second}").json()
        assert [(h["from"], h["to"], h["worker"]) for h in ev["history"]] == [
            (None, "queued", None), ("queued", "processing", "agent-1")]
        assert _move(c, second, body["lease"]["token"], "analyzing").status_code == 200


def test_a_get_never_claims(server: QueueServer) -> None:
    with server.client() as c:
        c.post("/v1/events", json=failure(1))
        assert c.get("/v1/events/next").status_code == 404  # 'next' is not an event id
        assert c.get("/v1/events").json()["events"][0]["status"] == "queued"


def test_three_attempts_then_the_fourth_is_refused_and_agent_escalates(server: QueueServer) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        _, tok, _ = _claim(c)
        assert _move(c, eid, tok, "analyzing").json()["attempt"] == 1
        for attempt in (2, 3):
            _move(c, eid, tok, "fixing")
            _move(c, eid, tok, "verifying")
            assert _move(c, eid, tok, "analyzing").json()["attempt"] == attempt
        _move(c, eid, tok, "fixing")
        _move(c, eid, tok, "verifying")
        r = _move(c, eid, tok, "analyzing")
        assert r.status_code == 409 and "escalate" in r.json()["message"]
        r = _move(c, eid, tok, "escalated", note="root cause: ...")
        assert r.status_code == 200 and r.json()["attempt"] == 3


def test_max_attempts_is_configurable(make_server) -> None:
    s = make_server("--max-attempts", "1")
    with s.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        _, tok, _ = _claim(c)
        for to in ("analyzing", "verifying"):
            _move(c, eid, tok, to)
        assert _move(c, eid, tok, "analyzing").status_code == 409


def test_lapsed_lease_requeues_at_once_and_fences_the_old_holder(server: QueueServer) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        _, old, first = _claim(c, "dying-agent", lease=1)
        _move(c, eid, old, "analyzing")
        # No heartbeat: the server itself puts it back, without anyone claiming.
        wait_until(lambda: c.get(f"/v1/events/{eid}").json()["status"] == "queued", 5,
                   what="lease lapse")
        ev = c.get(f"/v1/events/{eid}").json()
        last = ev["history"][-1]
        assert (last["from"], last["to"], last["worker"]) == ("analyzing", "queued", "dying-agent")
        assert "expired" in last["note"] and ev["attempt"] == 1 and ev["lapses"] == 1
        # The old token is refused everywhere, before and after a new claim.
        assert c.post(f"/v1/events/{eid}/heartbeat", json={"token": old}).status_code == 409
        assert _move(c, eid, old, "fixing").status_code == 409
        _, new, second = _claim(c, "agent-2")
        assert second["lease"]["fencing"] == first["lease"]["fencing"] + 1
        assert second["event"]["attempt"] == 1
        for r in (_move(c, eid, old, "analyzing"),
                  c.post(f"/v1/events/{eid}/release", json={"token": old}),
                  c.post(f"/v1/events/{eid}/heartbeat", json={"token": old})):
            assert r.status_code == 409 and r.json()["error"] == "lease_lost"
        assert _move(c, eid, new, "analyzing").json()["attempt"] == 1


def test_third_lapse_escalates(server: QueueServer) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        for n in (1, 2, 3):
            _claim(c, f"a{n}", lease=1)
            wait_until(lambda n=n: c.get(f"/v1/events/{eid}").json()["lapses"] == n, 5, what=f"lapse {n}")
        ev = c.get(f"/v1/events/{eid}").json()
        assert ev["status"] == "escalated" and "agents keep dying" in ev["history"][-1]["note"]
        assert c.post("/v1/events/next", json={"worker": "w"}).status_code == 204


def test_heartbeats_keep_the_lease(server: QueueServer) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        _, tok, body = _claim(c, lease=1)
        expires = body["lease"]["expires_at"]
        deadline = time.monotonic() + 2.5  # well past the 1 s lease
        while time.monotonic() < deadline:
            r = c.post(f"/v1/events/{eid}/heartbeat", json={"token": tok})
            assert r.status_code == 200, r.text
            assert r.json()["expires_at"] >= expires
            expires = r.json()["expires_at"]
            time.sleep(0.2)  # the heartbeat cadence of an agent, not a wait for a result
        assert c.get(f"/v1/events/{eid}").json()["status"] == "processing"
        assert _move(c, eid, tok, "analyzing").status_code == 200


def test_release_returns_the_event_to_the_queue_now(server: QueueServer) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        _, tok, _ = _claim(c, "a1")
        _move(c, eid, tok, "analyzing")
        r = c.post(f"/v1/events/{eid}/release", json={"token": tok, "note": "shutting down"})
        assert r.status_code == 200 and r.json()["status"] == "queued"
        ev = c.get(f"/v1/events/{eid}").json()
        assert (ev["history"][-1]["from"], ev["history"][-1]["note"]) == ("analyzing", "shutting down")
        assert ev["lapses"] == 0 and ev["attempt"] == 1
        assert c.post(f"/v1/events/{eid}/release", json={"token": tok}).status_code == 409
        assert _claim(c, "a2")[0] == eid


def test_long_poll_returns_as_soon_as_an_event_is_reported(server: QueueServer) -> None:
    result: dict = {}

    def waiter() -> None:
        with server.client() as c:
            t0 = time.monotonic()
            r = c.post("/v1/events/next", json={"worker": "w", "wait": 30})
            result.update(status=r.status_code, body=r.json(), waited=time.monotonic() - t0)

    t = threading.Thread(target=waiter)
    t.start()
    with server.client() as c:
        wait_until(lambda: "healloop_claim_waiters 1" in c.get("/metrics").text, 10,
                   what="the claim to park")
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
    t.join(10)
    assert not t.is_alive()
    assert result["status"] == 200 and result["body"]["event"]["id"] == eid
    assert result["waited"] < 25  # returned on the report, not at the end of its 30 s wait


def test_long_poll_times_out_with_204(server: QueueServer) -> None:
    with server.client() as c:
        r = c.post("/v1/events/next", json={"worker": "w", "wait": 0.5})
        assert r.status_code == 204


def test_requeue_and_close_are_for_escalated_events_only(server: QueueServer) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        r = c.post(f"/v1/events/{eid}/requeue", json={"note": "try again"})
        assert r.status_code == 409 and "queued" in r.json()["message"]
        assert c.post(f"/v1/events/{eid}/close", json={}).status_code == 409
        _, tok, _ = _claim(c)
        _move(c, eid, tok, "analyzing")
        _move(c, eid, tok, "escalated")
        r = c.post(f"/v1/events/{eid}/requeue", json={"note": "fixed the env"})
        assert r.status_code == 200 and r.json()["status"] == "queued"
        assert r.json()["attempt"] == 0 and r.json()["lapses"] == 0
        _, tok, _ = _claim(c)
        _move(c, eid, tok, "escalated")
        r = c.post(f"/v1/events/{eid}/close", content=b"")
        assert r.status_code == 200 and r.json()["status"] == "resolved"
        hist = c.get(f"/v1/events/{eid}").json()["history"]
        assert ("escalated", "queued", "fixed the env") in [(h["from"], h["to"], h["note"]) for h in hist]
        assert hist[-1]["to"] == "resolved"
        assert c.post("/v1/events/evt_x/close", json={}).status_code == 404


def test_sigterm_answers_parked_claims_with_204_and_keeps_the_data(tmp_path) -> None:
    s = QueueServer(tmp_path / "e.db").start()
    result: dict = {}

    def waiter() -> None:
        with s.client() as c:
            result["status"] = c.post("/v1/events/next", json={"worker": "w", "wait": 30}).status_code

    with s.client() as c:
        eid = c.post("/v1/events", json=failure(1, priority=1)).json()["id"]
        c.post("/v1/events/next", json={"worker": "w0"})
        t = threading.Thread(target=waiter)
        t.start()
        wait_until(lambda: "healloop_claim_waiters 1" in c.get("/metrics").text, 10, what="the park")
    s.stop()  # SIGTERM, waits for the process
    t.join(10)
    # uvicorn ends a SIGTERM-ed server by re-raising the signal after its clean shutdown
    assert result == {"status": 204} and s.proc.returncode in (0, -signal.SIGTERM)
    again = QueueServer(tmp_path / "e.db").start()
    try:
        with again.client() as c:
            assert c.get(f"/v1/events/{eid}").json()["status"] == "processing"
    finally:
        again.stop()
