"""What ``GET /v1/stats`` costs the store: ``SQLiteTx.stats`` on a long history, as the server's reader
runs it.

The history is ``bench/history_db.py``'s (events spread over the past year, six history rows each),
with the data an agent records added by SQL: a class beside 2 KiB of text (for the analysis, plan and
run summary an agent records) on every analyzing, resolved and escalated move,
the label flaky on every fifth resolution, a suspect commit (one of 30) in every escalation's report.
Then, on a fresh connection with the server's page cache, each window is asked for once to warm the
cache and then ``--runs`` times; the median and the slowest are printed (``time.perf_counter``).

    python bench/stats.py [--events 50000] [--runs 5] [--db /tmp/stats.db] [--insert-cost [--index NAME]]

``--insert-cost`` also prices an index on every new event (``events_window``, the one the window reads,
or the one ``--index`` names): 20,000 events inserted as the server inserts them
(``SQLiteTx.insert_event``, WAL, synchronous NORMAL, 50 per transaction, from 50 nodes) into a fresh
file with the index and without it, alternately, nine times each; the median CPU time
(``time.process_time``, steadier than wall time on a shared machine) per insert of each.
"""

from __future__ import annotations

import os
import sys

# bench/ holds queue.py: run as a script, keep the standard library's ``queue`` ahead of it.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))
sys.path.insert(0, _HERE)

import argparse  # noqa: E402
import itertools  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from history_db import build  # noqa: E402

from healloop.ids import new_id  # noqa: E402
from healloop.queue.model import Event  # noqa: E402
from healloop.queue.stats import DAY_US, TOP, StatsWindow  # noqa: E402
from healloop.queue.store.sqlite import CACHE_KIB, Q, SQLiteTx  # noqa: E402

ANALYSIS_BYTES = 2048
CLASSES = ("selector_not_found", "service_unreachable", "timeout", "assertion_mismatch")


def add_agent_data(path: Path, analysis_bytes: int = ANALYSIS_BYTES) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    classes = "CASE (id / 8) % 4 " + " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(CLASSES)) + " END"
    # An agent's data also holds its analysis, plan and run summary: a few KiB each, all parsed by SQLite
    # to read the class. ANALYSIS_BYTES of text stands for them.
    conn.execute(f"UPDATE history SET data = json_object('analysis', printf('%.*c', {analysis_bytes}, 'x'), "
                 f"'class', {classes}) WHERE to_state IN ('analyzing', 'resolved', 'escalated')")
    conn.execute("UPDATE events SET nodes = CAST(nodes AS BLOB)")
    conn.execute("UPDATE history SET data = json_set(data, '$.label', 'flaky') "
                 "WHERE to_state = 'resolved' AND (id / 8) % 5 = 0")
    conn.execute("UPDATE history SET data = json_set(data, '$.report', json_object('suspect_commit', "
                 "json_object('sha', printf('%040x', (id / 8) % 30), 'subject', 'a change'))) "
                 "WHERE to_state = 'escalated'")
    # The server writes JSON as bytes, so SQLite keeps it as a BLOB: so here too.
    conn.execute("UPDATE history SET data = CAST(data AS BLOB) WHERE data IS NOT NULL")
    # The server keeps each event's class and outcome on its row as it moves (schema version 2): written
    # here from the history just made, as the upgrade from version 1 does.
    conn.execute(Q["backfill_marks"])
    conn.execute("COMMIT")
    conn.close()


def measure(path: Path, windows: dict[str, StatsWindow], runs: int) -> dict[str, tuple[float, float, int]]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute("PRAGMA query_only = 1")
    tx = SQLiteTx(conn)
    out = {}
    for name, w in windows.items():
        events = sum(tx.stats(w, TOP).outcomes.values())  # warms the cache
        took = []
        for _ in range(runs):
            t0 = time.perf_counter()
            tx.c.execute("BEGIN")
            tx.stats(w, TOP)
            tx.c.execute("COMMIT")
            took.append(time.perf_counter() - t0)
        out[name] = (statistics.median(took), max(took), events)
    conn.close()
    return out


def insert_cost(folder: Path, with_index: bool, n: int = 20_000, batch: int = 50,
                index: str = "events_window") -> float:
    """CPU µs per new event inserted, with or without ``index``; the events come from 50 nodes."""
    path = folder / f"insert-{with_index}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(Q["schema"])
    if not with_index:
        conn.execute(f"DROP INDEX {index}")
    tx, now = SQLiteTx(conn), time.time_ns() // 1000
    events = [Event(new_id(), f"fp{i}", "test_failure", f"n{i % 50}", "playwright", "a.spec.ts", f"t{i}",
                    "boom", None, 3, now + i, {}, [], None, "queued", now + i, now + i, nodes=[f"n{i % 50}"])
              for i in range(n)]
    t0 = time.process_time()
    for i in range(0, n, batch):
        conn.execute("BEGIN IMMEDIATE")
        for ev in events[i:i + batch]:
            tx.insert_event(ev)
        conn.execute("COMMIT")
    took = time.process_time() - t0
    conn.close()
    return took / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--db", type=Path, help="where to build the history [default: a temporary file]")
    ap.add_argument("--insert-cost", action="store_true", help="also price the index on every new event")
    ap.add_argument("--index", default="events_window", help="the index --insert-cost prices")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "stats.db"
        now = time.time_ns() // 1000
        build(path, args.events, now_us=now)
        add_agent_data(path)
        windows = {"7 days": StatsWindow(now - 7 * DAY_US, now),
                   "30 days": StatsWindow(now - 30 * DAY_US, now),
                   "366 days": StatsWindow(now - 366 * DAY_US, now),
                   "366 days, one node": StatsWindow(now - 366 * DAY_US, now, "node-7")}
        results = measure(path, windows, args.runs)
        costs: dict[bool, list[float]] = {True: [], False: []}
        if args.insert_cost:
            for with_index in itertools.islice(itertools.cycle((False, True)), 18):
                costs[with_index].append(insert_cost(Path(tmp), with_index, index=args.index))
    print(f"SQLiteTx.stats on {args.events:,} events over a year (bench/history_db.py), median and slowest "
          f"of {args.runs} warm runs:")
    for name, (median, worst, events) in results.items():
        print(f"  {name:<20} {events:>8,} events in the window  {median * 1000:8.1f} ms  (slowest "
              f"{worst * 1000:.1f} ms)")
    if costs[True]:
        print(f"a new event's insert, CPU median of 9: {statistics.median(costs[False]):.1f} us without "
              f"{args.index}, {statistics.median(costs[True]):.1f} us with it")


if __name__ == "__main__":
    main()
