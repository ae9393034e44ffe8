"""Selector healing: find the element the test meant, write a stable selector for it into the spec."""

from __future__ import annotations

from healloop.agent.classify import SELECTOR_NOT_FOUND
from healloop.agent.context import Context
from healloop.agent.playbooks import Action, Plan
from healloop.agent.selectors import heal, selector_from_message

NAME = "selector"


def applies(ctx: Context) -> bool:
    return ctx.classification.kind == SELECTOR_NOT_FOUND and bool(ctx.dom and ctx.spec_text)


def _variants(selector: str) -> list[str]:
    """How the same selector may be written in source: as reported, with or without quotes."""
    out = [selector]
    if '="' in selector:
        out.append(selector.replace('="', "=").replace('"]', "]"))
    elif "='" in selector:
        out.append(selector.replace("='", "=").replace("']", "]"))
    elif "=" in selector:
        out.append(selector.replace("=", '="').replace("]", '"]'))
    return out


def plan(ctx: Context) -> Plan | None:
    old = selector_from_message(ctx.message)
    if not old and not ctx.previous_failures:
        # Playwright's message can be only "Test timeout of 15000ms exceeded."; the locator it waited
        # for is in the stack's call log, which is what classified this failure.
        old = selector_from_message(str(ctx.event.get("stack") or ""))
    if not old or not ctx.dom or not ctx.spec_text:
        return None
    healing = heal(old, ctx.dom, ctx.passing_dom)
    if healing is None:
        return Plan(
            NAME, escalate=True, why=f"no element in the DOM snapshot is a confident match for {old!r}"
        )
    for written in _variants(old):
        new_written = healing.new
        if written != old and '"' in healing.new and '"' not in written:
            new_written = healing.new.replace('="', "=").replace('"]', "]")
        lines = [ln for ln in ctx.spec_text.splitlines() if written in ln]
        if len(lines) == 1 and ctx.spec_text.count(lines[0]) == 1:
            old_line, new_line = lines[0], lines[0].replace(written, new_written)
        else:
            # A previous holder of this event (an agent that died) may have applied the edit already:
            # send the same edit, which the node recognises as in place and skips.
            done = [ln for ln in ctx.spec_text.splitlines() if new_written in ln]
            if len(done) != 1 or ctx.spec_text.count(done[0]) != 1:
                continue
            old_line, new_line = done[0].replace(new_written, written), done[0]
        edit = {"path": ctx.spec, "edits": [{"old_text": old_line, "new_text": new_line}]}
        return Plan(
            NAME,
            actions=[Action("edit_file", edit, f"replace the selector {written!r} with {new_written!r}")],
            why=f"{old!r} no longer matches; the element it meant is now {healing.new!r}",
            details=healing.to_dict(),
        )
    return Plan(
        NAME,
        escalate=True,
        details=healing.to_dict(),
        why=f"the selector {old!r} does not occur exactly once in {ctx.spec}; not editing by guess",
    )
