"""Unit tests of the queue's rules: pure functions, no store."""

from __future__ import annotations

import pytest

from healloop.errors import BudgetExhausted, Conflict, IllegalTransition, InvalidInput
from healloop.queue import rules
from healloop.queue.rules import QueuePolicy, decide_report, next_attempt

P = QueuePolicy()

LEGAL = {
    ("processing", "analyzing"), ("processing", "escalated"),
    ("analyzing", "fixing"), ("analyzing", "verifying"), ("analyzing", "proposed"),
    ("analyzing", "escalated"),
    ("fixing", "verifying"), ("fixing", "analyzing"), ("fixing", "escalated"),
    ("verifying", "resolved"), ("verifying", "proposed"), ("verifying", "analyzing"),
    ("verifying", "escalated"),
}


@pytest.mark.parametrize("src", rules.STATES)
@pytest.mark.parametrize("dst", rules.STATES)
def test_every_pair_of_states_is_legal_exactly_when_the_table_says(src: str, dst: str) -> None:
    if (src, dst) in LEGAL:
        next_attempt(src, dst, 1, P)
    else:
        with pytest.raises(IllegalTransition):
            next_attempt(src, dst, 1, P)


def test_unknown_state_is_bad_input_not_a_conflict() -> None:
    with pytest.raises(InvalidInput, match="`to` must be one of"):
        next_attempt("processing", "done", 0, P)


def test_attempts_count_from_first_analysis_and_each_reanalysis() -> None:
    assert next_attempt("processing", "analyzing", 0, P) == 1
    assert next_attempt("verifying", "analyzing", 1, P) == 2
    assert next_attempt("verifying", "analyzing", 2, P) == 3
    assert next_attempt("fixing", "analyzing", 2, P) == 2  # only verifying -> analyzing counts
    with pytest.raises(IllegalTransition, match="escalate"):
        next_attempt("verifying", "analyzing", 3, P)
    assert next_attempt("verifying", "escalated", 3, P) == 3


def test_reclaimed_event_keeps_its_attempt() -> None:
    assert next_attempt("processing", "analyzing", 2, P) == 2


def test_fingerprint_is_kind_spec_and_test_for_tests_and_source_labels_for_alerts() -> None:
    a = rules.fingerprint("test_failure", "cypress", "a.cy.js", "t", {"x": "1"})
    assert a == rules.fingerprint("test_failure", "playwright", "a.cy.js", "t", {})
    assert a != rules.fingerprint("test_failure", "cypress", "a.cy.js", "t2", {})
    b = rules.fingerprint("alert", "alertmanager", None, None, {"alertname": "Down", "job": "x"})
    assert b == rules.fingerprint("alert", "alertmanager", "s", "t", {"job": "x", "alertname": "Down"})
    assert b != rules.fingerprint("alert", "grafana", None, None, {"alertname": "Down", "job": "x"})
    # no ambiguity from joining parts
    assert rules.fingerprint("test_failure", "s", "ab", "c", {}) != rules.fingerprint(
        "test_failure", "s", "a", "bc", {})


def test_node_local_failures_include_the_node_in_the_fingerprint() -> None:
    shared = rules.fingerprint("test_failure", "cypress", "a.cy.js", "t", {})
    on_a = rules.fingerprint("test_failure", "cypress", "a.cy.js", "t", {}, "node-a")
    on_b = rules.fingerprint("test_failure", "cypress", "a.cy.js", "t", {}, "node-b")
    assert len({shared, on_a, on_b}) == 3
    assert on_a == rules.fingerprint("test_failure", "pytest", "a.cy.js", "t", {}, "node-a")


def test_report_merges_into_open_event_first() -> None:
    d = decide_report(open_event_id="evt_1", latest_resolved=("evt_0", 100), occurred_at=50,
                      resolved_recently=9, policy=P)
    assert (d.action, d.target) == ("merge", "evt_1")


def test_late_report_merges_into_resolved_event_without_reopening() -> None:
    d = decide_report(open_event_id=None, latest_resolved=("evt_0", 100), occurred_at=99,
                      resolved_recently=0, policy=P)
    assert (d.action, d.target) == ("merge", "evt_0")
    d = decide_report(open_event_id=None, latest_resolved=("evt_0", 100), occurred_at=100,
                      resolved_recently=0, policy=P)
    assert d.action == "create" and d.initial_status == "queued"


def test_flapping_fingerprint_is_created_escalated() -> None:
    d = decide_report(open_event_id=None, latest_resolved=("evt_0", 100), occurred_at=200,
                      resolved_recently=3, policy=P)
    assert d.action == "create" and d.initial_status == "escalated"
    assert "flapping" in (d.note or "")
    d = decide_report(open_event_id=None, latest_resolved=None, occurred_at=200,
                      resolved_recently=2, policy=P)
    assert d.initial_status == "queued"


