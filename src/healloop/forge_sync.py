"""``healloop forge sync``: for teams whose forge cannot reach the queue's webhook, ask the forge instead.

One pass: every ``proposed`` event whose proposal has a pull request is looked up on the forge through
the node that holds it (``forge_pull_request_status``; the node holds the token) and decided through the
queue as the webhook would decide it (merged: approved by who merged it, with the merge commit; closed:
rejected). Then every registered node's ``healloop/`` branches are read (``git_branches``), and the
branch of a proposal whose event is no longer proposed (decided by a webhook, by this pass, or expired)
is deleted there; a revert branch left for a person to merge was never a proposal, and is kept.

A pass reports what it did per event and, apart, what it could not check (a node that is down, a forge
that refuses); nothing it cannot check is guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from healloop.approval import proposal_of
from healloop.client import QueueClient
from healloop.errors import Conflict, HealloopError, InvalidInput, NotFound
from healloop.forge.model import Closed
from healloop.queue.rules import FINAL

if TYPE_CHECKING:
    from healloop.agent.mcpclient import NodeSession

# Proposals sit on healloop/<event id> (an edit) or healloop/revert-<event id> (a revert).
_EVENT_IN_BRANCH = re.compile(r"^healloop/(?:revert-)?(evt_[0-9A-Za-z]+)$")
# The most events `GET /v1/events` returns at once.
MAX_PROPOSED = 1000


@dataclass
class Pass:
    acted: dict[str, list[str]] = field(default_factory=dict)   # event id -> what was done, in order
    problems: list[str] = field(default_factory=list)            # what could not be checked, and why
    checked: int = 0                                            # pull requests asked about

    def did(self, event_id: str, what: str) -> None:
        self.acted.setdefault(event_id, []).append(what)

    def lines(self) -> list[str]:
        return [f"{event_id}: " + "; ".join(done) for event_id, done in self.acted.items()]

    def summary(self) -> str:
        return (f"forge sync: {self.checked} pull request(s) checked, {len(self.acted)} event(s) acted on, "
                f"{len(self.problems)} could not be checked")


async def sync(queue: QueueClient, node_token: str | None = None, node_hosts: tuple[str, ...] = ()) -> Pass:
    """One pass over the queue's proposals and the registered nodes' proposal branches."""
    from healloop.agent.mcpclient import NodeSession
    from healloop.agent.nodetrust import NodeHosts

    done = Pass()
    # Nodes on hosts not trusted get no connection and no node token, as with an agent; each is named.
    urls, refused = NodeHosts.of(node_hosts).split(queue.nodes())
    done.problems += list(refused.values())
    waiting: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for summary in queue.list(status="proposed", limit=MAX_PROPOSED):
        event = queue.get(summary["id"])
        proposal = proposal_of(event)
        if not (proposal.get("pull_request") or {}).get("number"):
            continue  # no pull request (none asked for, or the forge refused to open one)
        name = str(proposal.get("node"))
        if name in refused:
            continue  # said once above, with what to add
        if name not in urls:
            done.problems.append(f"{event['id']}: its pull request is held by node {name!r}, which is not "
                                 "registered with the queue")
            continue
        waiting.setdefault(name, []).append((event, proposal))
    for name, url in sorted(urls.items()):
        try:
            async with NodeSession(url, node_token) as session:
                for event, proposal in waiting.get(name, []):
                    await _check(queue, session, event, proposal, done)
                await _clean(queue, session, name, done)
        except HealloopError as exc:
            held = len(waiting.get(name, []))
            done.problems.append(f"node {name}: {exc.message}"
                                 + (f" ({held} pull request(s) not checked)" if held else ""))
    return done


async def _check(queue: QueueClient, session: NodeSession, event: dict[str, Any], proposal: dict[str, Any],
                 done: Pass) -> None:
    """Ask the forge about the proposal's pull request; decide the event as the webhook would."""
    pr, event_id = proposal["pull_request"], event["id"]
    try:
        status = await session.call("forge_pull_request_status", number=pr["number"])
    except HealloopError as exc:
        done.problems.append(f"{event_id}: pull request #{pr['number']}: {exc.message}")
        return
    done.checked += 1
    if status.get("state") not in ("merged", "closed"):
        return
    forge = str(status.get("forge") or pr.get("forge"))
    merged = status["state"] == "merged"
    who = status.get("merged_by") if merged else status.get("closed_by")
    news = Closed(forge=forge, branch=str(proposal.get("branch")), merged=merged,
                  by=who or f"{forge} (found by healloop forge sync)", sha=status.get("merge_sha"),
                  number=int(pr["number"]), url=status.get("url") or pr.get("url"))
    d = news.decision()
    try:
        updated = queue.decide(event_id, d.approve, d.by, d.reason, commit=d.commit,
                               data={**d.data, "via": "healloop forge sync"})
    except Conflict:
        return  # decided meanwhile (a webhook, a person): nothing left to do here
    except HealloopError as exc:
        done.problems.append(f"{event_id}: pull request #{pr['number']} is {status['state']} but the queue "
                             f"refused the decision: {exc.message}")
        return
    how = f"merged on {forge} by {d.by}" if merged else f"closed on {forge} without merging by {d.by}"
    done.did(event_id, f"pull request #{pr['number']} {how}: {updated['status']}")


async def _clean(queue: QueueClient, session: NodeSession, node: str, done: Pass) -> None:
    """Delete the node's local branch of every proposal whose event is decided (resolved or escalated)."""
    try:
        branches = (await session.call("git_branches"))["branches"]
    except HealloopError as exc:
        done.problems.append(f"node {node}: its healloop/ branches could not be listed: {exc.message}")
        return
    for branch in branches:
        found = _EVENT_IN_BRANCH.match(str(branch["name"]))
        if not found:
            continue
        try:
            event = queue.get(found.group(1))
        except (NotFound, InvalidInput):
            continue  # not an event of this queue: not ours to judge
        except HealloopError as exc:
            done.problems.append(f"{found.group(1)}: could not be read from the queue: {exc.message}")
            continue
        proposed_on = {str(((h.get("data") or {}).get("proposal") or {}).get("branch"))
                       for h in event.get("history") or [] if h.get("to") == "proposed"}
        if event["status"] not in FINAL or branch["name"] not in proposed_on:
            continue
        try:
            deleted = await session.call("git_delete_branch", branch=branch["name"])
        except HealloopError as exc:
            done.problems.append(f"{event['id']}: {branch['name']} on node {node} could not be deleted: "
                                 f"{exc.message}")
            continue
        if deleted.get("deleted"):
            done.did(event["id"], f"deleted {branch['name']} on node {node} (the event is {event['status']})")
