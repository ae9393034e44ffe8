"""Several `healloop serve` processes on one PostgreSQL database (a fresh one per test): a report on one
server merges with a report on another, a long poll on one wakes for a report on another, and each
event is claimed once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

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
