"""The queue's rules, once, above any storage: states, legal moves, attempts, fingerprints, merging.

Everything here is pure: it takes values (and ``now``) and returns decisions, so the same rules hold
on every backend and unit tests need no database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from healloop.errors import BudgetExhausted, Conflict, IllegalTransition, InvalidInput
from healloop.timeutil import US

QUEUED = "queued"
PROCESSING = "processing"
ANALYZING = "analyzing"
FIXING = "fixing"
VERIFYING = "verifying"
PROPOSED = "proposed"
RESOLVED = "resolved"
ESCALATED = "escalated"
# A failure of a quarantined test (see queue/quarantine.py): kept and counted, never handed to an agent.
QUARANTINED = "quarantined"

STATES = (QUEUED, PROCESSING, ANALYZING, FIXING, VERIFYING, PROPOSED, RESOLVED, ESCALATED, QUARANTINED)
# States in which an agent holds the event under a lease.
HELD = frozenset({PROCESSING, ANALYZING, FIXING, VERIFYING})
# An open event absorbs new reports of its fingerprint. Escalated and proposed are open: they wait for
# a person (a proposed fix waits on its healloop/<id> branch for approval; see DECISIONS). A quarantined
# one absorbs the test's later failures, so a flaky test under quarantine is one event, counted.
OPEN = frozenset({QUEUED, *HELD, PROPOSED, ESCALATED, QUARANTINED})
FINAL = frozenset({RESOLVED, ESCALATED})

# The moves an agent may make with its lease token. One table, one place.
TRANSITIONS: dict[str, frozenset[str]] = {
    PROCESSING: frozenset({ANALYZING, ESCALATED}),
    # analyzing -> proposed: a planned restart or rerun waits for a person before it is carried out.
    ANALYZING: frozenset({FIXING, VERIFYING, PROPOSED, ESCALATED}),
    FIXING: frozenset({VERIFYING, ANALYZING, ESCALATED}),
    # proposed: verified on a branch, waiting for a person ([node.policy] approve); the lease ends there.
    VERIFYING: frozenset({RESOLVED, PROPOSED, ANALYZING, ESCALATED}),
}
# What a person (or the proposal's expiry) does with a proposal: approve a fix made on a branch
# (resolved), approve a planned action so that an agent carries it out (queued), or reject either
# (escalated). These moves need no lease; they are the only ways out of `proposed`.
DECISIONS: dict[str, frozenset[str]] = {
    PROPOSED: frozenset({RESOLVED, QUEUED, ESCALATED}),
}
# What a person does with an event no agent holds (`healloop events requeue|close`), and what the end
# of a quarantine does with the test's quarantined event: requeued (an agent may repair it now) or
# closed as resolved. No lease is involved; nothing else leaves `quarantined`. A quarantine set on a test
# takes its queued event (no agent has it yet) out of the queue.
PERSON_MOVES: dict[str, frozenset[str]] = {
    QUEUED: frozenset({QUARANTINED}),
    ESCALATED: frozenset({QUEUED, RESOLVED}),
    QUARANTINED: frozenset({QUEUED, RESOLVED}),
}
# A proposal's kind (its history's data.proposal.kind): a fix made and verified on a branch, or a plan
# of actions not yet taken ([node.policy] approve = ["restart"] or ["rerun"]).
BRANCH_PROPOSAL, PLAN_PROPOSAL = "branch", "plan"

KINDS = ("test_failure", "alert")
# The budgets of automatic fixes count the moves to `fixing` within this window.
ACTION_WINDOW_S = 3600


@dataclass(frozen=True)
class QueuePolicy:
    """Tunable limits; the defaults are the documented ones."""

    max_attempts: int = 3
    max_lapses: int = 3
    flap_threshold: int = 3
    flap_window_s: int = 3600
    idempotency_window_s: int = 24 * 3600
    # A proposed fix not approved or rejected within this long is escalated ("proposal expired").
    proposal_ttl_s: int = 3 * 24 * 3600
    # A new failure of a fingerprint within this long of a repair of it is escalated, not repaired
    # again (a repair that did not hold is a person's to look at); 0 turns it off.
    cooldown_s: int = 600
    # Moves to `fixing` allowed within ACTION_WINDOW_S per spec+test and per node; 0 turns each off.
    actions_per_hour_test: int = 3
    actions_per_hour_node: int = 20
    # Quarantine (queue/quarantine.py): a test called flaky `quarantine_after` times within
    # `quarantine_window_s` is quarantined for `quarantine_for_s` (0 turns the automatic one off);
    # `release_after` clean runs, on at least two nodes, lift it early.
    quarantine_after: int = 3
    quarantine_window_s: int = 7 * 86400
    quarantine_for_s: int = 14 * 86400
    release_after: int = 10


def check_state_name(name: str, field: str = "to") -> str:
    if name not in STATES:
        raise InvalidInput(
            f"`{field}` must be one of {', '.join(STATES)}; got {name!r}", field=field
        )
    return name


def next_attempt(current: str, target: str, attempt: int, policy: QueuePolicy) -> int:
    """Check an agent's move and return the event's attempt number after it.

    ``attempt`` is 0 until the first analysis and 1 during it; each verifying -> analyzing starts
    the next attempt. The move that would exceed ``max_attempts`` is refused: the agent escalates.
    """
    check_state_name(target)
    allowed = TRANSITIONS.get(current, frozenset())
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "none (the event is not held)"
        raise IllegalTransition(
            f"cannot move an event from {current} to {target}; allowed from {current}: {options}"
        )
    if target == ANALYZING:
        if current == VERIFYING:
            if attempt + 1 > policy.max_attempts:
                raise IllegalTransition(
                    f"attempt {attempt} of {policy.max_attempts} was the last one: "
                    "escalate the event instead of analysing it again"
                )
            return attempt + 1
        return max(attempt, 1)
    return attempt


def check_person_move(current: str, target: str, event_id: str, verb: str) -> None:
    """A person's requeue or close (or a quarantine's end) of an event no agent holds."""
    if target not in PERSON_MOVES.get(current, frozenset()):
        raise Conflict(f"only an escalated event can be {verb} (or a quarantined one); event {event_id} "
                       f"is {current}")


def check_decision(current: str, target: str, event_id: str) -> None:
    """A person's decision on a proposal: only from ``proposed``, to resolved, queued or escalated."""
    if target not in DECISIONS.get(current, frozenset()):
        raise Conflict(
            f"event {event_id} is {current}; only a proposed fix can be approved or rejected"
        )


