"""The queue's change feed: (event id, status, spec, test) after each write that commits, to whoever
listens; also a change of a test with no event moved (``TEST``: a quarantine set or lifted) and a run
report (``RUNS``: counts of passes, for any number of tests).

The dashboard's live page (``dashboard/live.py``) subscribes; the service publishes after the store's
transaction has committed, so a listener that reads the event on hearing of it sees the change. Each
subscriber has a bounded buffer: one that falls ``depth`` changes behind (a browser on a stalled
connection) is dropped, and publishing never waits on it, so a slow client cannot slow a report.
A dropped page reconnects and reloads its rows (EventSource reconnects by itself).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

DEPTH = 256  # a page that misses this many changes in a row reloads its rows anyway


# The status of a change that is not an event's (its event_id is "").
TEST = "test"
RUNS = "runs"


@dataclass(frozen=True, slots=True)
class Change:
    event_id: str
    status: str
    spec: str | None = None
    test: str | None = None


class Subscription:
    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.pending: collections.deque[Change] = collections.deque()
        self.dropped = False
        self.closed = False
        self._ready = asyncio.Event()

    def _offer(self, change: Change) -> bool:
        """False when this subscriber is full: it is then dropped, not waited for."""
        if len(self.pending) >= self.depth:
            self.dropped = True
            self._ready.set()
            return False
        self.pending.append(change)
        self._ready.set()
        return True

    def _close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next(self, timeout: float) -> Change | None:
        """The next change; None after ``timeout`` seconds without one, or once dropped or closed
        (see ``dropped`` and ``closed``)."""
        while not self.pending:
            if self.dropped or self.closed:
                return None
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        if self.dropped:
            return None
        return self.pending.popleft()


class ChangeFeed:
    def __init__(self, depth: int = DEPTH) -> None:
        self.depth = depth
        self._subs: set[Subscription] = set()
        self.dropped = 0  # subscribers dropped for falling behind, since start

    @property
    def listeners(self) -> int:
        return len(self._subs)

    def publish(self, event_id: str, status: str, spec: str | None = None, test: str | None = None) -> None:
        if not self._subs:
            return
        change = Change(event_id, status, spec, test)
        for sub in list(self._subs):
            if not sub._offer(change):
                self._subs.discard(sub)
                self.dropped += 1

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        sub = Subscription(self.depth)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)

    def close(self) -> None:
        """Shutting down: every listener's ``next`` answers None at once, so open streams end instead of
        holding the server's stop for its grace period."""
        for sub in list(self._subs):
            sub._close()
        self._subs.clear()
