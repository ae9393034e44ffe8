"""Selector healing: the element the broken locator meant, or none, and every use of it in the spec
rewritten in the spec's own style (``agent/healing``).

An element the snapshot still shows for the locator was not missing, only late: the test is rerun
unchanged once (a pass means flaky). A heal whose verification failed is not tried again: its element
is set aside and the rest are weighed anew, under the same threshold and margin.
"""

from __future__ import annotations

from typing import Any

from healloop.agent.classify import SELECTOR_NOT_FOUND
from healloop.agent.context import Context
from healloop.agent.healing.heal import ESCALATE, HEALED, NOT_MINE, PRESENT, Failure, Healer, Settings
from healloop.agent.healing.rewrite import edit_hunk
from healloop.agent.playbooks import Action, Plan

NAME = "selector"


def applies(ctx: Context) -> bool:
    return ctx.classification.kind == SELECTOR_NOT_FOUND and bool(ctx.dom and ctx.spec_text)


def _tried(ctx: Context) -> list[str]:
    """The elements earlier attempts healed to and whose verification failed, those of a heal that was
    committed and then reverted by a person (`healloop revert`), and those of a proposal a person
    rejected (`healloop reject`): never chosen again. A heal undone
    before it was verified (its holder released the event or died, or the file was held) is not one."""
    out: list[str] = []
    healed = committed = None
    for h in ctx.event.get("history") or []:
        data = h.get("data") or {}
        details = (data.get("plan") or {}).get("details") or {}
        if h.get("to") == "fixing":
            healed = details.get("element_html") if details.get("status") == HEALED else None
        elif h.get("from") == "verifying" and h.get("to") == "analyzing" and "failure" in data and healed:
            out.append(str(healed))
            healed = None
        elif h.get("to") in ("resolved", "proposed"):
            committed, healed = healed, None
        elif h.get("from") == "resolved" and data.get("reverted") and committed:
            out.append(str(committed))
            committed = None
        elif h.get("from") == "proposed" and data.get("decision") == "rejected" and committed:
            out.append(str(committed))  # a person rejected the proposal: not proposed again
            committed = None
    return out


def plan(ctx: Context) -> Plan | None:
    assert ctx.dom is not None and ctx.spec_text is not None
    settings: Settings = ctx.heal_settings or Settings()
    if ctx.test_id_attr and not settings.test_id_attr:
        settings = Settings(settings.threshold, settings.margin, ctx.test_id_attr)
    stack = str(ctx.event.get("stack") or "") if not ctx.previous_failures else ""
    failure = Failure(
        ctx.spec, ctx.spec_text, ctx.message, ctx.dom, stack, str(ctx.event.get("source") or "")
    )
    outcome = Healer(failure, settings, exclude=_tried(ctx)).heal()
    details: dict[str, Any] = outcome.to_dict()
    if outcome.status == PRESENT:
        if ctx.previous_failures:
            return None  # rerun once already; the regression playbook decides
        return Plan(
            "rerun",
            label="flaky",
            why=f"{outcome.reason}; it may have appeared late: rerun unchanged, a pass means flaky",
            details=details,
        )
    if outcome.status == NOT_MINE and outcome.broken and not ctx.previous_failures:
        # The spec no longer writes the locator that failed: it was changed since the run that failed
        # started (another event's heal of the same locator, an agent that committed and died before
        # resolving, a person). Rerun before deciding anything: a failure is never repaired twice.
        newest = ctx.spec_log[0] if ctx.spec_log else None
        last = ""
        if newest:
            last = f" (its newest commit: {str(newest['sha'])[:10]} {newest.get('subject', '')})"
        return Plan("rerun", why=f"{ctx.spec} no longer writes {outcome.broken}{last}; rerun it unchanged",
                    details=details)
    if outcome.status != HEALED or outcome.new_text is None:
        why = outcome.reason if outcome.status == ESCALATE else f"not healed: {outcome.reason}"
        return Plan(NAME, escalate=True, why=why, details=details)
    old_text, new_text = edit_hunk(ctx.spec_text, outcome.new_text)
    uses = len(outcome.uses_healed)
    edit = {"path": ctx.spec, "edits": [{"old_text": old_text, "new_text": new_text}]}
    why = (
        f"{outcome.broken} no longer matches; the element it meant is now found by {outcome.new_locator} "
        f"(confidence {outcome.confidence:.2f}"
        + (f", runner-up {outcome.runner_up['score']:.2f}" if outcome.runner_up else ", no runner-up")
        + f"); {uses} use(s) in {ctx.spec}"
        + (f"; of close candidates, {outcome.tie_break}" if outcome.tie_break else "")
    )
    return Plan(
        NAME,
        actions=[
            Action("edit_file", edit, f"heal {outcome.broken} → {outcome.new_locator} at {uses} place(s)")
        ],
        why=why,
        details=details,
    )