def fingerprint(
    kind: str, source: str, spec: str | None, test: str | None, labels: dict[str, str],
    local_to: str | None = None,
) -> str:
    """The identity of a failure: kind + spec + test for tests, source + labels for alerts.

    ``local_to`` is the reporting node when the failure is local to it (a service down on that
    machine, a full disk, a port in use): then the same test failing on two machines is two events,
    each repaired where it happened. A fault in the test or the app code is one event for all nodes.
    """
    h = hashlib.blake2b(digest_size=16)
    if kind == "alert":
        parts = [kind, source, *(f"{k}={labels[k]}" for k in sorted(labels))]
    else:
        parts = [kind, spec or "", test or ""]
    if local_to is not None:
        parts += ["node", local_to]
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


@dataclass(frozen=True)
class MergeDecision:
    """What to do with an incoming report: merge into ``target`` (and whether to reopen), or create."""

    action: str  # "merge" | "create"
    target: str | None = None
    initial_status: str = QUEUED
    note: str | None = None


def decide_report(
    *,
    open_event_id: str | None,
    latest_resolved: tuple[str, int] | None,
    occurred_at: int,
    resolved_recently: int,
    policy: QueuePolicy,
    latest_fixed: bool = False,
    now: int = 0,
    quarantined: str | None = None,
) -> MergeDecision:
    """Decide where a report goes.

    1. Into the open event of its fingerprint, if any.
    2. Into the latest resolved event, without reopening it, if the report happened before that
       event was resolved (machines running the same suite report the same failure late).
    3. Otherwise a new event, created escalated if the fingerprint is flapping (resolved
       ``flap_threshold`` times within the window), or if the latest resolved event was repaired
       (``latest_fixed``: its history has a move to fixing) less than ``cooldown_s`` before ``now``,
       so no agent repairs the same thing in a loop.
    4. A new event of a quarantined test (``quarantined``: the quarantine, in words) is created
       quarantined: kept and counted, never handed to an agent.
    """
    if open_event_id is not None:
        return MergeDecision("merge", open_event_id)
    if latest_resolved is not None and occurred_at < latest_resolved[1]:
        return MergeDecision("merge", latest_resolved[0])
    if quarantined is not None:
        return MergeDecision("create", initial_status=QUARANTINED,
                             note=f"quarantined: {quarantined}; kept, not handed to an agent")
    if resolved_recently >= policy.flap_threshold:
        minutes = policy.flap_window_s // 60
        return MergeDecision(
            "create",
            initial_status=ESCALATED,
            note=(
                f"flapping: this failure was resolved {resolved_recently} times in the past "
                f"{minutes} minutes; escalated for a person instead of repairing it again"
            ),
        )
    if latest_resolved is not None and latest_fixed and policy.cooldown_s > 0:
        event_id, resolved_at = latest_resolved
        age_s = max(0, now - resolved_at) // US
        if age_s < policy.cooldown_s:
            ago = f"{age_s} s" if age_s < 60 else f"{age_s // 60} min"
            return MergeDecision(
                "create",
                initial_status=ESCALATED,
                note=(
                    f"cooldown: this failure was repaired {ago} ago (event {event_id}); escalated for "
                    f"a person instead of repairing it again so soon (healloop serve --cooldown "
                    f"{policy.cooldown_s})"
                ),
            )
    return MergeDecision("create")


