"""The root-cause report attached to an escalation: what was observed, what was tried, why it failed,
the most likely cause, the suspect commit or file, and how recent events of the same class ended."""

from __future__ import annotations

from typing import Any

from healloop.agent.bounds import MAX_SUBJECT, bound, clip, fit
from healloop.agent.classify import (
    ASSERTION_MISMATCH,
    ASSERTION_TIMEOUT,
    ELEMENT_DETACHED,
    SCRIPT_ERROR,
    SELECTOR_NOT_FOUND,
    SERVICE_UNREACHABLE,
    TIMEOUT,
)
from healloop.agent.context import Context

_CAUSES = {
    SELECTOR_NOT_FOUND: (
        "the page no longer has the element the test looks for (renamed or removed in the app)"
    ),
    ELEMENT_DETACHED: "the page re-renders or overlays the element while the test acts on it",
    SERVICE_UNREACHABLE: "a service the test needs is down or failing",
    TIMEOUT: "the app or a service is slower than the test allows, every time",
    ASSERTION_MISMATCH: (
        "the app's behaviour changed: it now produces a different result than the test expects"
    ),
    ASSERTION_TIMEOUT: (
        "the app's behaviour changed: the page shows a different text or state than the test expects, "
        "and an unchanged rerun showed the same"
    ),
    SCRIPT_ERROR: "code (the app's or the test's) throws an error",
}


# What one report may hold (see bounds.py): an earlier failure, one of the things tried, and the whole
# report, well below the queue's 1 MiB body limit beside the rest of the move.
MAX_FAILURE = 500
MAX_TRIED_TEXT = 2000
MAX_TRIED = 20
MAX_REPORT_BYTES = 96 * 1024


def suspect_commit(ctx: Context) -> dict[str, Any] | None:
    """The newest commit touching app code named in the stack; else the newest commit that did not
    touch the spec (the spec's own commits are the test, not the app)."""
    if ctx.app_log:
        c = ctx.app_log[0]
        return {
            "sha": c["sha"],
            "subject": clip(str(c["subject"]), MAX_SUBJECT),
            "file": c["file"],
            "why": f"newest commit touching {c['file']}, which is in the failure's stack",
        }
    spec_shas = {c["sha"] for c in ctx.spec_log}
    for c in ctx.repo_log:
        if c["sha"] not in spec_shas and "Healloop-Event" not in c.get("subject", ""):
            return {
                "sha": c["sha"],
                "subject": clip(str(c["subject"]), MAX_SUBJECT),
                "file": None,
                "why": "newest commit that did not touch the spec",
            }
    return None


def build_report(ctx: Context, tried: list[dict[str, Any]], why_failed: str) -> dict[str, Any]:
    """The report, each part bounded and the whole within ``MAX_REPORT_BYTES`` (cuts are marked)."""
    suspect = suspect_commit(ctx)
    report = {
        "observed": {
            "message": clip(ctx.message, 2000),
            "class": ctx.classification.kind,
            "evidence": bound(ctx.classification.evidence, MAX_FAILURE, 10),
            "previous_failures": bound(ctx.previous_failures, MAX_FAILURE, 10),
            "services": bound({n: s.get("detail") for n, s in ctx.services.items()}, MAX_FAILURE, 20),
        },
        "tried": bound(tried, MAX_TRIED_TEXT, MAX_TRIED),
        "why_failed": clip(why_failed, 2000),
        "likely_cause": _CAUSES.get(ctx.classification.kind, "unknown: no known failure pattern matched"),
        "suspect_commit": suspect,
        "past_outcomes_same_class": bound(ctx.class_past, MAX_FAILURE, 10),
        "suspect_file": (suspect or {}).get("file")
        or (ctx.spec if ctx.classification.kind in (SELECTOR_NOT_FOUND, ELEMENT_DETACHED) else None),
    }
    return fit(report, MAX_REPORT_BYTES)


# A pull request's body holds at most 65,536 characters on GitHub; the diff gets what is left of this.
MAX_BODY_DIFF = 40_000


def pull_request_body(ctx: Context, plan: Any, proposal: dict[str, Any], run: dict[str, Any]) -> str:
    """The pull request's description (Markdown): what failed, the change, how it was verified. The node
    adds the link back to the event."""
    test = str(ctx.event.get("test") or "")
    nodes = ", ".join(f"`{n}`" for n in ctx.event.get("nodes") or [ctx.info.get("name")])
    diff = str(proposal.get("diff") or "")
    cut = len(diff) > MAX_BODY_DIFF or proposal.get("diff_truncated")
    files = "\n".join(f"- `{f}`" for f in proposal.get("files") or [])
    duration = run.get("duration_s")
    took = f", {duration:.1f} s" if isinstance(duration, int | float) else ""
    return "\n".join([
        "healloop repaired a failing end-to-end test and verified the repair by rerunning it.",
        "",
        "### What failed",
        f"`{ctx.spec}::{test}` on {nodes} ({ctx.event.get('count', 1)} report(s)), "
        f"classified as {ctx.classification.kind}:",
        "",
        "```",
        ctx.message[:2000].replace("```", "'''"),
        "```",
        "",
        "### The change",
        f"{plan.why} ({plan.playbook} playbook)",
        "",
        files,
        "",
        "```diff",
        diff[:MAX_BODY_DIFF].replace("```", "'''"),
        "```",
        *(["", f"(the diff is cut short here; the whole change is on `{proposal.get('branch')}`)"]
          if cut else []),
        "",
        "### Verification",
        f"`{ctx.spec}::{test}` rerun on `{ctx.info.get('name')}` with the change: "
        f"{run.get('status') or 'passed'} (exit code {run.get('exit_code')}{took}).",
    ])
