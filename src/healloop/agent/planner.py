"""The rules planner: playbooks by failure class, no model needed.

History first: when a past event with the same fingerprint was resolved by a playbook that applies
now, that playbook is tried before the usual order.
"""

from __future__ import annotations

from types import ModuleType

from healloop.agent.context import Context
from healloop.agent.playbooks import Plan, flaky, regression, selector, service

PLAYBOOKS: list[ModuleType] = [selector, service, flaky, regression]


def ordered(ctx: Context) -> list[ModuleType]:
    worked = [
        p["playbook"]
        for p in ctx.past
        if p.get("status") == "resolved" and p.get("playbook") and p.get("class") == ctx.classification.kind
    ]
    first = [pb for name in worked for pb in PLAYBOOKS if name == pb.NAME]
    return list(dict.fromkeys(first + PLAYBOOKS))


class RulesPlanner:
    name = "rules"

    async def plan(self, ctx: Context, executor: object = None) -> Plan:
        for i, playbook in enumerate(ordered(ctx)):
            if playbook.applies(ctx):
                plan = playbook.plan(ctx)
                if plan is not None:
                    if i == 0 and any(p.get("playbook") == playbook.NAME for p in ctx.past):
                        plan.details["from_history"] = True
                    return plan
        return regression.plan(ctx) or Plan("regression", escalate=True, why="no playbook applies")
