"""Delivery of the outbox: the queue tells its channels of outcomes, and nothing it does waits on them.

A move to a told state (escalated, resolved, flapping, ...) writes one delivery per interested channel
in the move's own transaction (``QueueService._tell``), so a crash or restart loses none. This
dispatcher, a task in the queue's event loop, sends what is due: each delivery at most
``max_attempts`` times, backing off exponentially with jitter and never sooner than a channel's
``Retry-After``. Sends run concurrently with timeouts, so a channel that is down only delays its own
messages, never reports or claims. A storm (more than ``storm_events`` deliveries to one channel in
``storm_minutes``) becomes one digest message for all that channel has pending. Delivery is at least
once: a crash between a send and its record sends that one message again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from healloop.errors import ConfigError
from healloop.notify.config import ChannelConfig
from healloop.notify.model import NODE_MOVED, Notice
from healloop.notify.send import SendResult, send
from healloop.queue.model import Delivery
from healloop.timeutil import US, now_us

if TYPE_CHECKING:
    from healloop.queue.service import QueueService

log = logging.getLogger(__name__)
BATCH = 50
IDLE_S = 30.0          # with nothing due, look again at least this often
DIFF_LINES = 40
Sender = Callable[[httpx.AsyncClient, ChannelConfig, Notice], Awaitable[SendResult]]


@dataclass(frozen=True)
class NotifySettings:
    channels: Mapping[str, ChannelConfig]
    public_url: str | None = None     # the queue as people reach it: links in messages
    storm_events: int = 10            # more deliveries than this to one channel ...
    storm_minutes: float = 5.0        # ... in this many minutes become one digest
    storm_hold_s: float = 60.0        # in a storm, a channel's messages wait this long to share a digest
    max_attempts: int = 10            # then the delivery is marked failed
    base_delay_s: float = 2.0         # first retry after about this long, doubling, at most max_delay_s
    max_delay_s: float = 3600.0


def settings_from(path: Path) -> NotifySettings | None:
    """The ``[notify.*]`` channels and the ``[queue]`` keys for messages (``public_url``,
    ``storm_events``, ``storm_minutes``) of a healloop.toml; None when it names no channel."""
    from healloop.notify.config import load_channels

    channels = load_channels(path)
    if not channels:
        return None
    try:
        with open(path, "rb") as fh:
            queue = tomllib.load(fh).get("queue", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:  # load_channels read it a moment ago
        raise ConfigError(f"cannot read {str(path)!r}: {exc}", field="config") from None
    public_url = queue.get("public_url")
    if public_url is not None and (not isinstance(public_url, str)
                                   or not public_url.startswith(("http://", "https://"))):
        raise ConfigError(f"`queue.public_url` must be the queue's http(s) URL as people reach it, got "
                          f"{public_url!r}", field="queue.public_url")
    numbers = {}
    for key, default in (("storm_minutes", 5), ("storm_hold_s", 60), ("notify_retry_s", 2)):
        value = queue.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"`queue.{key}` must be a positive number, got {value!r}", field=f"queue.{key}")
        numbers[key] = float(value)
    events = queue.get("storm_events", 10)
    if isinstance(events, bool) or not isinstance(events, int) or events < 1:
        raise ConfigError(f"`queue.storm_events` must be a positive integer, got {events!r}",
                          field="queue.storm_events")
    return NotifySettings(channels=channels, public_url=public_url, storm_events=events,
                          storm_minutes=numbers["storm_minutes"], storm_hold_s=numbers["storm_hold_s"],
                          base_delay_s=numbers["notify_retry_s"])


@dataclass
class DeliveryStats:
    sent: dict[str, int] = field(default_factory=dict)
    failed_attempts: dict[str, int] = field(default_factory=dict)
    digests: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def bump(counter: dict[str, int], channel: str, n: int = 1) -> None:
        counter[channel] = counter.get(channel, 0) + n


def backoff(attempts: int, settings: NotifySettings, retry_after: float | None, rng: random.Random) -> float:
    """Seconds until the next try after ``attempts`` failed ones: exponential, jittered by ±50% so
    many queues never retry in step, and never sooner than the channel asked (Retry-After)."""
    delay = min(settings.max_delay_s, settings.base_delay_s * 2 ** max(0, attempts - 1))
    delay *= rng.uniform(0.5, 1.5)
    return max(delay, retry_after or 0.0)


def notice_from(event: dict[str, Any], outcome: str, note: str | None, public_url: str | None) -> Notice:
    """What a message says, from the event as ``GET /v1/events/{id}`` shows it."""
    diff = suspect = None
    for h in event.get("history") or []:
        data = h.get("data") or {}
        for action in data.get("actions") or []:
            if isinstance(action, dict) and action.get("diff"):
                diff = str(action["diff"])
        report = data.get("report") or {}
        commit = report.get("suspect_commit") if isinstance(report, dict) else None
        if isinstance(commit, dict) and commit.get("sha"):
            suspect = f"{str(commit['sha'])[:10]} {commit.get('subject') or ''}".strip()
    if diff:
        lines = diff.splitlines()
        diff = "\n".join(lines[:DIFF_LINES]) + (f"\n... {len(lines) - DIFF_LINES} more lines"
                                                 if len(lines) > DIFF_LINES else "")
    message = str(event.get("message") or "").strip().splitlines()
    return Notice(
        event_id=str(event["id"]),
        outcome=outcome,
        reason=(note or outcome).splitlines()[0][:500] if (note or outcome) else outcome,
        spec=event.get("spec"),
        test=event.get("test"),
        message=message[0][:500] if message else None,
        nodes=tuple(event.get("nodes") or ()),
        count=int(event.get("count") or 1),
        diff=diff if outcome in ("resolved", "proposed") else None,  # what was done, or what waits
        suspect=suspect if outcome != "resolved" else None,
        link=f"{public_url.rstrip('/')}/v1/events/{event['id']}" if public_url else None,
    )


def node_moved_key(name: str, at: int) -> str:
    """The outbox's ``event_id`` of a node-moved notice: there is no event, and each move is told once."""
    return f"node:{name}@{at}"


