"""Assertion mismatches, script errors and anything left: never edit the test; report and escalate.
With ``node.policy.revert`` the suspect commit is reverted instead, on the branch
``healloop/revert-<event id>`` made from the current HEAD, then verified by rerunning the test."""

from __future__ import annotations

from healloop.agent.context import Context
from healloop.agent.playbooks import Action, Plan
from healloop.agent.report import suspect_commit

NAME = "regression"


def revert_branch(ctx: Context) -> str:
    """The branch a revert is made on, from the current HEAD: never the branch people work on."""
    return f"healloop/revert-{ctx.event['id']}"


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
                    {"revision": suspect["sha"], "branch": revert_branch(ctx)},
                    f"revert the suspect commit {suspect['sha'][:10]} on {revert_branch(ctx)}",
                )
            ],
            why="app behaviour changed; the node's policy allows reverting the suspect commit, "
            f"on the branch {revert_branch(ctx)}",
            details={"suspect": suspect, "branch": revert_branch(ctx)},
        )
    return Plan(
        NAME,
        escalate=True,
        details={"suspect": suspect},
        why=f"{ctx.classification.kind}: the app's behaviour changed or the failure is not repairable "
        "by editing the test; tests are never edited to match",
    )
