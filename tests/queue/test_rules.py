"""Unit tests of the queue's rules: pure functions, no store."""

from __future__ import annotations

import pytest

from healloop.errors import Conflict, IllegalTransition, InvalidInput
from healloop.queue import rules
from healloop.queue.rules import QueuePolicy, decide_report, next_attempt

P = QueuePolicy()

LEGAL = {
    ("processing", "analyzing"), ("processing", "escalated"),
    ("analyzing", "fixing"), ("analyzing", "verifying"), ("analyzing", "escalated"),
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
def test_only_a_proposal_can_be_decided_and_only_to_resolved_or_escalated(src: str) -> None:
    for dst in rules.STATES:
        if src == "proposed" and dst in ("resolved", "escalated"):
            rules.check_decision(src, dst, "evt_1")
        else:
            with pytest.raises(Conflict, match="only a proposed fix can be approved or rejected"):
                rules.check_decision(src, dst, "evt_1")


def test_a_proposal_is_open_but_not_held() -> None:
    assert "proposed" in rules.OPEN and "proposed" not in rules.HELD and "proposed" not in rules.FINAL