@pytest.mark.parametrize("src", rules.STATES)
def test_only_a_proposal_can_be_decided_and_only_to_resolved_queued_or_escalated(src: str) -> None:
    for dst in rules.STATES:
        if src == "proposed" and dst in ("resolved", "queued", "escalated"):
            rules.check_decision(src, dst, "evt_1")
        else:
            with pytest.raises(Conflict, match="only a proposed fix can be approved or rejected"):
                rules.check_decision(src, dst, "evt_1")


def test_a_proposal_is_open_but_not_held() -> None:
    assert "proposed" in rules.OPEN and "proposed" not in rules.HELD and "proposed" not in rules.FINAL


MIN = 60 * 1_000_000  # a minute in microseconds


def test_a_new_failure_within_the_cooldown_of_a_repair_is_created_escalated() -> None:
    d = decide_report(open_event_id=None, latest_resolved=("evt_0", 100 * MIN), occurred_at=103 * MIN,
                      resolved_recently=1, policy=P, latest_fixed=True, now=103 * MIN)
    assert d.action == "create" and d.initial_status == "escalated"
    assert d.note == ("cooldown: this failure was repaired 3 min ago (event evt_0); escalated for a person "
                      "instead of repairing it again so soon (healloop serve --cooldown 600)")
    seconds = decide_report(open_event_id=None, latest_resolved=("evt_0", 100 * MIN),
                            occurred_at=100 * MIN + 45_000_000, resolved_recently=1, policy=P,
                            latest_fixed=True, now=100 * MIN + 45_000_000)
    assert "repaired 45 s ago" in (seconds.note or "")


def test_the_cooldown_needs_a_repair_a_recent_one_and_a_setting_above_zero() -> None:
    def decide(**kw: object) -> rules.MergeDecision:
        args: dict = dict(open_event_id=None, latest_resolved=("evt_0", 100 * MIN), occurred_at=105 * MIN,
                          resolved_recently=1, policy=P, latest_fixed=True, now=105 * MIN) | kw
        return decide_report(**args)

    assert decide().initial_status == "escalated"
    # Resolved without a fix (a flaky rerun, a pull from another node): nothing was repaired.
    assert decide(latest_fixed=False).initial_status == "queued"
    # The cooldown (10 minutes by default) has passed.
    assert decide(occurred_at=110 * MIN, now=110 * MIN).initial_status == "queued"
    assert decide(occurred_at=109 * MIN, now=109 * MIN).initial_status == "escalated"
    assert decide(policy=QueuePolicy(cooldown_s=0)).initial_status == "queued"
    assert decide(latest_resolved=None).initial_status == "queued"
    # Merging comes first: an open event absorbs the report; a late report joins the resolved event.
    assert decide(open_event_id="evt_1").target == "evt_1"
    assert decide(occurred_at=99 * MIN).target == "evt_0"
    # Flapping says more than the cooldown: it wins when both hold.
    assert "flapping" in (decide(resolved_recently=3).note or "")


def test_a_budget_refuses_the_fix_that_would_exceed_it_and_names_the_setting() -> None:
    def check(**kw: object) -> None:
        args: dict = dict(spec="tests/x.py", test="test_y", node="ci-1", for_test=0, on_node=0,
                          policy=P) | kw
        rules.check_budget(**args)

    check(for_test=2, on_node=19)
    with pytest.raises(BudgetExhausted) as per_test:
        check(for_test=3)
    assert per_test.value.message == (
        "budget: 3 automatic fixes for tests/x.py::test_y in the past hour (limit 3, healloop serve "
        "--actions-per-hour-test); escalate it for a person instead of fixing it")
    assert per_test.value.status == 409 and per_test.value.code == "budget_exhausted"
    with pytest.raises(BudgetExhausted, match=r"20 automatic fixes on node ci-1 .*--actions-per-hour-node"):
        check(on_node=20)
    # 0 turns a budget off; an alert (no spec and test) or a move naming no node is not counted there.
    check(for_test=50, on_node=50, policy=QueuePolicy(actions_per_hour_test=0, actions_per_hour_node=0))
    check(spec=None, test=None, for_test=50)
    check(node=None, on_node=50)


def test_only_a_node_that_runs_the_fix_is_held_to_the_cooldown() -> None:
    steps = [("analyzing", None), ("fixing", {"node": "ci-1"}), ("analyzing", {"unreachable": {"ci-1": "x"}}),
             ("fixing", {"node": "ci-2"}), ("verifying", None),
             ("resolved", {"other_nodes": {"ci-3": {"passed": True}, "ci-4": {"error": "unreachable"}}})]
    assert rules.has_the_fix("ci-2", steps)  # it made the fix
    assert rules.has_the_fix("ci-3", steps)  # it pulled and verified it
    assert not rules.has_the_fix("ci-4", steps)  # down when the fix was pushed: it reports the old failure
    assert not rules.has_the_fix("ci-1", steps)  # its fix was handed over when it died, never held
    # An agent that names no node: every node is held to it, as before nodes were named.
    assert rules.has_the_fix("ci-1", [("fixing", {}), ("resolved", {})])
