"""Untrusted text made fit to show: control characters dropped, lengths capped, URLs checked.

Test names, failure messages, diffs and commit subjects come from the suite and its repository, so
anyone who can push a test can put text in a message. ``tidy`` cleans a Notice once; each channel then
escapes for its own markup (``fit`` caps text after escaping without cutting an escape in half).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from healloop.notify.model import Notice

ELLIPSIS = "…"
# C0/C1 controls except tab and newline, and the bidirectional overrides that make text read
# differently from how it is stored.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_FENCE = re.compile(r"`{3,}")
_URL_SAFE = ":/?#@!$&*+,;=%-._~"    # no ( ) [ ] < > | ' " ` or spaces: they end a link in some markup


@dataclasses.dataclass(frozen=True)
class Limits:
    """Characters kept of each part before escaping; ``scaled`` shrinks them for a size limit."""

    field: int = 300        # test, spec, nodes, suspect, event id
    reason: int = 500
    message: int = 500
    diff_chars: int = 2400
    diff_lines: int = 60
    items: int = 10         # a digest's items shown; the rest are counted ("and 20 more")
    item_field: int = 160
    url: int = 2000

    def scaled(self, factor: float) -> Limits:
        if factor >= 1:
            return self
        return Limits(*(max(1 if f.name == "items" else 20, int(getattr(self, f.name) * factor))
                        for f in dataclasses.fields(self)))


def clean(text: str | None) -> str:
    """Newlines normalised, control characters (NUL included) and bidi overrides removed."""
    if not text:
        return ""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def one_line(text: str | None) -> str:
    return " ".join(clean(text).split())


def first_line(text: str | None) -> str:
    for line in clean(text).split("\n"):
        if line.strip():
            return " ".join(line.split())
    return ""


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def cut_lines(text: str, max_lines: int, max_chars: int) -> str:
    lines = text.rstrip("\n").split("\n")
    more = len(lines) - max_lines
    kept = "\n".join(lines[:max_lines]) + (f"\n{ELLIPSIS} ({more} more lines)" if more > 0 else "")
    return cut(kept, max_chars)


def fit(raw: str, escape: Callable[[str], str], limit: int) -> str:
    """``escape(raw)``, cut so that the escaped text is at most ``limit`` characters: the raw text is
    cut, never the escaped one, so no entity or escape sequence is left half."""
    out = escape(raw)
    keep = len(raw)
    while len(out) > limit and keep > 0:
        keep = max(0, keep - max(1, len(out) - limit))
        out = escape(raw[:keep].rstrip() + ELLIPSIS)
    return out if len(out) <= limit else ""


def defuse_fences(text: str) -> str:
    """A run of three backticks inside a code block would close it; a zero-width space breaks the run
    and reads the same."""
    return _FENCE.sub(lambda m: "\u200b".join(m.group(0)), text)


def safe_url(url: str | None, limit: int = 2000) -> str | None:
    """An http(s) URL with every character that could end a link in markup percent-encoded, or None."""
    url = clean(url).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    url = quote(url, safe=_URL_SAFE)
    return url if len(url) <= limit else None


def nodes_text(nodes: tuple[str, ...], count: int, shown: int = 10) -> str:
    names = ", ".join(nodes[:shown]) + (f" and {len(nodes) - shown} more" if len(nodes) > shown else "")
    if count > 1:
        names = f"{names} ({count} reports)" if names else f"{count} reports"
    return names


def tidy(notice: Notice, limits: Limits | None = None) -> Notice:
    """A copy of ``notice`` with every text cleaned and capped (a digest's first ``limits.items`` items
    too; the others are only counted)."""
    lim = limits or Limits()

    def field(text: str | None, limit: int = lim.field) -> str | None:
        value = cut(one_line(text), limit)
        return value or None

    diff = cut_lines(clean(notice.diff).strip("\n"), lim.diff_lines, lim.diff_chars) if notice.diff else None
    shown = tuple(tidy(item, dataclasses.replace(lim, field=lim.item_field, reason=lim.item_field,
                                                  message=lim.item_field, items=0))
                  for item in notice.items[: lim.items])
    return Notice(
        event_id=field(notice.event_id) or "?",
        outcome=one_line(notice.outcome) or "?",
        reason=field(notice.reason, lim.reason) or "",
        spec=field(notice.spec),
        test=field(notice.test),
        message=cut(first_line(notice.message), lim.message) or None,
        nodes=tuple(field(n, 100) or "?" for n in notice.nodes),
        count=max(int(notice.count), 1),
        diff=diff or None,
        suspect=field(notice.suspect),
        link=safe_url(notice.link, lim.url),
        items=shown + notice.items[lim.items:],
    )
