"""Generic webhook: the notice as JSON, for any receiver a team writes itself.

The body has stable keys, every one always present (null or empty when unknown)::

    {"type": "healloop.notice", "version": 1, "sent_at": "2026-11-25T08:30:00Z",
     "event_id": ..., "outcome": ..., "reason": ..., "spec": ..., "test": ..., "message": ...,
     "nodes": [...], "count": 1, "diff": ..., "suspect": ..., "link": ...,
     "items": [{the same keys from event_id to link}], "items_total": 0}

Headers: ``X-Healloop-Event``, ``X-Healloop-Outcome`` and, with a secret,
``X-Healloop-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the secret>``;
a receiver recomputes it over the raw body and compares in constant time. Any 2xx is delivered;
408, 429 and 5xx are retried (Retry-After honoured), other statuses are not.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from healloop.notify.channels import common
from healloop.notify.config import ChannelConfig
from healloop.notify.model import Notice, Request, SendResult
from healloop.notify.text import Limits, clean, cut, tidy

TYPE = "healloop.notice"
VERSION = 1
LIMITS = Limits(field=1000, reason=2000, message=4000, diff_chars=20_000, diff_lines=400, items=100,
                item_field=1000)
MAX_BYTES = 256_000
_HEADER_UNSAFE = re.compile(r"[^\x21-\x7e]")


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _fields(n: Notice, message: str | None) -> dict[str, Any]:
    return {"event_id": n.event_id, "outcome": n.outcome, "reason": n.reason, "spec": n.spec, "test": n.test,
            "message": message, "nodes": list(n.nodes), "count": n.count, "diff": n.diff,
            "suspect": n.suspect, "link": n.link}


def payload(notice: Notice, now: float, limits: Limits = LIMITS) -> dict[str, Any]:
    n = tidy(notice, limits)
    items = [_fields(item, item.message) for item in n.items[: limits.items]]
    return {"type": TYPE, "version": VERSION,
            "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            # The whole failure message, not only its first line: a program may want all of it.
            **_fields(n, cut(clean(notice.message), limits.message) or None),
            "items": items, "items_total": len(notice.items)}


def _header(value: str) -> str:
    return _HEADER_UNSAFE.sub("_", value)[:200]


def request(channel: ChannelConfig, notice: Notice, now: float) -> Request:
    body = common.within(lambda lim: json.dumps(payload(notice, now, lim), ensure_ascii=False).encode(),
                         MAX_BYTES, LIMITS)
    headers = {**common.json_headers(), "x-healloop-event": _header(notice.event_id),
               "x-healloop-outcome": _header(notice.outcome)}
    if channel.secret:
        headers["x-healloop-signature"] = signature(body, channel.secret)
    return Request(channel.url, headers, body)


def result(status: int, headers: Mapping[str, str], body: bytes) -> SendResult:
    return common.http_failure(status, headers, body) or common.delivered(status)


def check() -> tuple[bool, str]:
    return True, "ok"
