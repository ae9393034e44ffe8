"""Every attempt is a transaction: what an attempt changed on a node is undone, through the node's
``discard_changes``, on every path that does not end in a commit (the worker decides when; see
``worker.py``). This module holds the calls and the rules around them:

* ``discard``: undo one event's journaled changes on one node, summarised for ``data.discarded``;
* ``clean_leftovers``: the janitor run when an agent starts on a node, for events whose holder died
  and which the queue has since finished (escalated after lease lapses, or resolved elsewhere);
* ``owner_of``: which event holds a file another event's edit was refused on.

A node from before the journal has no ``discard_changes``; then nothing can be undone and nothing
is tried.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from healloop.agent.mcpclient import SETUP_TIMEOUT_S, NodeSession
from healloop.errors import HealloopError
from healloop.timeutil import parse_rfc3339

log = logging.getLogger(__name__)

FINAL = ("resolved", "escalated", "proposed")  # the agent is done with it


async def supported(node: NodeSession) -> bool:
    return any(t.name == "discard_changes" for t in await node.tools())


async def discard(node: NodeSession, node_name: str, event_id: str,
                  keep_branch: bool = False) -> dict[str, Any] | None:
    """Undo ``event_id``'s uncommitted changes on ``node``; what was undone, or None when there was
    nothing to undo. ``keep_branch``: HEAD goes back, a revert's branch stays (it is proposed)."""
    if not await supported(node):
        return None
    result = await node.call("discard_changes", event_id=event_id,
                             **({"keep_branch": True} if keep_branch else {}))
    if not result.get("discarded"):
        return None
    return {
        "event_id": event_id,
        "node": node_name,
        "files": result.get("files") or [],
        "left": result.get("left") or [],
        "head": result.get("head"),
    }


async def discard_or_say_why(node: NodeSession, node_name: str, event_id: str,
                             keep_branch: bool = False) -> dict[str, Any] | None:
    """``discard``, with a failure (the node died, say) returned as an entry saying why instead of
    raised: the event goes on to its next step either way, and its history shows what stayed."""
    try:
        return await discard(node, node_name, event_id, keep_branch)
    except HealloopError as exc:
        log.warning("could not undo %s's changes on %s: %s", event_id, node_name, exc.message)
        return {"event_id": event_id, "node": node_name, "error": exc.message}


async def discard_everywhere(
    nodes: dict[str, str], token: str | None, event_id: str, *, setup_timeout: float = SETUP_TIMEOUT_S
) -> list[dict[str, Any] | None]:
    """``discard_or_say_why`` on each node (name -> MCP URL), each through a session of its own: for
    exit paths taken after the session in hand is gone (an unexpected error, SIGTERM)."""
    done = []
    for name, url in nodes.items():
        result: dict[str, Any] | None = None
        try:
            async with NodeSession(url, token, setup_timeout=setup_timeout) as node:
                result = await discard_or_say_why(node, name, event_id)
        except HealloopError as exc:  # could not connect, or the session broke on closing
            result = result or {"event_id": event_id, "node": name, "error": exc.message}
        done.append(result)
    return done


async def keep(node: NodeSession, event_id: str) -> None:
    """After a verified fix: what the event changed stays (a revert branch for a person to merge)."""
    if await supported(node):
        await node.call("keep_changes", event_id=event_id)


def finished_and_left(event: dict[str, Any], changes: dict[str, Any]) -> bool:
    """True when ``changes`` (one entry of pending_changes) are leftovers of a dead holder: the event is
    resolved or escalated, and nothing was written for it after it got there (a person may go on with
    an escalated event through the node under its id; their work is theirs)."""
    status = event.get("status")
    if status not in FINAL:
        return False  # queued or held: its next holder, or its holder, undoes them itself
    finished = [h["at"] for h in event.get("history") or [] if h.get("to") == status and h.get("at")]
    if not finished or not changes.get("updated"):
        return False
    return parse_rfc3339(changes["updated"], "updated") <= max(
        parse_rfc3339(at, "at") for at in finished
    )


async def pending(node: NodeSession) -> list[dict[str, Any]]:
    """pending_changes' events: who holds uncommitted changes on ``node``."""
    if not await supported(node):
        return []
    return list((await node.call("pending_changes")).get("events") or [])


async def clean_leftovers(
    node: NodeSession,
    node_name: str,
    own_id: str,
    get_event: Callable[[str], Awaitable[dict[str, Any]]],
    held: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Discard what finished events left on ``node``, of those in ``held`` (from ``pending``)."""
    cleaned = []
    for changes in held:
        event_id = changes.get("event_id")
        if event_id == own_id:
            continue
        try:
            event = await get_event(event_id)
        except HealloopError:  # NotFound: not an event of this queue (a person's own id), not ours
            continue  # to judge; anything else: judged the next time an agent starts here
        if finished_and_left(event, changes):
            done = await discard(node, node_name, event_id)
            if done:
                cleaned.append(done)
    return cleaned


def owner_of(held: list[dict[str, Any]], path: str) -> dict[str, Any] | None:
    """The entry of ``held`` (from ``pending``) whose event has uncommitted changes to ``path``."""
    return next((c for c in held if path in (c.get("files") or [])), None)


def describe(discarded: list[dict[str, Any]]) -> str:
    """One line for a note: what was put back where."""
    parts = []
    for d in discarded:
        if "error" in d:
            parts.append(f"could not undo {d['event_id']}'s changes on {d['node']}: {d['error']}")
            continue
        done = [f"{f['path']} {f['action']}" for f in d.get("files") or []]
        head = d.get("head") or {}
        if head.get("switched"):
            done.append(f"HEAD back on {head.get('back_to')}")
        if head.get("deleted"):
            done.append(f"branch {head.get('branch')} deleted")
        done += [f"{x.get('path') or 'HEAD'} left ({x.get('why')})" for x in d.get("left") or []]
        parts.append(f"undid {d['event_id']}'s changes on {d['node']}: " + ", ".join(done))
    return "; ".join(parts)
