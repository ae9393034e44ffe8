"""Which planned actions wait for a person (`[node.policy] approve = ["restart"]`, `["rerun"]`), and
that an approval is for the plan a person saw and for that run of the event only (issue 12)."""

from __future__ import annotations

from typing import Any

from healloop.agent.plan_approval import approved_plan, classes_of, waiting_for
from healloop.agent.playbooks import Action, Plan

RESTART = Plan("service_restart", [Action("service_restart", {"name": "web"}, "web is down")], why="down")
RERUN = Plan("flaky", label="flaky", why="timeout: rerun unchanged")
EDIT = Plan("selector", [Action("edit_file", {"path": "t.py", "edits": []}, "heal")], why="renamed")


def _approved(plan: Plan) -> dict[str, Any]:
    return {"from": "proposed", "to": "queued",
            "data": {"decision": "approved", "approved": {"plan": plan.to_dict(), "classes": ["x"]}}}


def test_the_classes_of_a_plan_are_what_it_would_do_first() -> None:
    assert classes_of(RESTART) == ["restart"]
    assert classes_of(RERUN) == ["rerun"]
    assert classes_of(EDIT) == []  # an edit is proposed after it was made and verified on a branch
    assert classes_of(Plan("regression", escalate=True)) == []


def test_a_plan_of_a_listed_class_waits_until_that_very_plan_is_approved() -> None:
    proposed = {"from": "analyzing", "to": "proposed", "data": {"proposal": {"kind": "plan"}}}
    assert waiting_for(RESTART, ("restart",), []) == ["restart"]
    assert waiting_for(RESTART, ("edit", "rerun"), []) == []  # not a listed class: as before
    assert waiting_for(RERUN, ("rerun",), [proposed]) == ["rerun"]
    history = [proposed, _approved(RESTART), {"from": "queued", "to": "processing"},
               {"from": "processing", "to": "analyzing"}]
    assert waiting_for(RESTART, ("restart",), history) == []
    # Reworded reasons are the same plan; another service is not.
    reworded = Plan("service_restart", [Action("service_restart", {"name": "web"}, "web: 502")], why="502")
    assert waiting_for(reworded, ("restart",), history) == []
    other = Plan("service_restart", [Action("service_restart", {"name": "db"}, "db is down")], why="down")
    assert waiting_for(other, ("restart",), history) == ["restart"]


def test_an_approval_lasts_until_the_event_ends_or_is_proposed_again() -> None:
    approved = _approved(RESTART)
    assert approved_plan([approved]) == RESTART.to_dict()
    for end in ("escalated", "resolved", "proposed"):
        later = [{"from": "verifying", "to": end}, {"from": end, "to": "queued"}]
        assert approved_plan([approved, *later]) is None
    rejected = {"from": "proposed", "to": "escalated", "data": {"decision": "rejected"}}
    assert approved_plan([approved, rejected]) is None
