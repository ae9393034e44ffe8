"""Eight claimers with one-second leases against a real queue; some stall past their lease and then try
to go on. Checked afterwards from the recorded history (holders, fencing numbers, the server's times),
not by sampling while it runs: each event was held by one lease at a time, every move was made by
the holder of the lease it happened under, and every move a stale holder tried was refused."""

from __future__ import annotations

import itertools
import os
import random
import threading
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support import QueueServer, failure, wait_until

EVENTS = 30
CLAIMERS = 8
STEPS = ("analyzing", "fixing", "verifying", "resolved")
SEED = int(os.environ.get("HEALLOOP_RELIABILITY_SEED", random.randrange(1 << 30)))


@dataclass
class Tried:
    event_id: str
    worker: str
    fencing: int
    to: str
    status: int
    stale: bool  # the claimer had stalled past its lease before this move


def claimer(url: str, name: str, rng: random.Random, tried: list[Tried], lock: threading.Lock) -> None:
    with httpx.Client(base_url=url, timeout=30) as c:
        while True:
            r = c.post("/v1/events/next", json={"worker": name, "wait": 0.5, "lease": 1})
            if r.status_code == 204:
                open_ = [e for e in c.get("/v1/events", params={"limit": 1000}).json()["events"]
                         if e["status"] not in ("resolved", "escalated")]
                if not open_:
                    return
                continue
            assert r.status_code == 200, r.text
            event_id, lease = r.json()["event"]["id"], r.json()["lease"]
            stall_at = rng.choice([None, None, *STEPS[:3]])
            stale = False
            for to in STEPS:
                if to == stall_at:
                    # A claimer that hangs (a long GC pause, a stuck call) until its lease is gone:
                    # the server lapsed it, or someone else already holds the event.
                    wait_until(lambda e=event_id, f=lease["fencing"]: stalled_out(c, e, f), timeout=30,
                               what=f"the lease on {event_id} to lapse")
                    stale = True
                else:
                    c.post(f"/v1/events/{event_id}/heartbeat", json={"token": lease["token"]})
                m = c.post(f"/v1/events/{event_id}/transition",
                           json={"token": lease["token"], "to": to, "data": {"by": name}})
                with lock:
                    tried.append(Tried(event_id, name, lease["fencing"], to, m.status_code, stale))
                if m.status_code != 200:
                    break


def stalled_out(c: httpx.Client, event_id: str, fencing: int) -> bool:
    ev = c.get(f"/v1/events/{event_id}").json()
    return ev["fencing"] > fencing or ev["status"] not in ("processing", "analyzing", "fixing", "verifying")


def leases_from(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The event's leases as the history recorded them: who held it, from when to when, and the
    moves made under each. A lease starts with queued -> processing and ends with the first move to
    queued (lapse, release), resolved, escalated or proposed."""
    leases: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for h in history:
        if h["from"] == "queued" and h["to"] == "processing":
            assert current is None, f"claimed while still held: {h}"
            current = {"worker": h["worker"], "start": h["at"], "moves": [], "end": None}
            leases.append(current)
            continue
        if current is None:
            continue
        assert h["worker"] == current["worker"], f"a move by {h['worker']} under {current['worker']}'s lease"
        current["moves"].append(h)
        if h["to"] in ("queued", "resolved", "escalated", "proposed"):
            current["end"] = h["at"]
            current = None
    return leases


def test_eight_claimers_with_lapsing_leases_never_share_an_event(server: QueueServer) -> None:
    print(f"seed {SEED} (HEALLOOP_RELIABILITY_SEED={SEED} repeats this run's stalls)")
    with server.client() as c:
        ids = [c.post("/v1/events", json=failure(i)).json()["id"] for i in range(EVENTS)]
    tried: list[Tried] = []
    lock = threading.Lock()
    threads = [threading.Thread(target=claimer, args=(server.url, f"w{i}", random.Random(SEED + i), tried,
                                                      lock)) for i in range(CLAIMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
        assert not t.is_alive()

    with server.client() as c:
        events = {i: c.get(f"/v1/events/{i}").json() for i in ids}
    stale_refused = 0
    for event_id, ev in events.items():
        assert ev["status"] in ("resolved", "escalated"), ev
        leases = leases_from(ev["history"])
        # fencing grows by one per claim, and the history holds every claim.
        assert len(leases) == ev["fencing"], (event_id, ev["fencing"], len(leases))
        for a, b in itertools.pairwise(leases):
            assert a["end"] is not None and a["end"] <= b["start"], f"two leases at once on {event_id}"
        for attempt in (t for t in tried if t.event_id == event_id):
            lease = leases[attempt.fencing - 1]  # the lease the claimer held
            assert lease["worker"] == attempt.worker
            made = [m for m in lease["moves"] if m["to"] == attempt.to and m["worker"] == attempt.worker
                    and m["from"] != m["to"] and (m.get("data") or {}).get("by") == attempt.worker]
            if attempt.status == 200:
                assert made, f"{attempt} was acknowledged but is not in its lease's history"
            else:
                assert attempt.status == 409 and not made, attempt
            if attempt.stale:
                # A claimer that outlived its lease is fenced: its move is refused, whoever holds now.
                assert attempt.status == 409, f"a stale holder's move was accepted: {attempt}"
                stale_refused += 1
    assert stale_refused > 0, f"seed {SEED}: no claimer stalled; the run proved nothing about fencing"
    lapsed = sum(1 for ev in events.values() for h in ev["history"] if "expired" in (h.get("note") or ""))
    assert lapsed > 0
