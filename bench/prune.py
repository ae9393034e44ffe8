"""How long ``healloop prune`` takes to remove 50,000 old events, and how long it holds the writer.

Builds a history with ``bench/history_db.py`` (resolved events spread over the past year, each with
six history rows, one in a hundred escalated), then runs the command's own ``prune()`` on it with the
command's defaults (batches of 500, a pause as long as each batch) through ``SQLiteAdmin``, timing each
write transaction. 50,506 events built: 505 escalated and the newest are kept, 50,000 removed.

    .venv/bin/python bench/prune.py [--events 50506] [--batch 500] [--json]
"""

from __future__ import annotations

import os
import sys

# bench/ holds queue.py: run as a script, keep the standard library's ``queue`` ahead of it.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))
sys.path.insert(1, _HERE)

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import history_db  # noqa: E402

from healloop.queue.blobs import BlobStore  # noqa: E402
from healloop.queue.prune import BATCH, prune  # noqa: E402
from healloop.queue.store.sqlite import SQLiteAdmin  # noqa: E402
from healloop.timeutil import US, now_us  # noqa: E402


class TimedAdmin:
    """SQLiteAdmin, with each write transaction timed (the time the server's writer may wait)."""

    def __init__(self, admin: SQLiteAdmin) -> None:
        self.admin = admin
        self.writes: list[float] = []

    def read(self, fn: Callable[[Any], Any]) -> Any:
        return self.admin.read(fn)

    def write(self, fn: Callable[[Any], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return self.admin.write(fn)
        finally:
            self.writes.append(time.perf_counter() - t0)


def run(events: int, batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="healloop-prune-bench-") as tmp:
        db = Path(tmp) / "events.db"
        history_db.build(db, events)
        size_before = db.stat().st_size
        admin = TimedAdmin(SQLiteAdmin(db))
        try:
            result = prune(admin, BlobStore(Path(tmp) / "artifacts", max_bytes=0),
                           before=now_us() - 86400 * US, batch=batch)
        finally:
            admin.admin.close()
        writes_ms = sorted(w * 1000 for w in admin.writes)
        return {
            "events_built": events, "events_removed": result.rows["events"],
            "history_removed": result.rows["history"], "batch": batch, "batches": result.batches,
            "seconds": round(result.seconds, 2),
            "write_tx_ms_median": round(statistics.median(writes_ms), 1) if writes_ms else 0,
            "write_tx_ms_max": round(writes_ms[-1], 1) if writes_ms else 0,
            "write_tx_s_total": round(sum(writes_ms) / 1000, 2),
            "db_mib": round(size_before / 2**20, 1),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=50_506)
    ap.add_argument("--batch", type=int, default=BATCH)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = run(args.events, args.batch)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    print("method: bench/history_db.py builds the history (a year of resolved events, six history rows "
          "each); healloop.queue.prune.prune() removes those resolved over a day ago with the command's "
          "defaults (a pause as long as each batch) through SQLiteAdmin; time.monotonic around it, "
          "time.perf_counter around each write transaction; no server running")
    print(f"removed {r['events_removed']:,} of {r['events_built']:,} events "
          f"({r['history_removed']:,} history rows, a {r['db_mib']} MiB file) in {r['seconds']} s: "
          f"{r['batches']} batches of {r['batch']}, "
          f"write transactions {r['write_tx_s_total']} s in all, median {r['write_tx_ms_median']} ms, "
          f"longest {r['write_tx_ms_max']} ms")


if __name__ == "__main__":
    main()
