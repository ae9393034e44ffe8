"""The event page's buttons: requeue, close, approve, reject and revert, each recorded in the event's
history with who pressed it and why.

Approve, reject and revert change the repository as well as the event, so they run the CLI's own
functions (``approval.decide``, ``undo.revert_fix``), which reach the node that holds the fix. Those
talk to the queue through a ``QueueClient``; here ``LocalQueue`` answers the same few calls from the
service in the server's own loop, so nothing goes over HTTP back into this server (and no queue token
is needed). They run in a worker thread with an event loop of their own for their node calls; each
queue call hops back to the server's loop and waits there. The node is found as the CLI finds it: its
registered URL, trusted only on loopback or a ``--node-host``, and the node token of ``healloop serve
--node-token`` (HEALLOOP_AGENT_NODE_TOKEN, the variable the CLI reads)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from healloop.errors import HealloopError, InvalidInput, NotFound
from healloop.queue.model import DecisionIn, RevertIn, decode
from healloop.queue.service import QueueService

if TYPE_CHECKING:
    from healloop.dashboard.access import Visit

VERBS = ("requeue", "close", "approve", "reject", "revert")
NEEDS_REASON = frozenset({"reject"})  # as `healloop reject --reason` is required
QUEUE_CALL_S = 60.0
T = TypeVar("T")


class LocalQueue:
    """The ``QueueClient`` calls that ``approval.decide`` and ``undo.revert_fix`` make, answered by the
    service on the server's loop (called from a worker thread)."""

    def __init__(self, service: QueueService, loop: asyncio.AbstractEventLoop) -> None:
        self.service = service
        self.loop = loop

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(QUEUE_CALL_S)

    def get(self, event_id: str) -> dict[str, Any]:
        return self._run(self.service.get(event_id))

    def nodes(self) -> list[dict[str, Any]]:
        return [n.to_json() for n in self._run(self.service.list_nodes())]

    def decide(self, event_id: str, approve: bool, by: str, reason: str | None = None,
               commit: str | None = None, data: dict[str, Any] | None = None) -> dict[str, Any]:
        d = _checked({"by": by, "reason": reason, "commit": commit, "data": data}, DecisionIn)
        return self._run(self.service.decide(event_id, approve, d)).to_json()

    def revert_event(self, event_id: str, by: str, reason: str | None, reverted: list[str],
                     reverts: list[str]) -> dict[str, Any]:
        r = _checked({"by": by, "reason": reason, "reverted": reverted, "reverts": reverts}, RevertIn)
        return self._run(self.service.revert_event(event_id, r)).to_json()


def _checked(fields: dict[str, Any], kind: type[T]) -> T:
    """Through the API's own decoder, so a form's reason meets the limits the API's body would."""
    return decode(msgspec.json.encode(fields), kind)


def who(v: Visit) -> str:
    p = v.principal
    assert p is not None
    return "dashboard (open queue)" if v.open else f"{p.name} ({p.role}, dashboard)"


async def _through_node(request: Request, work: Callable[[LocalQueue], Awaitable[dict[str, Any]]]) -> None:
    queue = LocalQueue(request.app.state.service, asyncio.get_running_loop())
    await run_in_threadpool(anyio.run, lambda: work(queue))


def handler(verb: str) -> Callable[[Request, Visit], Awaitable[Response]]:
    async def act(request: Request, v: Visit) -> Response:
        from healloop.dashboard.pages import event_context

        dash = request.app.state.dashboard
        event_id = request.path_params["event_id"]
        reason = (v.form.get("reason") or "").strip() or None
        try:
            if verb in NEEDS_REASON and not reason:
                raise InvalidInput(f"say why ({verb} needs a reason)", field="reason")
            await _act(request, dash, verb, event_id, who(v), reason)
        except HealloopError as exc:
            try:
                ev = await dash.service.get(event_id)
            except NotFound:
                return dash.problem(request, v, 404, v.t("not_found"))
            return dash.render(request, v, "event.html", exc.status, **event_context(ev), done=None,
                               failed=f"{v.t(verb)}: {exc.message}")
        return RedirectResponse(f"/events/{event_id}?done={verb}", 303)

    return act


async def _act(request: Request, dash: Any, verb: str, event_id: str, by: str, reason: str | None) -> None:
    svc: QueueService = dash.service
    node = dash.nodes
    if verb in ("requeue", "close"):
        note = f"{verb}d by {by}" + (f": {reason}" if reason else "")
        if verb == "requeue":
            await svc.requeue(event_id, note)
        else:
            await svc.close_event(event_id, note)
    elif verb in ("approve", "reject"):
        from healloop.approval import decide

        await _through_node(request, lambda q: decide(q, event_id, approve=verb == "approve", by=by,
                                                      reason=reason, node_token=node.token,
                                                      node_hosts=node.hosts))
    else:
        from healloop.undo import revert_fix

        await _through_node(request, lambda q: revert_fix(q, event_id, by=by, reason=reason,
                                                          node_token=node.token, node_hosts=node.hosts))
