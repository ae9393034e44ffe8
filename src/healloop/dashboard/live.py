"""``GET /live``: the queue's change feed (``queue/feed.py``) as server-sent events, one
``{"id", "status", "spec", "test"}`` message per committed change of an event, and named events
``test`` (``{"spec", "test"}``: its quarantine changed) and ``runs`` (a run report was counted). The
page's script refetches what it shows.

A page that falls behind is dropped by the feed and its stream ends; EventSource reconnects by itself
and the page reloads its rows on reconnecting. The stream also ends when the session's token is revoked
(checked at every message and keep-alive) and when the server stops."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from healloop.queue.tokens import Principal

if TYPE_CHECKING:
    from healloop.dashboard.access import Visit

KEEP_ALIVE_S = 15.0  # a comment line this often keeps proxies from closing an idle stream


async def stream(request: Request, v: Visit) -> Response:
    dash = request.app.state.dashboard
    feed = dash.service.feed
    token_hash = v.session.token_hash

    def still_allowed() -> bool:
        return v.open or (token_hash is not None and isinstance(dash.book.by_hash(token_hash), Principal))

    async def events() -> AsyncIterator[bytes]:
        with feed.subscribe() as sub:
            # Sent once subscribed: the page shows "live" from here on, and a test waits on it.
            yield b"retry: 2000\nevent: hello\ndata: {}\n\n"
            while True:
                change = await sub.next(KEEP_ALIVE_S)
                if dash.book.stale():
                    await dash.book.current()
                if not still_allowed():
                    return
                if change is None:
                    if sub.dropped or sub.closed:
                        return
                    yield b": keep-alive\n\n"
                    continue
                if not change.event_id:
                    # A test's quarantine or a run report: named SSE events, which the list and event
                    # pages do not listen to; the test page does (static/dashboard.js).
                    data = json.dumps({"spec": change.spec, "test": change.test})
                    yield f"event: {change.status}\ndata: {data}\n\n".encode()
                    continue
                data = json.dumps({"id": change.event_id, "status": change.status, "spec": change.spec,
                                   "test": change.test})
                yield f"data: {data}\n\n".encode()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
