"""What the channels share: the words for each outcome, the facts a message shows, keeping a body
under a service's size limit, and reading an HTTP answer (429 and 5xx retryable, Retry-After honoured).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from healloop import __version__
from healloop.notify.model import Notice, SendResult
from healloop.notify.text import Limits, fit, nodes_text, tidy
from healloop.timeutil import retry_after_s

USER_AGENT = f"healloop/{__version__}"
WORDS = {
    "escalated": "Escalated", "resolved": "Resolved", "proposed": "Fix proposed", "flapping": "Flapping",
    "reverted": "Heal reverted", "digest": "Digest", "test": "Test message", "node_moved": "Node moved",
}
MARKS = {
    "escalated": "🔴", "resolved": "✅", "proposed": "🟠", "flapping": "🟠", "reverted": "↩️",
    "digest": "📋", "test": "🔔", "node_moved": "⚠️",
}
SCALES = (1.0, 0.5, 0.25, 0.1, 0.04)


def word(outcome: str) -> str:
    return WORDS.get(outcome, outcome.capitalize())


def title(notice: Notice) -> str:
    """One line naming what happened, from a tidied notice."""
    if notice.outcome == "test":
        return "healloop: test message"
    if notice.outcome == "digest":
        n = len(notice.items)
        return f"healloop digest: {n} event{'s' if n != 1 else ''}"
    if notice.outcome == "node_moved":
        return f"healloop: node {notice.nodes[0] if notice.nodes else '?'} changed its MCP URL"
    return f"{word(notice.outcome)}: {notice.test or notice.spec or notice.event_id}"


def facts(notice: Notice) -> list[tuple[str, str]]:
    """(label, value) pairs of a tidied notice, for a channel to lay out and escape."""
    out = [("Test", notice.test), ("Spec", notice.spec), ("Nodes", nodes_text(notice.nodes, notice.count)),
           ("Event", notice.event_id if notice.outcome != "node_moved" else None)]
    return [(label, value) for label, value in out if value]


def item_line(item: Notice) -> str:
    """A digest item as plain text: 'Escalated: checkout > pays on ci-1: no element matched'."""
    where = nodes_text(item.nodes, item.count)
    line = f"{word(item.outcome)}: {item.test or item.spec or item.event_id}"
    if where:
        line += f" on {where}"
    return f"{line}: {item.reason}" if item.reason else line


def more_items(notice: Notice, limits: Limits) -> int:
    return max(len(notice.items) - limits.items, 0)


def markdown_items(notice: Notice, limits: Limits, escape: Callable[[str], str], cap: int) -> list[str]:
    """A digest's items as Markdown list lines with a link to each event, then "and N more"."""
    lines = []
    for item in notice.items[: limits.items]:
        line = "- " + fit(item_line(item), escape, cap)
        lines.append(line + (f" [event]({item.link})" if item.link else ""))
    more = more_items(notice, limits)
    if more:
        lines.append(f"and {more} more")
    return lines


def within(build: Callable[[Limits], bytes], max_bytes: int, base: Limits | None = None) -> bytes:
    """The body built with the largest limits whose size is at most ``max_bytes``; texts shrink by
    the factors in SCALES (a digest also shows fewer items)."""
    body = b""
    for scale in SCALES:
        body = build((base or Limits()).scaled(scale))
        if len(body) <= max_bytes:
            return body
    return body


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), at most a day; None when absent or unreadable."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    seconds = retry_after_s(value, time.time() if now is None else now)
    return None if seconds is None else min(seconds, 86400.0)


def snippet(body: bytes, limit: int = 200) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def http_failure(status: int, headers: Mapping[str, str], body: bytes) -> SendResult | None:
    """None for a 2xx answer; otherwise the failure: 408, 429 and 5xx retryable, the rest not."""
    if 200 <= status < 300:
        return None
    text = snippet(body)
    detail = f"HTTP {status} {text}".rstrip()
    if status in (408, 429) or status >= 500:
        return SendResult(False, True, retry_after(headers), detail, status)
    if 300 <= status < 400:
        detail = f"HTTP {status}: the URL redirects; configure the address it redirects to"
    return SendResult(False, False, None, detail, status)


def delivered(status: int) -> SendResult:
    return SendResult(True, False, None, "delivered", status)


def json_headers() -> dict[str, str]:
    return {"content-type": "application/json; charset=utf-8", "user-agent": USER_AGENT}


def plain(notice: Notice, limits: Limits) -> tuple[str, str]:
    """(title, body) as plain text, for services whose markup healloop does not know."""
    n = tidy(notice, limits)
    lines = [f"{label}: {value}" for label, value in facts(n)]
    lines += [f"{label}: {value}" for label, value in
              (("Why", n.reason), ("Failure", n.message), ("Suspect commit", n.suspect)) if value]
    if n.diff:
        lines += ["", n.diff, ""]
    for item in n.items[: limits.items]:
        lines.append("- " + item_line(item) + (f" {item.link}" if item.link else ""))
    if more_items(n, limits):
        lines.append(f"and {more_items(n, limits)} more")
    if n.link:
        lines.append(n.link)
    return title(n), "\n".join(lines)
