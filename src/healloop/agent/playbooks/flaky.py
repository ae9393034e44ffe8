"""Timeouts, assertions that timed out waiting, detached or covered elements, and unknown failures:
rerun unchanged once; a pass means flaky. A web-first assertion that timed out (``toHaveText`` waiting
for text that never came) may be a slow page or a regression: the rerun decides, never an edit. If it
fails again, the regression playbook escalates it."""

from __future__ import annotations

from healloop.agent.classify import ASSERTION_TIMEOUT, ELEMENT_DETACHED, TIMEOUT, UNKNOWN
from healloop.agent.context import Context
from healloop.agent.playbooks import Plan

NAME = "rerun"


def applies(ctx: Context) -> bool:
    # Once per event: if a rerun already failed, the same failure again is not flakiness.
    kinds = (TIMEOUT, ASSERTION_TIMEOUT, ELEMENT_DETACHED, UNKNOWN)
    return ctx.classification.kind in kinds and not ctx.previous_failures


def plan(ctx: Context) -> Plan | None:
    return Plan(NAME, label="flaky", why=f"{ctx.classification.kind}: rerun unchanged; a pass means flaky")
