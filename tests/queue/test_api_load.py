"""Many workers in several processes, and a kill -9 under load: real processes, real SQLite."""

from __future__ import annotations

import multiprocessing as mp
import threading
from pathlib import Path

import httpx
import pytest

from tests.support import QueueServer, failure, wait_until


def _worker_process(url: str, name: str, threads: int, total: int, out) -> None:
    """Claim and resolve events until all ``total`` are resolved; report what was claimed."""
    claimed: list[tuple[str, str, int]] = []
    lock = threading.Lock()

    def work(worker: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            while True:
                r = c.post("/v1/events/next", json={"worker": worker, "wait": 0.5})
                if r.status_code == 204:
                    done = c.get("/v1/events", params={"status": "resolved", "limit": 1000})
                    if len(done.json()["events"]) >= total:
                        return
                    continue
                body = r.json()
                eid, tok = body["event"]["id"], body["lease"]["token"]
                with lock:
                    claimed.append((eid, worker, body["lease"]["fencing"]))
                for to in ("analyzing", "fixing", "verifying", "resolved"):
                    m = c.post(f"/v1/events/{eid}/transition", json={"token": tok, "to": to})
                    assert m.status_code == 200, m.text

    ts = [threading.Thread(target=work, args=(f"{name}-t{i}",)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(claimed)


def test_eight_workers_in_four_processes_claim_each_of_60_events_exactly_once(
        server: QueueServer) -> None:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker_process, args=(server.url, f"p{i}", 2, 60, out))
             for i in range(4)]
    for p in procs:
        p.start()
    with server.client() as c:
        wait_until(lambda: "healloop_claim_waiters" in c.get("/metrics").text, 30)
        ids = [c.post("/v1/events", json=failure(i)).json()["id"] for i in range(60)]
    claimed = [row for _ in procs for row in out.get(timeout=120)]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert sorted(eid for eid, _, _ in claimed) == sorted(ids)
    assert all(fencing == 1 for _, _, fencing in claimed)
    assert len({w for _, w, _ in claimed}) > 1  # the work really was shared
    with server.client() as c:
        for eid in ids:
            hist = c.get(f"/v1/events/{eid}").json()["history"]
            assert [h["to"] for h in hist].count("processing") == 1
            assert hist[-1]["to"] == "resolved"


@pytest.mark.reliability  # item 1 of the reliability suite (tests/reliability), kept beside its peers
def test_kill_9_under_load_loses_no_accepted_report_or_move(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    server = QueueServer(db).start()
    accepted: dict[str, dict] = {}
    claimed: dict[str, int] = {}  # event id -> the fencing number its acknowledged claim returned
    moved: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def reporter(k: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            i = 0
            while not stop.is_set():
                body = failure(f"{k}-{i}", message=f"报告 {k}-{i}")
                try:
                    r = c.post("/v1/events", json=body)
                except httpx.TransportError:
                    return  # the server died mid-request: that report was never acknowledged
                if r.status_code == 201:
                    with lock:
                        accepted[r.json()["id"]] = body
                i += 1

    def mover() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            while not stop.is_set():
                try:
                    r = c.post("/v1/events/next", json={"worker": "mover"})
                    if r.status_code != 200:
                        continue
                    eid, tok = r.json()["event"]["id"], r.json()["lease"]["token"]
                    with lock:
                        claimed[eid] = r.json()["lease"]["fencing"]
                    if c.post(f"/v1/events/{eid}/transition",
                              json={"token": tok, "to": "analyzing"}).status_code == 200:
                        with lock:
                            moved[eid] = "analyzing"
                except httpx.TransportError:
                    return

    threads = [threading.Thread(target=reporter, args=(k,)) for k in range(4)]
    threads.append(threading.Thread(target=mover))
    for t in threads:
        t.start()
    wait_until(lambda: len(accepted) >= 300 and len(moved) >= 20, 60, what="load to build up")
    server.kill9()
    stop.set()
    for t in threads:
        t.join(10)
    snapshot = dict(accepted)

    again = QueueServer(db).start()
    try:
        with again.client() as c:
            for eid, body in snapshot.items():
                r = c.get(f"/v1/events/{eid}")
                assert r.status_code == 200, f"accepted report {eid} was lost"
                assert r.json()["test"] == body["test"] and r.json()["message"] == body["message"]
            for eid in moved:
                ev = c.get(f"/v1/events/{eid}").json()
                assert "analyzing" in [h["to"] for h in ev["history"]]
            # The third kind of write: every acknowledged claim is in the history with its fencing.
            for eid, fencing in dict(claimed).items():
                ev = c.get(f"/v1/events/{eid}").json()
                assert ev["fencing"] >= fencing, f"acknowledged claim of {eid} was lost"
                assert "mover" in [h["worker"] for h in ev["history"] if h["to"] == "processing"]
    finally:
        again.stop()
