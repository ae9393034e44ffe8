"""Slack incoming webhook: Block Kit, with a top-level ``text`` for notifications and old clients.

Blocks: a header (plain text, at most 150 characters), a section of fields (at most 10, 2,000
characters each), sections for the reason, failure and suspect commit and a code block for the diff
(3,000 characters each), a button to the event and a context line with the event id; at most 50
blocks. In mrkdwn only ``&``, ``<`` and ``>`` are escaped (``<!channel>`` and ``<url|text>`` need
them). The URL is the credential; Slack signs nothing here. Slack answers 200 ``ok``, or a status
with an error word (400 ``invalid_payload``, 403 ``invalid_token``, 404 ``no_service``, 410
``channel_is_archived``, 429 with Retry-After).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from healloop.notify.channels import common
from healloop.notify.config import ChannelConfig
from healloop.notify.model import Notice, Request, SendResult
from healloop.notify.text import Limits, defuse_fences, fit, tidy

HEADER_MAX = 150
FIELD_MAX = 2000
SECTION_MAX = 3000
TEXT_MAX = 3000               # the fallback text; Slack truncates long ones
MAX_BYTES = 40_000
_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: str) -> str:
    return defuse_fences(text.translate(_ESC))


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _labelled(label: str, value: str, limit: int) -> str:
    return f"*{label}*\n" + fit(value, escape, limit - len(label) - 3)


def _link(url: str, text: str) -> str:
    return f"<{url.replace('|', '%7C')}|{escape(text)}>"


def blocks(notice: Notice, limits: Limits) -> list[dict[str, Any]]:
    n = tidy(notice, limits)
    out: list[dict[str, Any]] = [{"type": "header", "text": {
        "type": "plain_text", "text": fit(f"{common.MARKS.get(n.outcome, '')} {common.title(n)}".strip(),
                                          lambda s: s, HEADER_MAX)}}]
    fields = [{"type": "mrkdwn", "text": _labelled(label, value, FIELD_MAX)}
              for label, value in common.facts(n)]
    if fields:
        out.append({"type": "section", "fields": fields[:10]})
    if n.reason:
        out.append(_section(_labelled("Why", n.reason, SECTION_MAX)))
    if n.message:
        out.append(_section(_labelled("Failure", n.message, SECTION_MAX)))
    if n.diff:
        code = fit(n.diff, escape, SECTION_MAX - 8)
        out.append(_section(f"```\n{code}\n```"))
    if n.suspect:
        out.append(_section(_labelled("Suspect commit", n.suspect, SECTION_MAX)))
    if n.items:
        lines = []
        for item in n.items[: limits.items]:
            line = "• " + fit(common.item_line(item), escape, 600)
            lines.append(line + (" " + _link(item.link, "event") if item.link else ""))
        more = common.more_items(n, limits)
        if more:
            lines.append(f"and {more} more")
        out.append(_section(cut_joined(lines, SECTION_MAX)))
    if n.link:
        out.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open event"}, "url": n.link,
        }]})
    out.append({"type": "context",
                "elements": [{"type": "mrkdwn", "text": f"healloop · {escape(n.event_id)}"}]})
    return out[:50]


def cut_joined(lines: list[str], limit: int) -> str:
    """Whole lines joined while they fit."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def fallback(notice: Notice, limits: Limits) -> str:
    n = tidy(notice, limits)
    parts = [common.title(n), n.reason, n.link or ""]
    return fit(" · ".join(p for p in parts if p), escape, TEXT_MAX)


def request(channel: ChannelConfig, notice: Notice, now: float) -> Request:
    def build(limits: Limits) -> bytes:
        payload = {"text": fallback(notice, limits), "blocks": blocks(notice, limits)}
        return json.dumps(payload, ensure_ascii=False).encode()

    return Request(channel.url, common.json_headers(), common.within(build, MAX_BYTES))


def result(status: int, headers: Mapping[str, str], body: bytes) -> SendResult:
    failed = common.http_failure(status, headers, body)
    if failed is not None:
        return failed
    text = common.snippet(body)
    if text in ("ok", ""):
        return common.delivered(status)
    return SendResult(False, False, None, f"HTTP {status} {text}", status)


def check() -> tuple[bool, str]:
    return True, "ok"
