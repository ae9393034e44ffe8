"""GET /v1/stats over long windows: the figures of each whole UTC day in the window, kept in memory by
the SQLite store and merged, so a 30- or 90-day window reads only its two partial edge days.

Each day's figures are what the ``stats_*`` queries give for that day alone (``DayRows``); merging
days gives what the queries give for the whole window (counts add, newest times take the max, the
durations of resolved events are concatenated for the 90th percentile). A day's entry is good while
nothing of that day changed: the store's writer calls ``touched`` after each commit with the days
(by creation) of the events it inserted or changed, and a reader keeps an entry only under the version
the day had before its read transaction began (so a commit racing the read makes the entry stale,
never wrong). Deletions by ``healloop prune``, another process, count in the file itself
(``meta.events_deleted``), read in the same snapshot as the figures.

Measured on bench/dashboard.py's 1,000,000-event history: see bench/README.md.
"""

from __future__ import annotations

import heapq
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from healloop.queue.stats import DAY_US

# Days kept (per node asked for, and the whole queue): 366 days of 50 nodes and the whole queue would be
# 18,666; the oldest used entries go first.
MAX_ENTRIES = 4096


@dataclass
class DayRows:
    """The rows of the ``stats_*`` queries for one window, in a form that adds up across windows."""

    per_day: list[tuple[str, str, int]] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    repair: dict[str, array[int]] = field(default_factory=dict)   # class -> µs to resolution
    flaky: list[tuple[Any, ...]] = field(default_factory=list)      # spec, test, times, last
    suspects: list[tuple[Any, ...]] = field(default_factory=list)   # sha, subject, events, last
    nodes: list[tuple[Any, ...]] = field(default_factory=list)      # node, events, resolved, newest
    joined: list[tuple[Any, ...]] = field(default_factory=list)     # node, events, resolved


def day_of(created_at: int) -> int:
    """The UTC day (days since the epoch) of a time in µs; the key of the cache."""
    return created_at // DAY_US


