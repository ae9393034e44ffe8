"""Deliver one notice to one channel and say how it went; never raise for a delivery problem.

A refused connection, a timeout or a reset is retryable, with a detail that says which; so are 408,
429 and 5xx answers (Retry-After honoured). What the service says in its own answer (Feishu's
``code``, DingTalk's ``errcode``, Slack's error word) is read by the channel's ``result``. The answer
body is read up to 64 KB: the services answer in a few bytes, and a wrong URL must not fill memory.
"""

from __future__ import annotations

import logging
import time

import httpx

from healloop.notify.channels import CHANNELS
from healloop.notify.config import ChannelConfig
from healloop.notify.model import Notice, Request, SendResult

__all__ = ["Request", "SendResult", "send"]
log = logging.getLogger(__name__)
MAX_ANSWER_BYTES = 65_536


async def _post(client: httpx.AsyncClient, request: Request,
                timeout: float) -> tuple[int, httpx.Headers, bytes]:
    async with client.stream("POST", request.url, content=request.body, headers=request.headers,
                             timeout=timeout) as response:
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= MAX_ANSWER_BYTES:
                break
        return response.status_code, response.headers, body[:MAX_ANSWER_BYTES]


def _network(channel: ChannelConfig, exc: httpx.HTTPError | httpx.InvalidURL) -> SendResult:
    where = channel.where
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return SendResult(False, True, None, f"no answer from {where} within {channel.timeout:g} s "
                          f"({type(exc).__name__})", None)
    if isinstance(exc, httpx.ConnectError):
        return SendResult(False, True, None, f"cannot connect to {where}: {text}", None)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return SendResult(False, False, None, f"cannot send to {where}: {text}", None)
    if isinstance(exc, httpx.TransportError):
        return SendResult(False, True, None, f"connection to {where} failed: {text}", None)
    return SendResult(False, False, None, f"cannot send to {where}: {text}", None)


async def send(client: httpx.AsyncClient, channel: ChannelConfig, notice: Notice,
               now: float | None = None) -> SendResult:
    """Send ``notice`` through ``channel``; ``now`` (epoch seconds, default the clock) signs it."""
    module = CHANNELS.get(channel.kind)
    if module is None:
        return SendResult(False, False, None, f"unknown channel kind {channel.kind!r}", None)
    ok, why = module.check()
    if not ok:
        return SendResult(False, False, None, why, None)
    if hasattr(module, "deliver"):
        result: SendResult = await module.deliver(channel, notice)
    else:
        request = module.request(channel, notice, time.time() if now is None else now)
        try:
            status, headers, body = await _post(client, request, channel.timeout)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            result = _network(channel, exc)
        else:
            result = module.result(status, headers, body)
    if not result.ok:
        log.info("notify %s (%s): %s", channel.name, channel.kind, result.detail,
                 extra={"channel": channel.name, "event_id": notice.event_id})
    return result
