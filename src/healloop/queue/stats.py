"""The numbers behind the dashboard's trends (``GET /v1/stats``, ``healloop stats``): the window asked
for, checked; the rows a store computes for it (``ReadTx.stats``); and the reply made of them.

Every figure is about the events created in the window [since, until) that the node took part in (any
node when none is named), as their history stands now. Days are UTC days.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from healloop.errors import InvalidInput
from healloop.queue.model import NAME_PATTERN
from healloop.timeutil import US, now_us, parse_rfc3339, to_rfc3339

DAY_US = 86_400 * US
DEFAULT_SINCE = "7d"
MAX_DAYS = 366
TOP = 10  # flaky tests and suspect commits listed
OUTCOMES = ("healed", "approved", "closed", "proposed", "escalated", "reverted", "open")
_RELATIVE = re.compile(r"^(\d{1,6})(m|h|d|w)$")
_UNIT_US = {"m": 60 * US, "h": 3600 * US, "d": DAY_US, "w": 7 * DAY_US}


@dataclass(frozen=True)
class StatsWindow:
    since: int  # µs, inclusive
    until: int  # µs, exclusive
    node: str | None = None


@dataclass
class StatsRows:
    """What a store computes for a window, as plain rows (times in µs)."""

    per_day: list[tuple[str, str, int]]               # day (YYYY-MM-DD), class, events
    outcomes: dict[str, int]                           # outcome -> events
    repair: list[tuple[str, int, float, int]]          # class, resolved events, mean, p90
    flaky: list[tuple[str, str, int, int]]             # spec, test, times called flaky, last time
    suspects: list[tuple[str, str | None, int, int]]   # sha, subject, events, last time
    nodes: list[tuple[str, int, int, int | None]]      # node, events, resolved, newest it reported
    notifications: list[tuple[str, str, int]]          # channel, delivery status, deliveries
    notify_errors: dict[str, str] = field(default_factory=dict)  # channel -> newest error
    seen: dict[str, int] = field(default_factory=dict)           # registered node -> last_seen


# The states an event waits or is worked on in: its outcome is "open" in each.
_OPEN_STATES = frozenset({"queued", "processing", "analyzing", "fixing", "verifying"})


def move_outcome(from_state: str | None, to_state: str, data: dict[str, Any] | None) -> str | None:
    """The outcome (``OUTCOMES``) a move leaves its event in, or None when the move cannot change it: a
    note (from equals to) or a move between two open states. Resolved by the agent, by a person
    approving the proposal, or by an operator closing the escalation; escalated, or escalated because a
    person undid its fix (the move's data lists the reverted commits); proposed; open."""
    if from_state == to_state or (to_state in _OPEN_STATES and from_state in _OPEN_STATES):
        return None
    if to_state == "resolved":
        # A quarantined test's event ends closed (lifted, released or closed by a person), not healed.
        return {"proposed": "approved", "escalated": "closed", "quarantined": "closed"}.get(
            from_state or "", "healed")
    if to_state == "escalated":
        return "reverted" if isinstance((data or {}).get("reverted"), list) else "escalated"
    if to_state == "proposed":
        return "proposed"
    return "open"


def recorded_class(data: dict[str, Any] | None) -> str | None:
    """The failure class a history entry's data records (``agent/classify.py``), as text; None when it
    records none. The latest entry that records one gives the event's class."""
    value = data.get("class") if isinstance(data, dict) else None
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # as SQLite's json_extract gave it before the class had a column
        return str(int(value))
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


MARK_FLAKY = 1    # the agent resolved the event with the label flaky (stats_flaky reads those)
MARK_SUSPECT = 2  # an escalation's root-cause report names a suspect commit (stats_suspects)


def move_marks(to_state: str, data: dict[str, Any] | None) -> int:
    """The marks (``MARK_*``) a move adds to its event: which figures must read the event's history."""
    if not isinstance(data, dict):
        return 0
    if to_state == "resolved" and data.get("label") == "flaky":
        return MARK_FLAKY
    report = data.get("report")
    suspect = report.get("suspect_commit") if isinstance(report, dict) else None
    if to_state == "escalated" and isinstance(suspect, dict) and suspect.get("sha") is not None:
        return MARK_SUSPECT
    return 0


def repair_figures(took: Iterable[tuple[str, int]]) -> list[tuple[str, int, float, int]]:
    """Per class (by name) of (class, µs from creation to resolution): count, mean and the 90th
    percentile by nearest rank, the smallest time at least 90% of them took no longer than
    (percentile_disc(0.9) in PostgreSQL): rank ceil(0.9 n), written (9n + 9) // 10 in integers."""
    by: dict[str, list[int]] = {}
    for cls, us in took:
        by.setdefault(cls, []).append(us)
    out = []
    for cls in sorted(by):
        times = sorted(by[cls])
        n = len(times)
        out.append((cls, n, sum(times) / n, times[(9 * n + 9) // 10 - 1]))
    return out


def node_figures(reported: Iterable[tuple[str, int, int, int]], joined: Iterable[tuple[str, int, int]]
                 ) -> list[tuple[str, int, int, int | None]]:
    """``StatsRows.nodes`` from the events each node reported (node, events, resolved, newest) and the
    ones it joined later (node, events, resolved)."""
    nodes: dict[str, list[Any]] = {name: [n, ok, last] for name, n, ok, last in reported}
    for name, n, ok in joined:
        row = nodes.setdefault(name, [0, 0, None])
        row[0] += n
        row[1] += ok
    return [(name, n, ok, last) for name, (n, ok, last) in sorted(nodes.items())]


def _when(text: str, name: str, now: int) -> int:
    m = _RELATIVE.match(text.strip())
    if m:
        return now - int(m.group(1)) * _UNIT_US[m.group(2)]
    if not text[:1].isdigit() or len(text) < 10:
        raise InvalidInput(f"`{name}` must be an RFC 3339 time such as 2026-11-25T08:30:00Z or a time "
                           f"back from now such as 7d, 24h, 30m or 2w; got {text!r}", field=name)
    return parse_rfc3339(text, name)


def parse_window(since: str | None, until: str | None, node: str | None, *, now: int | None = None
                 ) -> StatsWindow:
    """The window of ``since``/``until`` (RFC 3339 or relative: 7d, 24h, 30m, 2w back from now; since
    defaults to 7d, until to now) and ``node``; each bad value answered with a sentence naming it."""
    now = now_us() if now is None else now
    start = _when(since or DEFAULT_SINCE, "since", now)
    end = _when(until, "until", now) if until else now
    if end <= start:
        raise InvalidInput(f"`until` ({to_rfc3339(end)}) must be after `since` ({to_rfc3339(start)})",
                           field="until")
    if end - start > MAX_DAYS * DAY_US:
        days = (end - start) / DAY_US
        raise InvalidInput(f"the window from `since` to `until` is {days:.1f} days; ask for at most "
                           f"{MAX_DAYS} days at a time", field="since")
    if node is not None and (len(node) > 200 or not re.search(NAME_PATTERN, node)):
        raise InvalidInput("`node` must be a node's name: visible text, at most 200 characters, no NUL",
                           field="node")
    return StatsWindow(start, end, node or None)


def _share(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def _seconds(us: float | None) -> float | None:
    return None if us is None else round(us / US, 3)


def _days(w: StatsWindow) -> list[str]:
    """Every UTC day the window touches, so a chart shows the quiet days too."""
    first = datetime.fromtimestamp(w.since // US, UTC).date()
    last = datetime.fromtimestamp((w.until - 1) // US, UTC).date()
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def to_json(w: StatsWindow, rows: StatsRows) -> dict[str, Any]:
    per_day: dict[str, dict[str, int]] = {day: {} for day in _days(w)}
    for day, cls, n in rows.per_day:
        per_day.setdefault(day, {})[cls] = n
    total = sum(rows.outcomes.values())
    nodes = {name: {"node": name, "events": n, "resolved": ok, "share_resolved": _share(ok, n),
                    "last_report": to_rfc3339(last), "last_seen": None}
             for name, n, ok, last in rows.nodes}
    for name, seen in rows.seen.items():
        if w.node is None or name == w.node:
            nodes.setdefault(name, {"node": name, "events": 0, "resolved": 0, "share_resolved": 0.0,
                                    "last_report": None, "last_seen": None})["last_seen"] = to_rfc3339(seen)
    channels: dict[str, dict[str, Any]] = {}
    for channel, status, n in rows.notifications:
        ch = channels.setdefault(channel, {"channel": channel, "failed": 0, "pending": 0, "delivered": 0,
                                           "muted": 0, "digested": 0, "last_error": None})
        ch[status] = ch.get(status, 0) + n
    for channel, error in rows.notify_errors.items():
        if channel in channels:
            channels[channel]["last_error"] = error
    return {
        "window": {"since": to_rfc3339(w.since), "until": to_rfc3339(w.until), "node": w.node},
        "events": total,
        "failures_per_day": [{"day": day, "events": sum(by.values()), "classes": dict(sorted(by.items()))}
                             for day, by in sorted(per_day.items())],
        "outcomes": {o: {"events": rows.outcomes.get(o, 0), "share": _share(rows.outcomes.get(o, 0), total)}
                     for o in OUTCOMES},
        "time_to_repair": [{"class": cls, "events": n, "mean_s": _seconds(mean), "p90_s": _seconds(p90)}
                           for cls, n, mean, p90 in rows.repair],
        "flaky_tests": [{"spec": spec, "test": test, "times": n, "last_at": to_rfc3339(last)}
                        for spec, test, n, last in rows.flaky],
        "suspect_commits": [{"sha": sha, "subject": subject, "events": n, "last_at": to_rfc3339(last)}
                            for sha, subject, n, last in rows.suspects],
        "nodes": [nodes[name] for name in sorted(nodes)],
        "notifications": [channels[name] for name in sorted(channels)],
    }
