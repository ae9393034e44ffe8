"""Per-test run history and flaky-test quarantine: the data, and the rules, once, above any store.

Run history is one row per (spec, test, node), updated in place: passes and failures counted, and the
last pass and failure times. Passes arrive in one ``POST /v1/runs`` per test run (``RunsIn``);
failures are the reports themselves (``POST /v1/events``), counted into the same row. An upsert table,
not a log of runs: a suite of 2,000 tests run hourly on 5 machines would add 240,000 rows a day to a
log, and every figure the test page shows (counts, last times per node) is a running total.

A quarantine keeps a flaky test's failures from the agents: they are still reported and counted, in an
event that waits in ``quarantined`` (rules.PERSON_MOVES says how it leaves). Rows are kept when a
quarantine ends (lifted by a person, released after clean runs, or expired), so the test page shows why.

Everything here is pure: it takes values and ``now`` and returns decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

from healloop.errors import ConfigError
from healloop.queue.model import Key, Name, Spec, Timestamp, Title
from healloop.queue.rules import QueuePolicy
from healloop.timeutil import US, span, to_rfc3339

# The most tests one POST /v1/runs names: a bigger suite sends its passes in several requests (each
# with its own run_id), so no request is over the 1 MiB body limit (2,000 pairs of long names fit).
MAX_PASSED = 2000
AUTO_OWNER = "healloop"
HISTORY_SHOWN = 10  # past quarantines listed on the test view


class RunTest(msgspec.Struct, forbid_unknown_fields=True):
    spec: Spec
    test: Title


class RunsIn(msgspec.Struct, forbid_unknown_fields=True):
    """The tests that passed in one run on one node: ``POST /v1/runs``. ``run_id`` makes it idempotent:
    the same node and run_id within the queue's idempotency window (24 h) is counted once."""

    node: Name
    run_id: Key
    passed: Annotated[list[RunTest], msgspec.Meta(max_length=MAX_PASSED)] = []
    source: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    sent_at: Timestamp | None = None


class QuarantineIn(msgspec.Struct, forbid_unknown_fields=True):
    """A person quarantines a test: ``POST /v1/quarantines``."""

    spec: Spec
    test: Title
    owner: Name
    # How long: seconds from now (at most 90 days).
    seconds: Annotated[int, msgspec.Meta(gt=0, le=90 * 86400)]
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class LiftIn(msgspec.Struct, forbid_unknown_fields=True):
    """A person lifts a quarantine: ``POST /v1/quarantines/lift``."""

    spec: Spec
    test: Title
    by: Name
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


@dataclass
class TestRuns:
    """One test's record on one node (times in µs)."""

    spec: str
    test: str
    node: str
    passes: int = 0
    failures: int = 0
    last_pass_at: int | None = None
    last_fail_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        last = max(self.last_pass_at or 0, self.last_fail_at or 0)
        return {"node": self.node, "passes": self.passes, "failures": self.failures,
                "last_pass_at": to_rfc3339(self.last_pass_at) if self.last_pass_at else None,
                "last_fail_at": to_rfc3339(self.last_fail_at) if self.last_fail_at else None,
                "last_run": None if not last else {
                    "at": to_rfc3339(last), "passed": (self.last_pass_at or 0) >= (self.last_fail_at or 0)}}