def split(since: int, until: int) -> tuple[list[tuple[int, int]], list[int]]:
    """The window [since, until) as its partial edges (windows computed each time) and the whole days
    inside it (cached)."""
    first, last = -(-since // DAY_US), until // DAY_US  # whole days: [first, last)
    if first >= last:
        return ([(since, until)] if since < until else []), []
    edges = [(a, b) for a, b in ((since, first * DAY_US), (last * DAY_US, until)) if a < b]
    return edges, list(range(first, last))


class StatsDays:
    """The cache: day versions bumped by the writer, entries made by the readers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[int, int] = {}
        self._entries: OrderedDict[tuple[int, str | None], tuple[int, int, DayRows]] = OrderedDict()

    def touched(self, days: Iterable[int]) -> None:
        """Days whose figures a commit changed (called after the commit)."""
        with self._lock:
            for day in days:
                self._versions[day] = self._versions.get(day, 0) + 1

    def versions(self, days: list[int]) -> list[int]:
        """The days' versions; read before the read transaction's first statement."""
        with self._lock:
            return [self._versions.get(day, 0) for day in days]

    def get(self, day: int, node: str | None, version: int, deleted: int) -> DayRows | None:
        with self._lock:
            hit = self._entries.get((day, node))
            if hit is None or hit[0] != version or hit[1] != deleted:
                return None
            self._entries.move_to_end((day, node))
            return hit[2]

    def put(self, day: int, node: str | None, version: int, deleted: int, rows: DayRows) -> None:
        with self._lock:
            self._entries[(day, node)] = (version, deleted, rows)
            self._entries.move_to_end((day, node))
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)


def rows_for(query: Callable[[str, dict[str, Any]], list[tuple[Any, ...]]], since: int, until: int,
             node: str | None) -> DayRows:
    """One window's rows, every group kept (no top): ``query(name, args)`` runs a named query."""
    args = {"since": since, "until": until, "node": node, "top": -1}
    repair: dict[str, list[int]] = {}
    for cls, took in query("stats_repair", args):
        repair.setdefault(cls, []).append(took)
    return DayRows(
        per_day=query("stats_per_day", args),
        outcomes={outcome: n for outcome, n in query("stats_outcomes", args)},
        # Sorted, so that sorting the days' times together is mostly a merge of runs.
        repair={cls: array("q", sorted(times)) for cls, times in repair.items()},
        flaky=query("stats_flaky", args),
        suspects=query("stats_suspects", args),
        nodes=query("stats_nodes", args),
        joined=query("stats_nodes_joined", args),
    )


def _sql_key(value: Any) -> tuple[int, Any]:
    """SQLite's order of values of mixed types (NULL, numbers, text, blobs), for max()."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, value) if isinstance(value, str) else (3, value)


def _max(a: Any, b: Any) -> Any:
    """SQLite's max() of two values of a group: NULLs ignored."""
    if a is None:
        return b
    if b is None:
        return a
    return b if _sql_key(b) > _sql_key(a) else a


def merge(parts: list[DayRows], top: int) -> tuple[Any, ...]:
    """What the queries give for the windows together: per_day, outcomes, repair (``repair_figures``),
    flaky, suspects, nodes, joined (in the order and with the ``top`` limit of the queries)."""
    per_day = sorted(row for p in parts for row in p.per_day)
    outcomes: dict[str, int] = {}
    repair: dict[str, array[int]] = {}
    flaky: dict[tuple[Any, Any], list[int]] = {}
    suspects: dict[Any, list[Any]] = {}
    nodes: dict[Any, list[Any]] = {}
    joined: dict[Any, list[Any]] = {}
    for p in parts:
        for outcome, n in p.outcomes.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
        for cls, took in p.repair.items():
            repair.setdefault(cls, array("q")).extend(took)
        # `last` is the newest history entry's time: never NULL.
        for spec, test, times, last in p.flaky:
            f = flaky.get((spec, test))
            if f is None:
                flaky[(spec, test)] = [times, last]
            else:
                f[0], f[1] = f[0] + times, max(f[1], last)
        for sha, subject, n, last in p.suspects:
            s = suspects.setdefault(sha, [None, 0, last])
            s[0], s[1], s[2] = _max(s[0], subject), s[1] + n, max(s[2], last)
        for name, n, ok, newest in p.nodes:
            r = nodes.setdefault(name, [0, 0, None])
            r[0], r[1], r[2] = r[0] + n, r[1] + ok, _max(r[2], newest)
        for name, n, ok in p.joined:
            r = joined.setdefault(name, [0, 0])
            r[0], r[1] = r[0] + n, r[1] + ok
    flaky_rows = _top([(spec, test, t, last) for (spec, test), (t, last) in flaky.items()], top)
    suspect_rows = _top([(sha, subj, n, last) for sha, (subj, n, last) in suspects.items()], top)
    figures = []
    for cls in sorted(repair):  # as stats.repair_figures gives them
        times = sorted(repair[cls])
        n = len(times)
        figures.append((cls, n, sum(times) / n, times[(9 * n + 9) // 10 - 1]))
    return (per_day, outcomes, figures, flaky_rows, suspect_rows,
            [(name, n, ok, newest) for name, (n, ok, newest) in nodes.items()],
            [(name, n, ok) for name, (n, ok) in joined.items()])



def _top(rows: list[tuple[Any, ...]], top: int) -> list[tuple[Any, ...]]:
    """The first ``top`` rows (key..., count, newest) in the queries' order: count, then newest, both
    descending, ties in key order. A long window has tens of thousands of flaky tests: the cut is found
    on the two numbers, and only the rows that reach it are sorted by the whole order."""
    if len(rows) <= top:
        cut = rows
    else:
        floor = heapq.nlargest(top, (r[-2:] for r in rows))[-1]
        cut = [r for r in rows if r[-2:] >= floor]
    return sorted(cut, key=lambda r: (-r[-2], -r[-1], *map(_sql_key, r[:-2])))[:top]
