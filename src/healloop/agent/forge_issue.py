"""``[node.git] issues``: an escalation whose root-cause report names a suspect commit opens an issue on
the forge, through the node the report was made on (it holds the token), assigned to the commit's author
where the forge knows them. Called once the escalation is recorded; whatever the node or the forge says,
the escalation stands: a failure is logged with the event id and nothing else."""

from __future__ import annotations

import logging
from typing import Any

import anyio

from healloop.agent.mcpclient import NodeSession
from healloop.errors import HealloopError

log = logging.getLogger(__name__)
# The forge is asked a few things (the commit, open issues, then the issue itself), 30 s each at most:
# past this the agent moves on to its next event rather than wait on a forge that hangs.
ISSUE_TIMEOUT_S = 120.0
MAX_TITLE = 200


async def after_escalation(event: dict[str, Any], data: dict[str, Any], nodes: dict[str, str],
                           node_token: str | None) -> dict[str, Any] | None:
    """Open (or find) the event's issue when its escalation's report names a suspect commit and the node
    has issues on; ``nodes`` are the ones the job worked on, the last the one the report comes from.
    Returns the issue, or None."""
    report = data.get("report")
    suspect = report.get("suspect_commit") if isinstance(report, dict) else None
    if not isinstance(suspect, dict) or not suspect.get("sha") or not nodes:
        return None
    event_id = str(event.get("id"))
    name, url = list(nodes.items())[-1]
    issue: dict[str, Any] | None = None
    with anyio.move_on_after(ISSUE_TIMEOUT_S) as scope:
        try:
            async with NodeSession(url, node_token) as node:
                info = await node.call("node_info")
                if not (info.get("git") or {}).get("issues"):
                    return None
                issue = await node.call("forge_open_issue", event_id=event_id, title=title(event, report),
                                        body=body(event, report, name), suspect_sha=str(suspect["sha"]))
        except HealloopError as exc:
            log.warning("issue for %s not opened on the forge: %s", event_id, exc.message,
                        extra={"event_id": event_id})
            return None
    if scope.cancelled_caught:
        log.warning("issue for %s not opened on the forge: no answer within %.0f s", event_id,
                    ISSUE_TIMEOUT_S, extra={"event_id": event_id})
        return None
    if issue is not None:
        log.info("issue for %s: %s%s", event_id, issue.get("url"), " (already open)" if issue.get("existing")
                 else "", extra={"event_id": event_id})
    return issue


def title(event: dict[str, Any], report: dict[str, Any]) -> str:
    """The test and a one-line reason."""
    what = (f"{event.get('spec')}::{event.get('test')}" if event.get("test")
            else str(event.get("message") or event.get("id")).splitlines()[0])
    why = (str(report.get("why_failed") or "escalated").strip().splitlines() or ["escalated"])[0]
    text = f"{what}: {why}"
    return text if len(text) <= MAX_TITLE else text[:MAX_TITLE - 1] + "…"


def body(event: dict[str, Any], report: dict[str, Any], node: str) -> str:
    """The root-cause report in Markdown (the node adds the author, the link back and the marker)."""
    observed = report.get("observed") or {}
    suspect = report.get("suspect_commit") or {}
    fence = "```"
    message = str(observed.get("message") or event.get("message") or "")[:2000].replace(fence, "'''")
    nodes = ", ".join(f"`{n}`" for n in event.get("nodes") or [node])
    test = f"`{event.get('spec')}::{event.get('test')}`" if event.get("test") else "an alert"
    lines = [
        "healloop could not repair a failing end-to-end test and escalated it. Its root-cause report:",
        "",
        "### What failed",
        f"{test} on {nodes} ({event.get('count', 1)} report(s)), classified as "
        f"{observed.get('class') or 'unknown'}:",
        "",
        fence,
        message,
        fence,
        "",
        "### Suspect commit",
        f"`{str(suspect.get('sha'))[:10]}` {suspect.get('subject') or ''}".rstrip()
        + (f" ({suspect['why']})" if suspect.get("why") else ""),
        *(["", f"File: `{suspect['file']}`"] if suspect.get("file") else []),
        "",
        "### Likely cause",
        str(report.get("likely_cause") or "unknown"),
        "",
        "### Why it was escalated",
        str(report.get("why_failed") or "").strip() or "(no reason recorded)",
    ]
    tried = [_tried(t) for t in report.get("tried") or []]
    if tried:
        lines += ["", "### What was tried", *(f"- {t}" for t in tried if t)]
    return "\n".join(lines)


def _tried(step: dict[str, Any]) -> str:
    if "verification" in step:
        run = step.get("verification") or {}
        failure = str(run.get("failure_message") or "").splitlines()
        return f"rerun after the {step.get('playbook')} fix: {run.get('status')}" + (
            f" ({failure[0][:200]})" if failure else "")
    if step.get("tool"):
        why_not = str(step.get("error") or step.get("refused"))[:200]
        outcome = "done" if step.get("ok") else f"failed: {why_not}"
        return f"`{step['tool']}` {outcome}" + (f" — {step['why']}" if step.get("why") else "")
    return ""
