"""Several `healloop serve` processes on one PostgreSQL database (a fresh one per test): a report on one
server merges with a report on another, a long poll on one wakes for a report on another, and each
event is claimed once; a kill -9 of one server under load loses no acknowledged write."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.pgdb import fresh_database
from tests.support import QueueServer, failure, wait_until


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[QueueServer]]:
    with fresh_database() as url:
        started = [QueueServer(url, "--artifacts-dir", str(tmp_path / "artifacts")).start() for _ in range(3)]
        try:
            yield started
        finally:
            for s in started:
                s.stop()


def test_reports_on_different_servers_merge_into_one_event(servers: list[QueueServer]) -> None:
    ids = set()
    for s in servers:
        with s.client() as c:
            r = c.post("/v1/events", json=failure(1))
            assert r.status_code in (200, 201), r.text
            ids.add(r.json()["id"])
    assert len(ids) == 1
    with servers[0].client() as c:
        assert c.get(f"/v1/events/{ids.pop()}").json()["count"] == 3


def test_a_long_poll_on_one_server_wakes_for_a_report_on_another(servers: list[QueueServer]) -> None:
    waiting, reporting = servers[0], servers[1]
    result: dict = {}

    def waiter() -> None:
        with waiting.client() as c:
            r = c.post("/v1/events/next", json={"worker": "w", "wait": 30})
            result.update(status=r.status_code, body=r.json() if r.status_code == 200 else None)

    t = threading.Thread(target=waiter)
    t.start()
    with waiting.client() as c:
        wait_until(lambda: "healloop_claim_waiters 1" in c.get("/metrics").text, 10, what="the claim to park")
    with reporting.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
    # The poll would answer 204 only after its 30 s: woken by NOTIFY, it returns with the event at once.
    t.join(40)
    assert result["status"] == 200 and result["body"]["event"]["id"] == eid


def test_claims_spread_over_servers_take_each_event_once(servers: list[QueueServer]) -> None:
    with servers[0].client() as c:
        for i in range(30):
            assert c.post("/v1/events", json=failure(i)).status_code == 201
    got: list[str] = []
    lock = threading.Lock()

    def worker(s: QueueServer, name: str) -> None:
        with s.client() as c:
            while True:
                r = c.post("/v1/events/next", json={"worker": name})
                if r.status_code == 204:
                    return
                with lock:
                    got.append(r.json()["event"]["id"])

    threads = [threading.Thread(target=worker, args=(s, f"w{i}-{j}")) for i, s in enumerate(servers)
               for j in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 30 and len(set(got)) == 30


def test_a_lease_of_a_killed_server_lapses_on_another(servers: list[QueueServer]) -> None:
    """Server 0 grants a 1 s lease and dies with kill -9: another server, which never heard of that
    lease, still puts the event back to queued (it looks for lapsed leases every few seconds)."""
    doomed, other = servers[0], servers[1]
    with doomed.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        r = c.post("/v1/events/next", json={"worker": "w", "lease": 1})
        assert r.status_code == 200 and r.json()["event"]["id"] == eid
    doomed.kill9()
    with other.client() as c:
        wait_until(lambda: c.get(f"/v1/events/{eid}").json()["status"] == "queued", 30,
                   what="the lapsed lease to be requeued by a surviving server")
        assert c.get(f"/v1/events/{eid}").json()["lapses"] == 1


@pytest.mark.slow
def test_kill_9_of_one_server_under_load_loses_no_acknowledged_write(servers: list[QueueServer]) -> None:
    """Reporters and movers spread over three servers; server 0 dies with kill -9 mid-load. Every report
    answered 201 (before the kill, or by a survivor after it), every acknowledged claim and transition is
    in the database, read back through a survivor, and the survivors keep serving."""
    doomed = servers[0]
    accepted: dict[str, tuple[int, dict]] = {}  # event id -> (server index that said 201, the report)
    claimed: dict[str, tuple[str, int]] = {}  # event id -> (worker, fencing of its acknowledged claim)
    moved: dict[str, str] = {}  # event id -> the state an acknowledged transition put it in
    after_kill: list[str] = []  # reports acknowledged by a survivor once server 0 was dead
    unexpected: list[str] = []  # answers no write should get (a thread's assert would only end it)
    killed = threading.Event()
    stop = threading.Event()
    lock = threading.Lock()

    def reporter(i: int, k: int) -> None:
        # A generous timeout: a request that timed out on a survivor might still commit, and the count
        # at the end allows one unanswered report only per reporter of the killed server.
        with servers[i].client(timeout=60) as c:
            n = 0
            while not stop.is_set():
                body = failure(f"{i}-{k}-{n}", message=f"report {i}-{k}-{n}")
                n += 1
                try:
                    r = c.post("/v1/events", json=body)
                except httpx.TransportError:
                    return  # its server died mid-request: that report was never acknowledged
                if r.status_code != 201:
                    unexpected.append(f"report on server {i}: {r.status_code} {r.text}")
                    return
                with lock:
                    accepted[r.json()["id"]] = (i, body)
                    if killed.is_set() and i != 0:
                        after_kill.append(r.json()["id"])

    def mover(i: int) -> None:
        worker = f"mover-{i}"
        with servers[i].client(timeout=60) as c:
            while not stop.is_set():
                try:
                    r = c.post("/v1/events/next", json={"worker": worker, "lease": 600})
                    if r.status_code != 200:
                        continue
                    eid, tok = r.json()["event"]["id"], r.json()["lease"]["token"]
                    with lock:
                        claimed[eid] = (worker, r.json()["lease"]["fencing"])
                    for to in ("analyzing", "fixing"):
                        if c.post(f"/v1/events/{eid}/transition",
                                  json={"token": tok, "to": to}).status_code != 200:
                            break
                        with lock:
                            moved[eid] = to
                except httpx.TransportError:
                    return

    threads = [threading.Thread(target=reporter, args=(i, k)) for i in range(3) for k in range(2)]
    threads += [threading.Thread(target=mover, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        def built_up() -> bool:
            with lock:
                per_server = [sum(1 for s, _ in accepted.values() if s == i) for i in range(3)]
                movers = {w for w, _ in claimed.values()}
                return min(per_server) >= 50 and len(moved) >= 20 and len(movers) == 3
        wait_until(built_up, 120, what="load to build up on all three servers")
        doomed.kill9()
        killed.set()
        # The survivors keep serving: reports and moves go on being acknowledged after the kill.
        moved_at_kill = len(moved)
        wait_until(lambda: len(after_kill) >= 100 and len(moved) >= moved_at_kill + 10, 120,
                   what="the surviving servers to acknowledge more reports and moves")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert not unexpected, unexpected

    with servers[1].client() as c:
        for eid, (_, body) in accepted.items():
            r = c.get(f"/v1/events/{eid}")
            assert r.status_code == 200, f"acknowledged report {eid} was lost"
            assert r.json()["test"] == body["test"] and r.json()["message"] == body["message"]
        for eid, (worker, fencing) in claimed.items():
            ev = c.get(f"/v1/events/{eid}").json()
            assert ev["fencing"] >= fencing, f"acknowledged claim of {eid} was lost"
            assert worker in [h["worker"] for h in ev["history"] if h["to"] == "processing"]
        for eid, to in moved.items():
            ev = c.get(f"/v1/events/{eid}").json()
            assert to in [h["to"] for h in ev["history"]], f"acknowledged move of {eid} to {to} was lost"
        # The database holds exactly the events acknowledged, plus at most one per reporter that died with
        # its request in flight (committed, its answer lost with the server).
        total = sum(int(m) for m in re.findall(
            r'healloop_events\{status="\w+"\} (\d+)', c.get("/metrics").text))
        assert len(accepted) <= total <= len(accepted) + 2
