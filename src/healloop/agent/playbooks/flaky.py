"""Timeouts, detached or covered elements, and unknown failures: rerun unchanged; a pass means flaky."""

from __future__ import annotations

from healloop.agent.classify import ELEMENT_DETACHED, TIMEOUT, UNKNOWN
from healloop.agent.context import Context
from healloop.agent.playbooks import Plan

NAME = "rerun"


def applies(ctx: Context) -> bool:
    # Once per event: if a rerun already failed, the same failure again is not flakiness.
    return ctx.classification.kind in (TIMEOUT, ELEMENT_DETACHED, UNKNOWN) and not ctx.previous_failures


def plan(ctx: Context) -> Plan | None:
    return Plan(NAME, label="flaky", why=f"{ctx.classification.kind}: rerun unchanged; a pass means flaky")
