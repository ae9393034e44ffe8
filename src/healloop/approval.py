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

from typing import TYPE_CHECKING, Any

from healloop.client import QueueClient
from healloop.errors import Conflict, HealloopError, NotFound

if TYPE_CHECKING:
    from healloop.agent.mcpclient import NodeSession


def proposal_of(event: dict[str, Any]) -> dict[str, Any]:
    """The proposal of the event's latest move to ``proposed``: branch, sha, node, files, diff."""
    for h in reversed(event.get("history") or []):
        if h.get("to") == "proposed":
            return dict((h.get("data") or {}).get("proposal") or {})
    return {}


async def decide(queue: QueueClient, event_id: str, *, approve: bool, by: str, reason: str | None,
                 node_token: str | None = None, node_hosts: tuple[str, ...] = ()) -> dict[str, Any]:
    from healloop.agent.mcpclient import NodeSession
    from healloop.agent.nodetrust import NodeHosts

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
    # The node token goes only to a node on a trusted host, as an agent's does (agent/nodetrust.py).
    urls = NodeHosts.of(node_hosts).urls(queue.nodes(), needed=[name])
    if name not in urls:
        raise NotFound(f"node {name!r}, which holds {branch}, is not registered with the queue; start it "
                       "(`healloop node serve` or `healloop up`) and run this again", field="node")
    done: dict[str, Any] = {"node": name, "branch": branch}
    async with NodeSession(urls[name], node_token) as session:
        if not approve:
            done["deleted"] = await session.call("git_delete_branch", branch=branch)
            forge = await pull_request_before(session, proposal)
            recorded = {"branch": branch, "node": name, **forge}
            updated = queue.decide(event_id, False, by, reason, data=recorded)
            done["pull_request"] = await close_pull_request(urls[name], node_token, event_id, proposal, forge,
                                                            rejected_comment(by, reason))
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
        forge = await pull_request_before(session, proposal)
    if done.get("push"):
        done["pulled"] = await _pull_elsewhere(queue, urls, name, node_token)
    data = {k: v for k, v in {
        "branch": branch, "node": name, "landed": landed.get("landed"),
        "fast_forward": landed.get("fast_forward"), "push": done.get("push"), "pulled": done.get("pulled"),
    }.items() if v is not None}
    updated = queue.decide(event_id, True, by, reason, commit=sha, data={**data, **forge})
    done["pull_request"] = await close_pull_request(urls[name], node_token, event_id, proposal, forge,
                                                    approved_comment(by, reason, sha, name, done.get("push")))
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


# -- the proposal's pull request, when it has one ([node.git] pull_requests)
#
# The decision is recorded first and the pull request closed after it: closing it first would make the
# forge's webhook tell the queue "closed without merging", which could reach the queue before this
# approval and reject the fix that was just landed. The forge is asked where the pull request stands
# before the decision is recorded, so a forge that is down is in the decision's data; the decision
# itself never waits on the forge.

def _pull_request(proposal: dict[str, Any]) -> dict[str, Any] | None:
    pr = proposal.get("pull_request") or {}
    return pr if pr.get("number") else None


async def pull_request_before(session: NodeSession, proposal: dict[str, Any]) -> dict[str, Any]:
    """``{"pull_request": {forge, number, url, state}}`` for the decision's data (``error`` in place of
    ``state`` when the forge cannot be asked); nothing for a proposal without a pull request."""
    pr = _pull_request(proposal)
    if pr is None:
        return {}
    about = {"forge": pr.get("forge"), "number": pr["number"], "url": pr.get("url")}
    try:
        status = await session.call("forge_pull_request_status", number=pr["number"])
        about["state"] = status.get("state")
    except HealloopError as exc:
        about["error"] = exc.message
    return {"pull_request": about}


async def close_pull_request(url: str, node_token: str | None, event_id: str, proposal: dict[str, Any],
                             before: dict[str, Any], comment: str) -> dict[str, Any] | None:
    """After the decision: through the node that holds the proposal, close its pull request with
    ``comment`` (what was decided, by whom) and delete its branch on the node's remote. What the node,
    the forge or the remote refuses is said in the result, never raised: the decision stands."""
    from healloop.agent.mcpclient import NodeSession

    if "pull_request" not in proposal:
        return None
    pr = _pull_request(proposal)
    done: dict[str, Any] = {"number": pr["number"]} if pr else {}
    try:
        async with NodeSession(url, node_token) as session:
            if pr is not None and "error" in before["pull_request"]:
                done["error"] = before["pull_request"]["error"]  # not asked twice: the forge was down
            elif pr is not None:
                try:
                    done.update(await session.call("forge_close_pull_request", event_id=event_id,
                                                   number=pr["number"], comment=comment))
                except HealloopError as exc:
                    done["error"] = exc.message
            try:
                deleted = await session.call("git_delete_branch", branch=proposal["branch"], remote=True)
                done["remote_branch"] = deleted.get("remote")
            except HealloopError as exc:
                done["remote_branch"] = {"error": exc.message}
    except HealloopError as exc:  # the node itself went away after the decision
        done["error"] = exc.message
    return done


def approved_comment(by: str, reason: str | None, sha: str, node: str, pushed: dict[str, Any] | None) -> str:
    where = "and pushed" if pushed and "error" not in pushed else f"on node `{node}` (not pushed)"
    return (f"healloop: approved by {by} with `healloop approve`, landed as {sha} {where}"
            + (f": {reason}" if reason else "") + ". The fix is in; this pull request is closed unmerged.")


def rejected_comment(by: str, reason: str | None) -> str:
    return (f"healloop: rejected by {by} with `healloop reject`" + (f": {reason}" if reason else "")
            + ". The fix is not landed; the event is escalated.")
