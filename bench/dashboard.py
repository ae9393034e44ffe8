"""What the dashboard's reads cost on a long history: ``GET /v1/events`` (the events list, first page
and each filter the API has) and ``GET /v1/stats`` (the trends) over HTTP from a real ``healloop
serve``, on the 1,000,000-event history of ``bench/history_db.py``. Issue 14 asks under 300 ms each.

The history is ``history_db.py``'s (events over the past year, ending a day ago; six history rows per
resolved event, 1 in 100 escalated), with the data an agent records added by SQL as ``bench/stats.py``
does: a class and ``--analysis-bytes`` of text (its analysis, plan and run summary) on every analyzing,
resolved and escalated move, the label flaky on every fifth resolution, a suspect commit (one of 30)
in every escalation's report. Windows end at the newest event (not now, a day later). Each request is
sent once to warm the server's page cache, then ``--runs`` times on one keep-alive connection; the
median and the slowest wall time from sending to the whole reply read (``time.perf_counter``), and the
time of the first request.

    python bench/dashboard.py [--events 1000000] [--runs 7] [--db PATH [--reuse]] [--analysis-bytes 512]

``--reuse`` measures the file at ``--db`` as it is (built by an earlier run, perhaps by older code):
the server's start, printed, then includes any schema upgrade it makes.
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
import re  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402
from history_db import build  # noqa: E402

from healloop.queue.store.sqlite import Q  # noqa: E402
from healloop.timeutil import to_rfc3339  # noqa: E402

DAY_US = 86_400 * 1_000_000
TARGET_MS = 300.0
CLASSES = ("selector_not_found", "service_unreachable", "timeout", "assertion_mismatch")
PAGE = 50  # events on the dashboard's list page


def add_agent_data(path: Path, analysis_bytes: int) -> float:
    """bench/stats.py's agent data, with the analysis's size chosen; returns seconds taken."""
    t0 = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA cache_size = -262144")
    conn.execute("BEGIN")
    classes = "CASE (id / 8) % 4 " + " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(CLASSES)) + " END"
    suspect = "json_object('sha', printf('%040x', (id / 8) % 30), 'subject', 'a change')"
    conn.execute(f"UPDATE history SET data = CAST(json_object("
                 f"'analysis', printf('%.*c', {analysis_bytes}, 'x'), "
                 f"'class', {classes}, 'label', CASE WHEN to_state = 'resolved' AND (id / 8) % 5 = 0 "
                 "THEN 'flaky' END, 'report', CASE WHEN to_state = 'escalated' THEN json_object("
                 f"'suspect_commit', {suspect}) END) AS BLOB) "
                 "WHERE to_state IN ('analyzing', 'resolved', 'escalated')")
    conn.execute("UPDATE events SET nodes = CAST(nodes AS BLOB)")
    # Schema version 2 keeps each event's class on its row, written as it moves: here from the history
    # just made. (Absent before version 2, so that this script also measures the code before it.)
    if "backfill_marks" in Q:
        conn.execute(Q["backfill_marks"])
    if "backfill_classes" in Q:  # version 3: the classes each event's history names
        conn.execute(Q["backfill_classes"])
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - t0


def start_server(db: Path) -> tuple[subprocess.Popen[str], str, float]:
    t0 = time.perf_counter()
    argv = [sys.executable, "-m", "healloop", "serve", "--db", str(db), "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    m = re.search(r"listening on (http://\S+)", line)
    if not m:
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise SystemExit(f"healloop serve did not start: {line.strip()} {err}")
    return proc, m.group(1), time.perf_counter() - t0


def timed(c: httpx.Client, path: str, params: dict[str, str | int], runs: int
          ) -> tuple[float, float, float, int]:
    """Median and slowest ms of ``runs`` requests after one to warm up, that first one's ms, and the rows
    in the reply."""
    t0 = time.perf_counter()
    r = c.get(path, params=params)
    r.read()
    first = (time.perf_counter() - t0) * 1000
    r.raise_for_status()
    if r.headers["content-type"].startswith("text/html"):
        rows = r.text.count("<tr data-id=")  # the dashboard's page: its event rows, pinned ones too
    else:
        body = r.json()
        rows = len(body["events"]) if isinstance(body["events"], list) else int(body["events"])
    took = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = c.get(path, params=params)
        r.read()
        took.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    return statistics.median(took), max(took), first, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--analysis-bytes", type=int, default=512)
    ap.add_argument("--db", type=Path, help="where the history goes [default: a temporary file]")
    ap.add_argument("--reuse", action="store_true", help="measure the file at --db as it is")
    args = ap.parse_args()
    if args.reuse and not (args.db and args.db.is_file()):
        raise SystemExit("--reuse needs --db naming a history file an earlier run built (and kept with --db)")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "dashboard.db"
        if not args.reuse:
            t = build(path, args.events)
            data_s = add_agent_data(path, args.analysis_bytes)
            print(f"history: {args.events:,} events built in {t['total']:.1f} s, agent data "
                  f"({args.analysis_bytes} B of analysis per move) added in {data_s:.1f} s, "
                  f"{path.stat().st_size / 2**20:,.0f} MiB", flush=True)
        conn = sqlite3.connect(path)
        newest, events, fingerprint, spec = conn.execute(
            "SELECT max(created_at), count(*), (SELECT fingerprint FROM events WHERE seq = 4242), "
            "(SELECT spec FROM events WHERE seq = 4242) FROM events"
        ).fetchone()
        conn.close()
        proc, url, start_s = start_server(path)
        print(f"healloop serve on {events:,} events started in {start_s:.1f} s (schema upgrade included, "
              f"if the file needed one); {args.runs} warm runs each, median and slowest:", flush=True)
        until = to_rfc3339(newest + 1_000_000)
        cases: list[tuple[str, str, dict[str, str | int]]] = [
            ("list: first page", "/v1/events", {"limit": PAGE}),
            ("list: status=escalated", "/v1/events", {"status": "escalated", "limit": PAGE}),
            ("list: status=resolved", "/v1/events", {"status": "resolved", "limit": PAGE}),
            ("list: status=queued (none)", "/v1/events", {"status": "queued", "limit": PAGE}),
            ("list: node=node-7", "/v1/events", {"node": "node-7", "limit": PAGE}),
            ("list: node with no events", "/v1/events", {"node": "node-gone", "limit": PAGE}),
            ("list: fingerprint", "/v1/events", {"fingerprint": fingerprint, "limit": PAGE}),
            ("list: class=timeout", "/v1/events", {"class": "timeout", "limit": PAGE}),
            ("list: class no event has", "/v1/events", {"class": "no_such_class", "limit": PAGE}),
            ("list: class, status=escalated", "/v1/events",
             {"class": "selector_not_found", "status": "escalated", "limit": PAGE}),
            ("list: q=receipt (every event)", "/v1/events", {"q": "receipt", "limit": PAGE}),
            ("list: q matching one event", "/v1/events", {"q": "checkout 4242 shows", "limit": PAGE}),
            ("list: q matching none", "/v1/events", {"q": "zebra", "limit": PAGE}),
            ("list: label (every event)", "/v1/events", {"label": "browser=chromium", "limit": PAGE}),
            ("list: label no event has", "/v1/events", {"label": "browser=firefox", "limit": PAGE}),
            ("list: spec", "/v1/events", {"spec": spec, "limit": PAGE}),
            ("list: since the newest (none)", "/v1/events", {"since": until, "limit": PAGE}),
            # The events page itself (counts, pinned rows and the list, rendered): a search, spec or
            # label there looks back 30 days unless "any time" is chosen (dashboard/pages.py).
            ("page: /", "/", {}),
            ("page: q matching one event", "/", {"q": "checkout 4242 shows"}),
            ("page: q matching none", "/", {"q": "zebra"}),
            ("page: label no event has", "/", {"label": "browser=firefox"}),
            ("page: spec", "/", {"spec": spec}),
            ("page: q none, any time", "/", {"q": "zebra", "window": "all"}),
        ]
        for days in (1, 7, 30, 90):
            cases.append((f"stats: {days} day{'s' if days > 1 else ''}", "/v1/stats",
                          {"since": to_rfc3339(newest - days * DAY_US), "until": until}))
        cases.append(("stats: 30 days, node-7", "/v1/stats",
                      {"since": to_rfc3339(newest - 30 * DAY_US), "until": until, "node": "node-7"}))
        try:
            with httpx.Client(base_url=url, timeout=120) as c:
                print(f"  {'request':<30} {'rows':>8} {'median ms':>10} {'slowest':>9} {'first':>9}"
                      f"  < {TARGET_MS:.0f} ms")
                for name, route, params in cases:
                    median, worst, first, rows = timed(c, route, params, args.runs)
                    verdict = "yes" if median < TARGET_MS else "NO"
                    print(f"  {name:<30} {rows:>8,} {median:>10.1f} {worst:>9.1f} {first:>9.1f}  {verdict}",
                          flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    print("rows: events in the reply (list) or in the window (stats); first: the request that warmed up "
          "(the server's caches, SQLite's and GET /v1/stats's days, as the earlier requests left them)")


if __name__ == "__main__":
    main()
