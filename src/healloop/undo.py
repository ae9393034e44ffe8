"""``healloop revert EVT``: undo what healloop committed for an event, through the node that holds it.

The fix's commit (``data.commit`` of the event's resolved move; ``pushed_as`` when a push rebased it)
is reverted with the node's ``git_revert`` tool, so the undo is an ordinary commit carrying the
event's trailer, made inside the node's sandbox and under its locks; with the node's push policy on it
is pushed like a heal. Then the queue records the revert: the event is escalated again, a "reverted"
notification goes out, and agents that take the event up again never repeat the fix (the selector
playbook sets aside an element whose heal was reverted). Safe to run again: the node's revert is
idempotent for one event and commit.
"""

from __future__ import annotations

from typing import Any

from healloop.client import QueueClient
from healloop.errors import Conflict, NotFound


def fix_commits(event: dict[str, Any]) -> list[str]:
    """The commits healloop made for ``event`` and that are still in force, oldest first."""
    out: list[str] = []
    for h in event.get("history") or []:
        data = h.get("data") or {}
        if h.get("to") == "resolved" and isinstance(data.get("commit"), dict):
            commit = data["commit"]
            sha = commit.get("pushed_as") or commit.get("sha")
            if sha and sha not in out:
                out.append(str(sha))
        for sha in data.get("reverted") or []:
            if sha in out:
                out.remove(sha)
    return out


async def revert_fix(queue: QueueClient, event_id: str, *, by: str, reason: str | None,
                     node: str | None = None, node_token: str | None = None,
                     node_hosts: tuple[str, ...] = ()) -> dict[str, Any]:
    from healloop.agent.mcpclient import NodeSession
    from healloop.agent.nodetrust import NodeHosts

    event = queue.get(event_id)
    if event["status"] != "resolved":
        raise Conflict(f"event {event_id} is {event['status']}; only a resolved event's fix can be reverted")
    commits = fix_commits(event)
    if not commits:
        raise Conflict(
            f"event {event_id} was resolved without a commit of its own (a rerun passed, another node's "
            "fix was pulled, or another event's commit fixed it: revert that event); nothing to revert"
        )
    name = node or str(event.get("node") or "")
    # The node token goes only to a node on a trusted host, as an agent's does (agent/nodetrust.py).
    urls = NodeHosts.of(node_hosts).urls(queue.nodes(), needed=[name])
    if name not in urls:
        raise NotFound(f"node {name!r} is not registered with the queue; pass --node with the node that "
                       f"holds the fix (registered: {', '.join(sorted(urls)) or 'none'})", field="node")
    reverts: list[str] = []
    pushed = None
    async with NodeSession(urls[name], node_token) as session:
        info = await session.call("node_info")
        for sha in reversed(commits):  # newest first, as git revert wants a series undone
            done = await session.call("git_revert", revision=sha, event_id=event_id)
            reverts.append(str(done["sha"]))
        if (info.get("policy") or {}).get("push"):
            pushed = await session.call("git_push")
    updated = queue.revert_event(event_id, by, reason, commits, reverts)
    return {"event": updated, "node": name, "reverted": commits, "reverts": reverts, "pushed": pushed}