def has_the_fix(node: str, steps: list[tuple[str, dict[str, Any] | None]]) -> bool:
    """Whether ``node`` already runs the repair recorded in ``steps`` (a resolved event's history as
    (to_state, data)): it made the fix (the last fixing move names it) or verified it after pulling
    (``other_nodes``). Only then is its new report of the failure a repair that did not hold, for the
    cooldown; a node that was down when the fix was pushed reports the old failure, and its agent pulls
    and reruns. Moves that name no node (older agents) leave the cooldown applying to every node."""
    holders: set[str] = set()
    for to, data in steps:
        data = data or {}
        if to == FIXING:
            # Only the last fix is the one that held: an earlier one was undone (its rerun failed, or
            # its node died and the repair was handed over to another).
            holders = {data["node"]} if isinstance(data.get("node"), str) else set()
        if to == RESOLVED and isinstance(data.get("other_nodes"), dict):
            holders |= {n for n, r in data["other_nodes"].items() if isinstance(r, dict) and r.get("passed")}
    return not holders or node in holders


def check_budget(
    *, spec: str | None, test: str | None, node: str | None, for_test: int, on_node: int,
    policy: QueuePolicy,
) -> None:
    """Refuse a move to fixing when the budget of automatic fixes is spent: ``for_test`` moves to fixing
    for events of this spec and test, or ``on_node`` moves naming this node, within the past
    ACTION_WINDOW_S. The agent escalates instead; a test (or alert) without a spec and test, or a move
    that names no node, is not counted against that budget."""
    limit = policy.actions_per_hour_test
    if limit and spec and test and for_test >= limit:
        raise BudgetExhausted(
            f"budget: {_fixes(for_test)} for {spec}::{test} in the past hour (limit {limit}, "
            "healloop serve --actions-per-hour-test); escalate it for a person instead of fixing it"
        )
    limit = policy.actions_per_hour_node
    if limit and node and on_node >= limit:
        raise BudgetExhausted(
            f"budget: {_fixes(on_node)} on node {node} in the past hour (limit {limit}, "
            "healloop serve --actions-per-hour-node); escalate it for a person instead of fixing it"
        )


def _fixes(n: int) -> str:
    return f"{n} automatic fix" if n == 1 else f"{n} automatic fixes"
