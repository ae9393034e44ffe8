"""DingTalk custom robot (自定义机器人): a ``markdown`` message.

The body is ``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}``: the title shows in
the chat list, the text in the chat. DingTalk's Markdown is a subset (headings, bold, links, lists,
quotes; no code blocks), so the diff is a quote, one line each. With a secret ("加签") the URL gets
``timestamp`` (milliseconds) and ``sign`` = urlencode(base64(HMAC-SHA256(key = secret,
message = "<timestamp>\\n<secret>"))). DingTalk answers HTTP 200 with ``{"errcode": 0}``, or a
non-zero ``errcode`` and ``errmsg`` (310000: signature, keyword or IP check failed; 410100: more than
20 messages a minute, paused for ten minutes; 460101: over 20,000 bytes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from urllib.parse import quote_plus

from healloop.notify.channels import common
from healloop.notify.config import ChannelConfig
from healloop.notify.model import Notice, Request, SendResult
from healloop.notify.text import Limits, fit, tidy

MAX_BYTES = 19_000            # "message too long, exceed 20000 bytes"
TEXT_MAX = 5000               # longer markdown is shown as plain text by some clients
RATE_LIMITED = {410100}
RATE_PAUSE_S = 600.0          # "限流 10 分钟"
# Inline markup only: values never start a line (a label or "- " comes first); diff lines get their
# first character escaped as well (_diff_line).
_ESC = str.maketrans({**{c: "\\" + c for c in "\\`*_~[]()|"}, "&": "&amp;", "<": "&lt;", ">": "&gt;"})
_LEADING = re.compile(r"^(?:[+\-#=*]|\d+\.)")


def escape(text: str) -> str:
    return text.translate(_ESC)


def _diff_line(line: str) -> str:
    """A diff line in a quote: leading spaces kept (as no-break spaces) and a leading '+', '-', '#' or
    '1.' escaped, so that no line turns into a list or a heading."""
    body = escape(line)
    stripped = body.lstrip(" ")
    indent = len(body) - len(stripped)
    if indent:
        return "\u00a0" * indent + stripped
    return _LEADING.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], body) or "\u00a0"


def sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def markdown(notice: Notice, limits: Limits) -> tuple[str, str]:
    """(title, text)"""
    n = tidy(notice, limits)
    title = common.title(n)
    lines = [f"#### {common.MARKS.get(n.outcome, '')} " + fit(title, escape, 300)]
    lines += [f"**{label}:** " + fit(value, escape, 1200) for label, value in common.facts(n)]
    if n.reason:
        lines.append("**Why:** " + fit(n.reason, escape, 2000))
    if n.message:
        lines.append("**Failure:** " + fit(n.message, escape, 2000))
    if n.diff:
        lines.append("**Diff:**")
        lines += ["> " + _diff_line(line) for line in n.diff.split("\n")]
    if n.suspect:
        lines.append("**Suspect commit:** " + fit(n.suspect, escape, 1200))
    lines += common.markdown_items(n, limits, escape, 600)
    tail = ([f"[Open event]({n.link})"] if n.link else []) + [f"healloop · {escape(n.event_id)}"]
    # A line break in DingTalk Markdown needs an empty line between paragraphs. Whole lines are kept
    # while they fit, the link and the event id always.
    room = TEXT_MAX - sum(len(t) + 2 for t in tail) - 3
    kept: list[str] = []
    for line in lines:
        room -= len(line) + 2
        if room < 0:
            kept.append("…")
            break
        kept.append(line)
    return fit(title, lambda s: s, 100), "\n\n".join(kept + tail)


def signed_url(url: str, secret: str | None, now: float) -> str:
    if not secret:
        return url
    timestamp = str(int(now * 1000))
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={sign(timestamp, secret)}"


def request(channel: ChannelConfig, notice: Notice, now: float) -> Request:
    def build(limits: Limits) -> bytes:
        title, text = markdown(notice, limits)
        return json.dumps({"msgtype": "markdown", "markdown": {"title": title, "text": text}},
                          ensure_ascii=False).encode()

    return Request(signed_url(channel.url, channel.secret, now), common.json_headers(),
                   common.within(build, MAX_BYTES))


def result(status: int, headers: Mapping[str, str], body: bytes) -> SendResult:
    failed = common.http_failure(status, headers, body)
    if failed is not None:
        return failed
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or "errcode" not in answer:
        return SendResult(False, False, None,
                          f"HTTP {status}: not a DingTalk answer: " + common.snippet(body), status)
    code = answer["errcode"]
    if code == 0:
        return common.delivered(status)
    detail = f"DingTalk errcode {code}: " + common.snippet(str(answer.get("errmsg", "")).encode())
    if code in RATE_LIMITED:
        return SendResult(False, True, common.retry_after(headers) or RATE_PAUSE_S, detail, status)
    return SendResult(False, False, None, detail, status)


def check() -> tuple[bool, str]:
    return True, "ok"
