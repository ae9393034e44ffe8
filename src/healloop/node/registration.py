"""Keeps this node listed at the queue (``POST /v1/nodes``) so agents can find the node of an event.

The node must keep serving when the queue is down: failures are logged once when they start and once
when registration works again, never raised.
"""

from __future__ import annotations

import logging

import anyio
import httpx

log = logging.getLogger(__name__)


class Registration:
    def __init__(
        self,
        queue_url: str,
        *,
        name: str,
        mcp_url: str,
        labels: dict[str, str] | None = None,
        token: str | None = None,
        interval: float = 30.0,
    ) -> None:
        self.endpoint = queue_url.rstrip("/") + "/v1/nodes"
        self.body = {"name": name, "mcp_url": mcp_url, "labels": labels or {}}
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.interval = interval
        self.failing = False
        self.registered = 0

    async def register_once(self, client: httpx.AsyncClient) -> bool:
        try:
            response = await client.post(self.endpoint, json=self.body, headers=self.headers)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            if not self.failing:
                log.warning(
                    "cannot register node %r at %s (will keep trying): %s",
                    self.body["name"],
                    self.endpoint,
                    _said(exc),
                    extra={"node": self.body["name"]},
                )
            self.failing = True
            return False
        if self.failing or not self.registered:
            log.info(
                "node %r registered at %s",
                self.body["name"],
                self.endpoint,
                extra={"node": self.body["name"]},
            )
        self.failing = False
        self.registered += 1
        return True

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            while True:
                await self.register_once(client)
                await anyio.sleep(self.interval)


def _said(exc: httpx.HTTPError) -> str:
    """The queue's own message for a refusal (a 401 or a 403 names the token's problem and the fix)."""
    if isinstance(exc, httpx.HTTPStatusError):
        try:
            message = exc.response.json().get("message")
        except ValueError:
            message = None
        if isinstance(message, str):
            return f"HTTP {exc.response.status_code}: {message}"
    return str(exc)
