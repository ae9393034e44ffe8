"""The four requests that carry the queue's load, answered in plain ASGI ahead of Starlette.

Reports, claims, heartbeats and transitions are nearly every request a busy queue sees, and
Starlette's per-request layers (error middlewares, the router, Request and Response objects) cost
about a fifth of each (measured with py-spy under bench/queue.py's ingest). Here they are matched on
method and path, decoded with the same msgspec structs, served by the same ``QueueService`` calls, and
their errors answered with the same JSON as every other route (``errors.HealloopError.to_dict``).
Everything else, including these paths with another method, goes on to the Starlette app, which
also routes them (``ROUTES``), so that 405, OPTIONS and the OpenAPI document know them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from healloop.errors import HealloopError, PayloadTooLarge
from healloop.queue.model import ClaimIn, ReportIn, TokenIn, TransitionIn, decode
from healloop.queue.service import QueueService

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
# The routes answered here (Starlette has no route for them): roles.ACCESS must cover these too.
_enc = msgspec.json.Encoder()
_JSON = [(b"content-type", b"application/json")]
_INTERNAL = {"error": "internal", "message": "internal error in the queue; see the server's log"}


Reply = tuple[int, Any]


async def report(service: QueueService, body: bytes, _: str) -> Reply:
    result = await service.report(decode(body, ReportIn))
    return (201 if result.created else 200), result.to_json()


async def claim(service: QueueService, body: bytes, _: str) -> Reply:
    c = decode(body, ClaimIn)
    got = await service.claim(c.worker, c.wait, c.lease)
    return (204, None) if got is None else (200, got.to_json())


async def heartbeat(service: QueueService, body: bytes, event_id: str) -> Reply:
    return 200, await service.heartbeat(event_id, decode(body, TokenIn).token)


async def transition(service: QueueService, body: bytes, event_id: str) -> Reply:
    t = decode(body, TransitionIn)
    ev = await service.transition(event_id, t.token, t.to, t.note, t.data)
    return 200, ev.to_json()


# The hot routes, all POST. api.py routes them in Starlette too, with these same handlers, so that the
# router knows every route's methods (405 and OPTIONS name them) and /openapi.json is checked against
# one list of routes.
ROUTES: dict[str, Callable[[QueueService, bytes, str], Awaitable[Reply]]] = {
    "/v1/events": report,
    "/v1/events/next": claim,
    "/v1/events/{event_id}/heartbeat": heartbeat,
    "/v1/events/{event_id}/transition": transition,
}


class HotPath:
    def __init__(self, app: ASGIApp, service: QueueService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        handler: Any = None
        event_id = ""
        if path == "/v1/events":
            handler = report
        elif path == "/v1/events/next":
            handler = claim
        elif path.startswith("/v1/events/"):
            parts = path.split("/")
            if len(parts) == 5 and parts[3]:
                event_id, action = parts[3], parts[4]
                handler = {"transition": transition, "heartbeat": heartbeat}.get(action)
        if handler is None:
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(scope, receive)
            status, reply = await handler(self.service, body, event_id)
        except HealloopError as exc:
            status, reply = exc.status, exc.to_dict()
        except Exception:
            log.exception("unexpected error in %s %s", scope["method"], path)
            status, reply = 500, _INTERNAL
        await _answer(send, status, reply)


def check_declared_length(length: bytes | str | None) -> None:
    """413 before reading, when Content-Length says the body is over the limit."""
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise PayloadTooLarge(f"the body is {int(length)} bytes; the limit is {MAX_BODY} bytes (1 MiB)")


def check_read_length(size: int) -> None:
    """413 while reading, for a body sent without (or beyond) its Content-Length."""
    if size > MAX_BODY:
        raise PayloadTooLarge(f"the body is over the limit of {MAX_BODY} bytes (1 MiB)")


async def read_request_body(request: Request) -> bytes:
    """A Starlette request's whole body, bounded as the hot path bounds its own (413 past the limit)."""
    check_declared_length(request.headers.get("content-length"))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        check_read_length(size)
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_body(scope: Scope, receive: Receive) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length":
            check_declared_length(value)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        check_read_length(size)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _answer(send: Send, status: int, reply: Any) -> None:
    if status == 204:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    body = _enc.encode(reply)
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