def node_notice(d: Delivery, public_url: str | None) -> Notice:
    """A node-moved notice, from its delivery alone: the note says what changed."""
    name = d.event_id.removeprefix("node:").rsplit("@", 1)[0]
    return Notice(event_id=d.event_id, outcome=NODE_MOVED, reason=d.note or f"node {name} moved",
                  nodes=(name,), link=f"{public_url.rstrip('/')}/v1/nodes" if public_url else None)


class Dispatcher:
    def __init__(self, service: QueueService, settings: NotifySettings, *, sender: Sender = send,
                 rng: random.Random | None = None) -> None:
        self.service, self.settings, self.sender = service, settings, sender
        self.stats = DeliveryStats()
        self.rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        self._client = httpx.AsyncClient(follow_redirects=False)
        self._task = asyncio.create_task(self._run(), name="healloop-notify")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        store = self.service.store
        while True:
            self._wake.clear()
            try:
                due = await store.read(lambda tx: tx.outbox_due(now_us(), BATCH))
                if due:
                    await self._send_batch(due)
                    continue  # more may be due: look again at once
                nxt = await store.read(lambda tx: tx.outbox_next_due())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notifications: the dispatcher hit an error; retrying shortly")
                nxt = now_us() + 5 * US
            wait = IDLE_S if nxt is None else max(0.0, min(IDLE_S, (nxt - now_us()) / US))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _send_batch(self, due: list[Delivery]) -> None:
        by_channel: dict[str, list[Delivery]] = {}
        for d in due:
            by_channel.setdefault(d.channel, []).append(d)
        await asyncio.gather(*(self._send_channel(name, items) for name, items in by_channel.items()))

    async def _send_channel(self, name: str, items: list[Delivery]) -> None:
        channel = self.settings.channels.get(name)
        store = self.service.store
        if channel is None:  # the channel was removed from the config since: nothing to send it
            for d in items:
                done = replace(d, status="failed", last_error=f"no channel {name!r} in the config any more",
                               done_at=now_us())
                await store.write(lambda tx, done=done: tx.outbox_update(done))
            return
        since = now_us() - int(self.settings.storm_minutes * 60 * US)
        recent = await store.read(lambda tx: tx.outbox_recent(name, since))
        if recent > self.settings.storm_events:
            await self._storm(channel, items)
            return
        for d in items:
            await self._send_one(channel, d)

    async def _send_one(self, channel: ChannelConfig, d: Delivery) -> None:
        if d.outcome == NODE_MOVED:
            await self._record([d], await self._deliver(channel, node_notice(d, self.settings.public_url)))
            return
        try:
            event = await self.service.get(d.event_id)
        except Exception as exc:  # noqa: BLE001 - an event that cannot be read is a failed delivery
            await self._record([d], SendResult(False, False, None, f"cannot read the event: {exc}", None))
            return
        notice = notice_from(event, d.outcome, d.note, self.settings.public_url)
        result = await self._deliver(channel, notice)
        await self._record([d], result)

    async def _storm(self, channel: ChannelConfig, due: list[Delivery]) -> None:
        """More than ``storm_events`` lately: the channel's pending messages wait until the oldest has
        waited ``storm_hold_s``, then go out as one digest."""
        store = self.service.store
        pending = await store.read(lambda tx: tx.outbox_pending_for(channel.name, 500))
        if not pending:
            return
        ready_at = min(d.created_at for d in pending) + int(self.settings.storm_hold_s * US)
        if now_us() >= ready_at:
            await self._digest(channel, pending)
            return
        held = [replace(d, next_at=max(d.next_at, ready_at)) for d in due]

        def op(tx: Any) -> None:
            for d in held:
                tx.outbox_update(d)

        await store.write(op)

    async def _digest(self, channel: ChannelConfig, pending: list[Delivery]) -> None:
        notices = []
        for d in pending:
            if d.outcome == NODE_MOVED:
                notices.append(node_notice(d, self.settings.public_url))
                continue
            try:
                event = await self.service.get(d.event_id)
            except Exception:  # noqa: BLE001 - a digest lists what it can read
                continue
            notices.append(notice_from(event, d.outcome, d.note, self.settings.public_url))
        counts: dict[str, int] = {}
        for n in notices:
            counts[n.outcome] = counts.get(n.outcome, 0) + 1
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        digest = Notice(
            event_id=pending[0].event_id,
            outcome="digest",
            reason=(f"{len(pending)} outcomes in the last {self.settings.storm_minutes:g} minutes "
                    f"({summary}); sent as one message"),
            count=len(pending),
            link=f"{self.settings.public_url.rstrip('/')}/v1/events" if self.settings.public_url else None,
            items=tuple(notices),
        )
        result = await self._deliver(channel, digest)
        if result.ok:
            DeliveryStats.bump(self.stats.digests, channel.name)
        await self._record(pending, result, delivered_as="digested")

    async def _deliver(self, channel: ChannelConfig, notice: Notice) -> SendResult:
        assert self._client is not None
        try:
            return await self.sender(self._client, channel, notice)
        except Exception as exc:
            log.exception("notifications: sending to %s failed", channel.name)
            return SendResult(False, True, None, f"{type(exc).__name__}: {exc}", None)

    async def _record(self, items: list[Delivery], result: SendResult,
                      delivered_as: str = "delivered") -> None:
        now = now_us()
        updated = []
        for d in items:
            attempts = d.attempts + 1
            if result.ok:
                DeliveryStats.bump(self.stats.sent, d.channel)
                updated.append(replace(d, status=delivered_as, attempts=attempts, last_error=None,
                                       done_at=now))
                continue
            DeliveryStats.bump(self.stats.failed_attempts, d.channel)
            if result.retryable and attempts < self.settings.max_attempts:
                delay = backoff(attempts, self.settings, result.retry_after, self.rng)
                updated.append(replace(d, attempts=attempts, next_at=now + int(delay * US),
                                       last_error=result.detail[:500]))
            else:
                updated.append(replace(d, status="failed", attempts=attempts, last_error=result.detail[:500],
                                       done_at=now))
                log.warning("notifications: %s gave up on %s/%s after %d attempt(s): %s", d.channel,
                            d.event_id, d.outcome, attempts, result.detail)

        def op(tx: Any) -> None:
            for u in updated:
                tx.outbox_update(u)

        await self.service.store.write(op)
