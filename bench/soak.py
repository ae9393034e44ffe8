"""Soak: the reliability suite's queue scenarios at once, for a duration, and what they cost.

    .venv/bin/python bench/soak.py                  # 30 minutes
    .venv/bin/python bench/soak.py --minutes 2      # the README's figures

One `healloop serve` on a fixed port and a fresh SQLite file. For the whole run, at once:

  reports     6 nodes, each reporting at 10x its normal rate (NORMAL_PER_NODE_S, a CI machine at its
              busiest: a failure every 2 s, so 5 reports/s per node, 30/s in all), paced open-loop.
              Each node's clock is skewed (-5 h .. +5 h in occurred_at); a failure is drawn from a pool
              (so most merge, some are new), and one report in ten is resent with its idempotency key.
  claimers    8 threads claim (lease 2 s) and go analyzing, fixing, verifying, resolved with a heartbeat
              before each move; one claim in ten stalls until the server has taken its lease away,
              then tries its move (it must be refused: fenced).
  kill -9     every KILL_EVERY_S the queue is killed (SIGKILL) and started again on the same file and
              port; clients retry what got no answer (an unanswered write was never acknowledged).

Every acknowledged write is remembered: each report's event id (and its test), each claim's fencing
number, each move. At the end (queue stopped gracefully and started again) every one is looked up:
anything missing is printed as lost. Each event's history is checked for overlapping leases and for
moves by anyone but the holder. Latency is the client's, per request that got an answer: p50, p90,
p99 of reports, claims that got an event, and moves (time.perf_counter around the HTTP call, on a
keep-alive connection per thread; requests cut by a kill are not counted).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# bench/ holds queue.py, which would shadow the standard library's queue (httpx needs it): drop the
# script's folder from sys.path before importing anything that uses it.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import httpx

NODES = 6
NORMAL_PER_NODE_S = 0.5
RATE_FACTOR = 10
CLAIMERS = 8
KILL_EVERY_S = 30
SKEW_H = (-5, -3, -1, 1, 3, 5)
STEPS = ("analyzing", "fixing", "verifying", "resolved")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Queue:
    def __init__(self, db: Path, port: int) -> None:
        self.db, self.port, self.url = db, port, f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[str] | None = None
        self.up = threading.Event()

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "healloop", "serve", "--db", str(self.db), "--port", str(self.port),
             "--cooldown", "0", "--actions-per-hour-test", "0", "--actions-per-hour-node", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not re.search(r"listening on", line):
            raise SystemExit(f"the queue did not start: {line!r}")
        self.up.set()

    def kill9(self) -> None:
        self.up.clear()
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        self.up.clear()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


class Record:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.reports: dict[str, str] = {}  # event id -> test
        self.claims: list[tuple[str, int, str]] = []  # event id, fencing, worker
        self.moves: list[tuple[str, int, str, str]] = []  # event id, fencing, worker, to
        self.stale_accepted: list[tuple[str, int, str]] = []
        self.stale_refused = 0
        self.cut = 0  # requests that got no answer (a kill): not acknowledged, retried

    def time(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latency[kind].append(seconds)


def call(q: Queue, rec: Record, c: httpx.Client, kind: str, path: str, body: dict[str, Any],
         stop: threading.Event) -> httpx.Response | None:
    """One request, retried (same body) while the queue is down; None when the run is over."""
    while not stop.is_set():
        q.up.wait(1)
        if not q.up.is_set():
            continue
        started = time.perf_counter()
        try:
            r = c.post(path, json=body)
        except httpx.TransportError:
            with rec.lock:
                rec.cut += 1
            continue
        if r.status_code < 500:
            if kind != "claim" or r.status_code == 200:  # an empty claim measures nothing
                rec.time(kind, time.perf_counter() - started)
            return r
    return None


def reporter(q: Queue, rec: Record, stop: threading.Event, node: int, seed: int) -> None:
    rng = random.Random(seed)
    interval = 1 / (NORMAL_PER_NODE_S * RATE_FACTOR)
    nxt = time.monotonic()
    with httpx.Client(base_url=q.url, timeout=30) as c:
        for i in itertools.count():
            nxt += interval
            if stop.wait(max(0.0, nxt - time.monotonic())):
                return
            test = f"test_{rng.randrange(400)}"
            occurred = (datetime.now(UTC) + timedelta(hours=SKEW_H[node])).isoformat()
            body = {"node": f"ci-{node}", "source": "soak", "spec": "e2e/soak.cy.js", "test": test,
                    "message": "Timed out retrying", "occurred_at": occurred,
                    "idempotency_key": f"ci-{node}-{i}"}
            for _ in range(2 if rng.random() < 0.1 else 1):  # one in ten resent, as after a timeout
                r = call(q, rec, c, "report", "/v1/events", body, stop)
                if r is None:
                    return
                if r.status_code in (200, 201):
                    with rec.lock:
                        rec.reports[r.json()["id"]] = test


def claimer(q: Queue, rec: Record, stop: threading.Event, name: str, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=q.url, timeout=30) as c:
        while not stop.is_set():
            # wait 0: a claim's latency is the queue's, not a long poll's wait for work.
            r = call(q, rec, c, "claim", "/v1/events/next", {"worker": name, "wait": 0, "lease": 2}, stop)
            if r is None or r.status_code != 200:
                stop.wait(0.02)
                continue
            event_id, lease = r.json()["event"]["id"], r.json()["lease"]
            with rec.lock:
                rec.claims.append((event_id, lease["fencing"], name))
            stall = rng.random() < 0.1
            for to in STEPS:
                path = f"/v1/events/{event_id}"
                if stall:
                    # Only a claimer that saw its lease taken away is stale; one whose wait was cut
                    # short (a kill, the end of the run) may still hold it.
                    stall = gone(c, path, lease["fencing"], stop)
                else:
                    call(q, rec, c, "heartbeat", path + "/heartbeat", {"token": lease["token"]}, stop)
                m = call(q, rec, c, "transition", path + "/transition", {"token": lease["token"], "to": to},
                         stop)
                if m is None:
                    return
                with rec.lock:
                    if m.status_code == 200:
                        rec.moves.append((event_id, lease["fencing"], name, to))
                        if stall:
                            rec.stale_accepted.append((event_id, lease["fencing"], name))
                    elif stall:
                        rec.stale_refused += 1
                if m.status_code != 200:
                    break


def gone(c: httpx.Client, path: str, fencing: int, stop: threading.Event) -> bool:
    """Waits (up to 30 s) until the server has taken this lease away; whether it did."""
    deadline = time.monotonic() + 30
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            ev = c.get(path).json()
        except (httpx.TransportError, ValueError):
            return False
        if ev["fencing"] > fencing or ev["status"] in ("queued", "escalated"):
            return True
        stop.wait(0.1)
    return False


def killer(q: Queue, stop: threading.Event, kills: list[float]) -> None:
    while not stop.wait(KILL_EVERY_S):
        q.kill9()
        started = time.monotonic()
        q.start()
        kills.append(time.monotonic() - started)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000 if ordered else float("nan")


def check(q: Queue, rec: Record) -> list[str]:
    """Every acknowledged write present after a clean restart; leases one at a time."""
    lost: list[str] = []
    claimed = defaultdict(set)
    for event_id, fencing, worker in rec.claims:
        claimed[event_id].add((fencing, worker))
    moved = defaultdict(list)
    for event_id, fencing, worker, to in rec.moves:
        moved[event_id].append((fencing, worker, to))
    with httpx.Client(base_url=q.url, timeout=30) as c:
        for event_id in set(rec.reports) | set(claimed):
            r = c.get(f"/v1/events/{event_id}")
            if r.status_code != 200:
                lost.append(f"report {event_id}: {r.status_code}")
                continue
            ev = r.json()
            if event_id in rec.reports and ev["test"] != rec.reports[event_id]:
                lost.append(f"report {event_id}: test {ev['test']!r}, sent {rec.reports[event_id]!r}")
            holders: list[tuple[str, list[str]]] = []
            held = False
            for h in ev["history"]:
                if h["from"] == "queued" and h["to"] == "processing":
                    if held:
                        lost.append(f"{event_id}: claimed while held")
                    holders.append((h["worker"], []))
                    held = True
                elif held:
                    if h["worker"] != holders[-1][0]:
                        lost.append(f"{event_id}: a move by {h['worker']} under {holders[-1][0]}'s lease")
                    holders[-1][1].append(h["to"])
                    held = h["to"] not in ("queued", "resolved", "escalated", "proposed")
            for fencing, worker in claimed.get(event_id, ()):
                if fencing > len(holders) or holders[fencing - 1][0] != worker:
                    lost.append(f"claim {event_id} #{fencing} by {worker}")
            for fencing, worker, to in moved.get(event_id, ()):
                if fencing > len(holders) or to not in holders[fencing - 1][1]:
                    lost.append(f"move {event_id} #{fencing} by {worker} to {to}")
    lost += [f"stale move accepted: {s}" for s in rec.stale_accepted]
    return lost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="healloop-soak-"))
    q = Queue(workdir / "events.db", free_port())
    q.start()
    rec, stop, kills = Record(), threading.Event(), []
    threads = [threading.Thread(target=reporter, args=(q, rec, stop, n, args.seed + n)) for n in range(NODES)]
    threads += [threading.Thread(target=claimer, args=(q, rec, stop, f"w{i}", args.seed + 100 + i))
                for i in range(CLAIMERS)]
    threads.append(threading.Thread(target=killer, args=(q, stop, kills)))
    print(f"soak: {args.minutes:g} min, seed {args.seed}, {NODES} nodes x "
          f"{NORMAL_PER_NODE_S * RATE_FACTOR:g} reports/s, {CLAIMERS} claimers, "
          f"kill -9 every {KILL_EVERY_S} s, {os.cpu_count()} CPUs")
    started = time.monotonic()
    for t in threads:
        t.start()
    stop.wait(args.minutes * 60)
    stop.set()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - started
    q.stop()
    q.start()
    lost = check(q, rec)
    q.stop()
    print(f"ran {elapsed:.0f} s; {len(kills)} kill -9 (restart p50 {pct(kills, 50) / 1000:.2f} s); "
          f"{rec.cut} requests cut by a kill, retried")
    print(f"acknowledged: {len(rec.reports)} events reported, {len(rec.claims)} claims, "
          f"{len(rec.moves)} moves; stale holders fenced: {rec.stale_refused}")
    print(f"{'request':<11}{'n':>8}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}")
    for kind in ("report", "claim", "heartbeat", "transition"):
        v = rec.latency[kind]
        print(f"{kind:<11}{len(v):>8}{pct(v, 50):>10.1f}{pct(v, 90):>10.1f}{pct(v, 99):>10.1f}")
    print(f"lost: {len(lost)}" + "".join(f"\n  {x}" for x in lost[:50]))
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
