"""``[node.policy] approve = ["restart"]`` or ``["rerun"]``: which planned actions wait for a person before
they are carried out, and whether a person approved this very plan.

An edit or a revert is made and verified on a ``healloop/`` branch first, and proposed with its diff
(``worker._propose``): nothing reaches the followed branch until a person lands it. A service restart
or a rerun cannot be tried on a branch, so the plan itself is proposed (``kind = "plan"``), before
anything is done. Approving it puts the event back in the queue with the plan in the decision's data;
the agent that claims the event next carries out that plan, and only that plan: a different one (the
app changed meanwhile, say) is proposed again.
"""

from __future__ import annotations

from typing import Any

from healloop.agent.playbooks import Plan

# The classes proposed as a plan, before any action; "edit" and "revert" are proposed after, on a branch.
BEFORE_ACTING = ("restart", "rerun")


def classes_of(plan: Plan) -> list[str]:
    """The approval classes of what ``plan`` would do first: a restart, or a rerun with nothing changed
    (the flaky playbook, a rerun after someone else's change)."""
    found = []
    if any(a.tool == "service_restart" for a in plan.actions):
        found.append("restart")
    if not plan.actions and not plan.escalate:
        found.append("rerun")
    return found


def approved_plan(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The plan a person approved for the event's current run: the latest decision's, unless the event
    ended (escalated or resolved) or was proposed again after it."""
    for h in reversed(history):
        data = h.get("data") or {}
        if data.get("decision") == "approved" and isinstance(data.get("approved"), dict):
            plan = data["approved"].get("plan")
            return plan if isinstance(plan, dict) else None
        if h.get("to") in ("proposed", "escalated", "resolved"):
            return None
    return None


def _shape(plan: dict[str, Any]) -> tuple[Any, ...]:
    """What an approval is for: the playbook, the label, and each action's tool and arguments (not the
    wording of the reasons, which may change between two analyses of the same failure)."""
    actions = tuple((a.get("tool"), sorted((a.get("args") or {}).items())) for a in plan.get("actions") or [])
    return plan.get("playbook"), plan.get("label"), repr(actions)


def waiting_for(plan: Plan, approve: tuple[str, ...], history: list[dict[str, Any]]) -> list[str]:
    """The classes of ``plan`` that a person must approve before it is carried out; [] to go ahead."""
    need = [c for c in classes_of(plan) if c in approve]
    if not need:
        return []
    approved = approved_plan(history)
    if approved is not None and _shape(approved) == _shape(plan.to_dict()):
        return []
    return need
