"""Assertion mismatches, script errors and anything left: never edit the test; report and escalate.
With ``node.policy.revert`` the suspect commit is reverted instead, then verified."""

from __future__ import annotations

from healloop.agent.context import Context
from healloop.agent.playbooks import Action, Plan
from healloop.agent.report import suspect_commit

NAME = "regression"


def applies(ctx: Context) -> bool:
    return True


def plan(ctx: Context) -> Plan | None:
    suspect = suspect_commit(ctx)
    if ctx.policy.revert and suspect and ctx.reverts_done < ctx.policy.reverts_per_event:
        return Plan(
            NAME,
            actions=[
                Action(
                    "git_revert",
                    {"revision": suspect["sha"]},
                    f"revert the suspect commit {suspect['sha'][:10]}",
                )
            ],
            why="app behaviour changed; the node's policy allows reverting the suspect commit",
            details={"suspect": suspect},
        )
    return Plan(
        NAME,
        escalate=True,
        details={"suspect": suspect},
        why=f"{ctx.classification.kind}: the app's behaviour changed or the failure is not repairable "
        "by editing the test; tests are never edited to match",
    )
