"""``healloop approve EVT`` and ``healloop reject EVT``: a person's decision on a proposed fix.

With ``[node.policy] approve = ["edit"]`` an agent verifies its edit, commits it on ``healloop/<event
id>`` on the node, puts the working tree back, and leaves the event ``proposed``. Approving lands that
branch on the node's followed branch (``git_land_branch``: a fast-forward, or a cherry-pick when the
branch moved on), pushes it under the node's push policy, has the other nodes that pull take it, and
resolves the event with the landed commit (so ``healloop revert`` can undo it). Rejecting deletes the
branch and escalates the event; agents never propose the same element for it again. Both are safe to
run again after an interruption: landing and deleting are idempotent on the node, and the queue
refuses a second decision.

With ``approve = ["restart"]`` or ``["rerun"]`` the proposal is a plan not yet carried out (``kind =
"plan"``): nothing waits on a branch, so deciding needs no node. Approving puts the event back in the
queue with the approved plan in its history, and the agent that claims it carries out that plan and
verifies it; rejecting escalates it.
"""

from __future__ import annotations

from typing import Any

from healloop.client import QueueClient
from healloop.errors import Conflict, HealloopError, NotFound


def proposal_of(event: dict[str, Any]) -> dict[str, Any]:
    """The proposal of the event's latest move to ``proposed``: branch, sha, node, files, diff."""
    for h in reversed(event.get("history") or []):
        if h.get("to") == "proposed":
            return dict((h.get("data") or {}).get("proposal") or {})
    return {}


async def decide(queue: QueueClient, event_id: str, *, approve: bool, by: str, reason: str | None,
                 node_token: str | None = None) -> dict[str, Any]:
    from healloop.agent.mcpclient import NodeSession

    event = queue.get(event_id)
    if event["status"] != "proposed":
        raise Conflict(f"event {event_id} is {event['status']}; only a proposed fix can be approved or "
                       "rejected")
    proposal = proposal_of(event)
    if proposal.get("kind") == "plan":
        updated = queue.decide(event_id, approve, by, reason, data={"node": proposal.get("node")})
        return {"plan": proposal.get("plan") or {}, "classes": proposal.get("classes") or [],
                "node": proposal.get("node"), "event": updated}
    branch, name = proposal.get("branch"), proposal.get("node")
    if not branch or not name:
        raise Conflict(f"event {event_id} is proposed but its history names no branch and node; "
                       f"reject it with `healloop reject {event_id}` and requeue it")
    urls = {n["name"]: n["mcp_url"] for n in queue.nodes()}
    if name not in urls:
        raise NotFound(f"node {name!r}, which holds {branch}, is not registered with the queue; start it "
                       "(`healloop node serve` or `healloop up`) and run this again", field="node")
    done: dict[str, Any] = {"node": name, "branch": branch}
    async with NodeSession(urls[name], node_token) as session:
        if not approve:
            done["deleted"] = await session.call("git_delete_branch", branch=branch)
            updated = queue.decide(event_id, False, by, reason, data={"branch": branch, "node": name})
            return {**done, "event": updated}
        info = await session.call("node_info")
        landed = await session.call("git_land_branch", branch=branch, event_id=event_id)
        done["landed"] = landed
        sha = str(landed["sha"])
        if (info.get("policy") or {}).get("push"):
            pushed = await session.call("git_push")
            done["push"] = pushed
            if pushed.get("rebased"):
                sha = str(pushed["sha"])  # rebased onto another node's push: that is the commit in force
    if done.get("push"):
        done["pulled"] = await _pull_elsewhere(queue, urls, name, node_token)
    data = {k: v for k, v in {
        "branch": branch, "node": name, "landed": landed.get("landed"),
        "fast_forward": landed.get("fast_forward"), "push": done.get("push"), "pulled": done.get("pulled"),
    }.items() if v is not None}
    updated = queue.decide(event_id, True, by, reason, commit=sha, data=data)
    return {**done, "commit": sha, "event": updated}


async def _pull_elsewhere(queue: QueueClient, urls: dict[str, str], origin: str,
                          node_token: str | None) -> dict[str, Any]:
    """The other nodes that follow the same branch with `pull` on take the landed fix now, so their next
    run has it; a node that is down or refuses is recorded, not fatal (it pulls before its next repair)."""
    from healloop.agent.mcpclient import NodeSession

    pulled: dict[str, Any] = {}
    for name, url in sorted(urls.items()):
        if name == origin:
            continue
        try:
            async with NodeSession(url, node_token) as session:
                info = await session.call("node_info")
                if (info.get("policy") or {}).get("pull"):
                    got = await session.call("git_pull")
                    pulled[name] = {"after": got.get("after"), "commits": len(got.get("commits") or [])}
        except HealloopError as exc:
            pulled[name] = {"error": exc.message}
    return pulled