@dataclass
class Quarantine:
    spec: str
    test: str
    owner: str
    set_at: int
    until: int
    reason: str | None = None
    auto: bool = False
    # Clean runs since the quarantine began or the test last failed (whichever is later), and the nodes
    # they came from: the release rule counts these.
    clean: int = 0
    clean_nodes: list[str] = field(default_factory=list)
    lifted_at: int | None = None
    lifted_by: str | None = None
    lift_note: str | None = None
    id: int | None = None

    def active(self, now: int) -> bool:
        return self.lifted_at is None and self.until > now

    def ended(self, now: int) -> str | None:
        """How it ended: lifted, released, expired; None while it holds."""
        if self.lifted_at is not None:
            return "released" if self.lifted_by == AUTO_OWNER else "lifted"
        return "expired" if self.until <= now else None

    def words(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return f"{self.spec} > {self.test} is quarantined by {self.owner} until {to_rfc3339(self.until)}{why}"

    def to_json(self, now: int) -> dict[str, Any]:
        return {"spec": self.spec, "test": self.test, "owner": self.owner, "reason": self.reason,
                "automatic": self.auto, "since": to_rfc3339(self.set_at), "until": to_rfc3339(self.until),
                "active": self.active(now), "ended": self.ended(now),
                "clean_runs": self.clean, "clean_nodes": list(self.clean_nodes),
                "lifted_at": to_rfc3339(self.lifted_at) if self.lifted_at else None,
                "lifted_by": self.lifted_by, "lift_note": self.lift_note}


def auto_quarantine(*, spec: str, test: str, flaky_calls: int, last_pass_at: int | None, now: int,
                    policy: QueuePolicy) -> Quarantine | None:
    """The quarantine healloop sets when it has called the test flaky ``quarantine_after`` times within
    ``quarantine_window_s``: None below that, when it is off (0), or when no run of the test passed
    within the window (a test that always fails is broken, not flaky: it stays the agents' and a
    person's to repair)."""
    p = policy
    if not p.quarantine_after or flaky_calls < p.quarantine_after:
        return None
    if last_pass_at is None or last_pass_at < now - p.quarantine_window_s * US:
        return None
    reason = (f"called flaky {flaky_calls} times in {span(p.quarantine_window_s)} "
              f"(healloop serve --quarantine-after {p.quarantine_after})")
    return Quarantine(spec, test, AUTO_OWNER, now, now + p.quarantine_for_s * US, reason, auto=True)


def count_clean(q: Quarantine, node: str) -> None:
    """A pass of the quarantined test on ``node``."""
    q.clean += 1
    if node not in q.clean_nodes:
        q.clean_nodes.append(node)


def count_failure(q: Quarantine) -> None:
    """A failure of the quarantined test anywhere: the clean runs start again from none."""
    q.clean, q.clean_nodes = 0, []


def release_note(q: Quarantine, policy: QueuePolicy) -> str | None:
    """Why the quarantine ends by itself now, or None: ``release_after`` clean runs (no failure since the
    first of them) on at least two nodes, so one machine where the race never shows frees nothing."""
    if policy.release_after and q.clean >= policy.release_after and len(q.clean_nodes) >= 2:
        return (f"released: {q.clean} clean runs on {len(q.clean_nodes)} nodes "
                f"({', '.join(sorted(q.clean_nodes))}) since the quarantine began or the test last failed")
    return None


def flake_rate(flaky_calls: int, runs: int) -> float | None:
    """Runs in which the test failed and then passed unchanged, as healloop's rerun found (each event
    it resolved with the label flaky), over every run recorded (passes plus failures, all nodes); None
    before any run is recorded. Both over the whole recorded history (events `healloop prune` removed
    no longer count as flaky calls)."""
    return round(min(flaky_calls, runs) / runs, 4) if runs else None


# [queue] keys of healloop.toml (and `healloop serve` options of the same names), with the
# QueuePolicy field each sets and whether it is a duration.
SETTINGS = {"quarantine_after": ("quarantine_after", False),
            "quarantine_window": ("quarantine_window_s", True),
            "quarantine_for": ("quarantine_for_s", True),
            "release_after": ("release_after", False)}
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_s(value: object, name: str) -> int:
    """'14d', '12h', '30m', '2w', or whole seconds; from 1 s to 366 days."""
    text = str(value).strip().lower()
    unit = text[-1:] if text[-1:] in _UNIT_S else "s"
    number = text[:-1] if text[-1:] in _UNIT_S else text
    if isinstance(value, bool) or not number.isdigit() or not 0 < int(number) * _UNIT_S[unit] <= 366 * 86400:
        raise ConfigError(f"`{name}` must be a duration such as 7d, 12h, 30m or 2w (at most 366 days), "
                          f"got {value!r}", field=name)
    return int(number) * _UNIT_S[unit]


def settings(table: dict[str, Any], given: dict[str, object]) -> dict[str, int]:
    """QueuePolicy fields from the [queue] ``table`` of healloop.toml, overridden by ``given`` (the
    command's options, None where not given); each bad value named."""
    out: dict[str, int] = {}
    for key, (attr, is_duration) in SETTINGS.items():
        value = given.get(key)
        where = f"--{key.replace('_', '-')}"
        if value is None:
            value, where = table.get(key), f"queue.{key}"
        if value is None:
            continue
        if is_duration:
            out[attr] = duration_s(value, where)
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
            raise ConfigError(f"`{where}` must be a whole number from 0 to 10000, got {value!r}", field=where)
        else:
            out[attr] = value
    return out
