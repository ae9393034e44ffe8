"""Feishu/Lark custom bot (自定义机器人): an interactive card.

The body is ``{"msg_type": "interactive", "card": {...}}``: a header coloured by outcome, ``div`` and
``markdown`` elements (fields, reason, failure, the diff as a code block, the suspect commit), a button
to the event and a note with its id. With a secret the bot checks ``timestamp`` (seconds, within an hour
of Feishu's clock) and ``sign`` = base64(HMAC-SHA256(key = "<timestamp>\\n<secret>", message = b"")),
both in the body. Feishu answers HTTP 200 with ``{"code": 0}``, or a non-zero ``code`` and ``msg``
(19021: bad signature or stale timestamp; 11232: rate limited). A request body may be at most 20 KB.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from healloop.notify.channels import common
from healloop.notify.config import ChannelConfig
from healloop.notify.model import Notice, Request, SendResult
from healloop.notify.text import Limits, defuse_fences, fit, tidy

MAX_BYTES = 20_000            # "请求体的数据大小不能超过 20 KB"
RATE_LIMITED = {11232}        # 100 a minute and 5 a second per bot
TEMPLATES = {"escalated": "red", "resolved": "green", "proposed": "orange", "flapping": "orange",
             "reverted": "grey", "test": "grey", "digest": "blue"}
# lark_md is Markdown with tags (<at>, <font>, ...): in untrusted text every character that could start
# markup becomes an HTML entity, which Feishu shows as the character itself.
_ENTITIES = {c: f"&#{ord(c)};" for c in "&<>*_~[]()`\\|#"}
_MD = str.maketrans(_ENTITIES)


def escape(text: str) -> str:
    return text.translate(_MD)


def sign(timestamp: str, secret: str) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def _md(content: str) -> dict[str, Any]:
    return {"tag": "div", "text": {"tag": "lark_md", "content": content}}


def _line(label: str, value: str, limit: int) -> str:
    return f"**{label}:** " + fit(value, escape, limit)


def card(notice: Notice, limits: Limits) -> dict[str, Any]:
    n = tidy(notice, limits)
    fields = [{"is_short": label in ("Nodes", "Event"), "text": {"tag": "lark_md",
                                                                 "content": _line(label, value, 1500)}}
              for label, value in common.facts(n)]
    elements: list[dict[str, Any]] = []
    if fields:
        elements.append({"tag": "div", "fields": fields})
    if n.reason:
        elements.append(_md(_line("Why", n.reason, 3000)))
    if n.message:
        elements.append(_md(_line("Failure", n.message, 3000)))
    if n.diff:
        code = defuse_fences(n.diff).replace("<at", "<\u200bat")
        elements.append({"tag": "markdown", "content": f"```diff\n{code}\n```"})
    if n.suspect:
        elements.append(_md(_line("Suspect commit", n.suspect, 1500)))
    if n.items:
        elements.append(_md("\n".join(common.markdown_items(n, limits, escape, 1000))))
    if n.link:
        elements.append({"tag": "action", "actions": [{
            "tag": "button", "type": "primary", "url": n.link,
            "text": {"tag": "plain_text", "content": "Open event"},
        }]})
    elements.append({"tag": "note",
                     "elements": [{"tag": "plain_text", "content": f"healloop · {n.event_id}"}]})
    return {
        "config": {"wide_screen_mode": True},
        "header": {"template": TEMPLATES.get(n.outcome, "blue"),
                   "title": {"tag": "plain_text", "content": common.title(n)}},
        "elements": elements,
    }


def request(channel: ChannelConfig, notice: Notice, now: float) -> Request:
    signed: dict[str, Any] = {}
    if channel.secret:
        timestamp = str(int(now))
        signed = {"timestamp": timestamp, "sign": sign(timestamp, channel.secret)}

    def build(limits: Limits) -> bytes:
        payload = {**signed, "msg_type": "interactive", "card": card(notice, limits)}
        return json.dumps(payload, ensure_ascii=False).encode()

    return Request(channel.url, common.json_headers(), common.within(build, MAX_BYTES))


def result(status: int, headers: Mapping[str, str], body: bytes) -> SendResult:
    failed = common.http_failure(status, headers, body)
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return failed or SendResult(False, False, None, f"HTTP {status}: not a Feishu answer: "
                                    + common.snippet(body), status)
    code = answer.get("code", answer.get("StatusCode"))
    msg = str(answer.get("msg") or answer.get("StatusMessage") or "")
    if failed is not None:
        if code in (None, 0):
            return failed
        detail = f"HTTP {status} Feishu code {code}: {common.snippet(msg.encode())}"
        return SendResult(False, failed.retryable, failed.retry_after, detail, status)
    if code in (0, None):
        return common.delivered(status)
    retryable = code in RATE_LIMITED
    return SendResult(False, retryable, common.retry_after(headers) if retryable else None,
                      f"Feishu code {code}: {common.snippet(msg.encode())}", status)


def check() -> tuple[bool, str]:
    return True, "ok"
