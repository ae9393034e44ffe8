"""The filters of an event list, as ``GET /v1/events`` and the dashboard take them: parsed and checked
once here, so both answer a bad value with the same sentence."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from healloop.errors import InvalidInput
from healloop.queue import rules
from healloop.timeutil import parse_rfc3339

MAX_LIST = 1000
FILTERS = ("status", "node", "fingerprint", "spec", "class", "label", "since", "q", "limit")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
_CLASS = re.compile(r"^[a-z0-9_]{1,64}$")


@dataclass(frozen=True)
class EventMatch:
    """What the store filters on beyond status, node and fingerprint (each optional)."""

    spec: str | None = None
    klass: str | None = None             # the agent's classification (history data `class`)
    label: tuple[str, str] | None = None  # key, value
    since: int | None = None             # created at or after (us)
    text: str | None = None              # in the test name, message or spec

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.spec, self.klass, self.label, self.since, self.text))


@dataclass(frozen=True)
class Listing:
    status: str | None = None
    node: str | None = None
    fingerprint: str | None = None
    match: EventMatch = EventMatch()
    limit: int = 100


def parse_listing(q: Mapping[str, str], *, default_limit: int = 100) -> Listing:
    """The filters of a query string; unknown names and bad values are InvalidInput naming the field."""
    unknown = set(q.keys()) - set(FILTERS)
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"`{name}` is not a known filter; use {', '.join(FILTERS)}", field=name)
    status = q.get("status") or None
    if status is not None:
        rules.check_state_name(status, "status")
    raw_limit = q.get("limit") or str(default_limit)
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIST:
        raise InvalidInput(
            f"`limit` must be a whole number from 1 to {MAX_LIST}, got {raw_limit!r}", field="limit"
        )
    label = None
    if q.get("label"):
        key, eq, value = q["label"].partition("=")
        if not eq or not _LABEL_KEY.fullmatch(key.strip()):
            raise InvalidInput(f"`label` must be key=value, such as branch=main, got {q['label']!r}",
                               field="label")
        label = (key.strip(), value.strip())
    klass = q.get("class") or None
    if klass is not None and not _CLASS.fullmatch(klass):
        raise InvalidInput(f"`class` must be a failure class such as selector_not_found, got {klass!r}",
                           field="class")
    since = parse_rfc3339(q["since"], "since") if q.get("since") else None
    text = (q.get("q") or "").strip()[:200] or None
    match = EventMatch(spec=q.get("spec") or None, klass=klass, label=label, since=since, text=text)
    return Listing(status, q.get("node") or None, q.get("fingerprint") or None, match, int(raw_limit))
