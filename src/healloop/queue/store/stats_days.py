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
# Windows of whole days added up (the last ones asked for): a dashboard asks for the same few again, and
# a year of the 1M-event history adds up some 190,000 flaky tests (bench/dashboard.py: 47,000 in 90 days).
MAX_WINDOWS = 16


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
        self._windows: OrderedDict[tuple[int, int, str | None], tuple[tuple[int, ...], int, Merged]] = (
            OrderedDict())

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

    def whole_days(self, days: list[int], node: str | None, versions: list[int], deleted: int,
                   make: Callable[[], Merged]) -> Merged:
        """The days (consecutive) added up: kept while none of them changed, else ``make()``."""
        key, stamp = (days[0], days[-1], node), tuple(versions)
        with self._lock:
            hit = self._windows.get(key)
            if hit is not None and hit[0] == stamp and hit[1] == deleted:
                self._windows.move_to_end(key)
                return hit[2]
        merged = make()
        with self._lock:
            self._windows[key] = (stamp, deleted, merged)
            self._windows.move_to_end(key)
            while len(self._windows) > MAX_WINDOWS:
                self._windows.popitem(last=False)
        return merged


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


@dataclass
class Merged:
    """Windows added up, each figure keyed as the queries group it; the flaky tests and suspects also in
    the queries' order, so that a few more rows (the edges) re-rank only the top (see ``combine``)."""

    per_day: list[tuple[str, str, int]]
    outcomes: dict[str, int]
    repair: dict[str, list[int]]                  # class -> sorted µs
    flaky: dict[tuple[Any, Any], list[int]]       # (spec, test) -> [times, last]
    flaky_order: list[tuple[Any, ...]]
    suspects: dict[Any, list[Any]]                # sha -> [subject, events, last]
    suspects_order: list[tuple[Any, ...]]
    nodes: dict[Any, list[Any]]
    joined: dict[Any, list[Any]]


def gather(parts: list[DayRows]) -> Merged:
    """The windows' rows added up (counts add, newest times take the max, durations are pooled)."""
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
    return Merged(
        per_day=[row for p in parts for row in p.per_day],
        outcomes=outcomes,
        repair={cls: sorted(times) for cls, times in repair.items()},
        flaky=flaky,
        flaky_order=_ordered([(spec, test, t, last) for (spec, test), (t, last) in flaky.items()]),
        suspects=suspects,
        suspects_order=_ordered([(sha, subj, n, last) for sha, (subj, n, last) in suspects.items()]),
        nodes=nodes,
        joined=joined,
    )


def combine(whole: Merged, edges: list[DayRows], top: int) -> tuple[Any, ...]:
    """What the queries give for the whole days and the edges together: per_day, outcomes, repair (as
    ``stats.repair_figures``), flaky, suspects (``top`` of each), nodes, joined. The edges' rows are few:
    only the flaky tests and suspects they name are re-ranked against the whole days' top."""
    extra = gather(edges)
    per_day = sorted(whole.per_day + extra.per_day)
    outcomes = dict(whole.outcomes)
    for outcome, n in extra.outcomes.items():
        outcomes[outcome] = outcomes.get(outcome, 0) + n
    repair = []
    for cls in sorted(whole.repair.keys() | extra.repair.keys()):
        times = whole.repair.get(cls, [])
        if cls in extra.repair:
            times = sorted(times + extra.repair[cls])  # two sorted runs: a merge
        n = len(times)
        repair.append((cls, n, sum(times) / n, times[(9 * n + 9) // 10 - 1]))
    flaky = []
    for (spec, test), (t, last) in extra.flaky.items():
        f = whole.flaky.get((spec, test))
        flaky.append((spec, test, t + f[0], max(last, f[1])) if f else (spec, test, t, last))
    suspects = []
    for sha, (subject, n, last) in extra.suspects.items():
        g = whole.suspects.get(sha)
        suspects.append((sha, _max(subject, g[0]), n + g[1], max(last, g[2])) if g
                        else (sha, subject, n, last))
    nodes = {name: list(r) for name, r in whole.nodes.items()}
    for name, (n, ok, newest) in extra.nodes.items():
        r = nodes.setdefault(name, [0, 0, None])
        r[0], r[1], r[2] = r[0] + n, r[1] + ok, _max(r[2], newest)
    joined = {name: list(r) for name, r in whole.joined.items()}
    for name, (n, ok) in extra.joined.items():
        r = joined.setdefault(name, [0, 0])
        r[0], r[1] = r[0] + n, r[1] + ok
    return (per_day, outcomes, repair,
            _rerank(whole.flaky_order, flaky, extra.flaky.keys(), lambda r: (r[0], r[1]), top),
            _rerank(whole.suspects_order, suspects, extra.suspects.keys(), lambda r: r[0], top),
            [(name, n, ok, newest) for name, (n, ok, newest) in nodes.items()],
            [(name, n, ok) for name, (n, ok) in joined.items()])


def _order(r: tuple[Any, ...]) -> tuple[Any, ...]:
    """The queries' order of flaky tests and suspects (key..., count, newest): count, then newest, both
    descending; ties beyond in key order."""
    return (-r[-2], -r[-1], *map(_sql_key, r[:-2]))


def _ordered(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=_order)


def _rerank(order: list[tuple[Any, ...]], changed: list[tuple[Any, ...]], keys: Any,
            key: Callable[[tuple[Any, ...]], Any], top: int) -> list[tuple[Any, ...]]:
    """The first ``top`` of ``order`` (rows in the queries' order) with the ``changed`` rows (whose keys
    are ``keys``) put in place of their old ones: the ones unchanged keep their relative order, so the
    first ``top`` of them and the changed rows hold the answer."""
    kept = []
    for r in order:
        if len(kept) == top:
            break
        if key(r) not in keys:
            kept.append(r)
    return sorted(kept + changed, key=_order)[:top]
