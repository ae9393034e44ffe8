"""Build a queue database with a long history, fast: the project's schema, rows written by SQLite.

Every row is produced inside SQLite by a recursive CTE (no Python per row), with the secondary
indexes dropped during the load and rebuilt once at the end from the project's own schema text.
The result is what a long-lived queue looks like: mostly resolved events, each with the six
history rows of its life (reported, claimed, analyzing, fixing, verifying, resolved), a few
escalated events waiting for a person, each reported by one node (so no ``event_nodes`` rows: that
table holds the nodes that joined an event later), and no queued work.

    python bench/history_db.py --events 1000000 /tmp/history.db
"""

from __future__ import annotations

import os
import sys

# bench/ holds queue.py: run as a script, keep the standard library's ``queue`` ahead of it.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import re  # noqa: E402
import sqlite3  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from healloop.queue.store.sqlite import _INSERT_COLUMNS, Q  # noqa: E402

DAY_US = 86_400 * 1_000_000
# (from_state, to_state, microseconds after the report, worker or NULL, note)
_STEPS = (
    (None, "queued", 0, None, "'reported by ' || node"),
    ("queued", "processing", 2_000_000, "worker", "NULL"),
    ("processing", "analyzing", 5_000_000, "worker", "'looking at the failure'"),
    ("analyzing", "fixing", 60_000_000, "worker", "'selector changed in the last deploy'"),
    ("fixing", "verifying", 240_000_000, "worker", "'patched the locator'"),
    ("verifying", "resolved", 600_000_000, "worker", "'green three runs in a row'"),
)


def _sql_str(value: str | None) -> str:
    return "NULL" if value is None else "'" + value + "'"


def build(
    path: Path, events: int, *, escalated_every: int = 100, now_us: int | None = None
) -> dict[str, float]:
    """Create ``path`` with ``events`` events in the history; returns timings in seconds."""
    if path.exists():
        path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    now = now_us if now_us is not None else time.time_ns() // 1000
    span = 365 * DAY_US  # the history spreads over the past year, ending a day ago
    start = now - span - DAY_US
    step = max(1, span // max(events, 1))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.executescript(Q["schema"])
    # Drop the secondary indexes for the load; the schema text recreates them at the end.
    index_names = re.findall(r"CREATE INDEX IF NOT EXISTS (\w+)", Q["schema"])
    for name in index_names:
        conn.execute(f"DROP INDEX {name}")
    conn.execute("BEGIN")
    # Event x: id sorts like a ULID of that time, fingerprint is a blake2b-sized random hex string.
    conn.execute(
        f"""
        WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
        INSERT INTO events ({_INSERT_COLUMNS}, outcome)
        SELECT
            printf('evt_0%09X%016X', (? + x * ?) / 1000, x),
            lower(hex(randomblob(16))),
            'test_failure',
            'node-' || (x % 50),
            'playwright',
            printf('tests/e2e/area%d/flow%d.spec.ts', x % 40, x % 997),
            printf('checkout %d shows the receipt', x),
            printf('expect(locator).toBeVisible() failed: waiting for getByRole(''button'') (%d)', x),
            'Error: expect(locator).toBeVisible() failed' || char(10) ||
                '    at tests/e2e/checkout.spec.ts:42:31',
            1 + x % 5,
            ? + x * ?,
            '{{"browser":"chromium"}}',
            '[]',
            NULL,
            CASE WHEN x % ? = 0 THEN 'escalated' ELSE 'resolved' END,
            ? + x * ?,
            ? + x * ? + 600000000,
            1 + x % 3,
            '["node-' || (x % 50) || '"]',
            1, CASE WHEN x % ? = 0 THEN 1 ELSE 0 END, 1,
            NULL, NULL, NULL, NULL,
            CASE WHEN x % ? = 0 THEN NULL ELSE ? + x * ? + 600000000 END,
            CASE WHEN x % ? = 0 THEN 'escalated' ELSE 'healed' END
        FROM n
        """,
        (events, start, step, start, step, escalated_every, start, step, start, step,
         escalated_every, escalated_every, start, step, escalated_every),
    )
    timings["events"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    # Six history rows per resolved event; escalated ones stop after "analyzing" and escalate.
    for i, (frm, to, after, worker, note) in enumerate(_STEPS):
        who = "'agent-' || (seq % 8)" if worker else "NULL"
        conn.execute(
            f"""
            INSERT INTO history (id, event_id, at, from_state, to_state, worker, note, data)
            SELECT seq * 8 + {i}, id, created_at + {after}, {_sql_str(frm)},
                   CASE WHEN status = 'escalated' AND {i} = 3 THEN 'escalated' ELSE '{to}' END,
                   {who}, {note}, NULL
            FROM events WHERE status = 'resolved' OR {i} <= 3
            """
        )
    conn.execute("COMMIT")
    timings["history"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    # Rebuilds the dropped indexes. No ANALYZE: the server never runs it, so neither do we.
    conn.executescript(Q["schema"])
    timings["indexes"] = time.perf_counter() - t2
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    timings["total"] = time.perf_counter() - t0
    return timings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path)
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()
    timings = build(args.path, args.events)
    size = args.path.stat().st_size / 2**20
    print(f"{args.events:,} events in {timings['total']:.1f} s ({size:,.0f} MiB): "
          + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items() if k != "total"))


if __name__ == "__main__":
    main()
