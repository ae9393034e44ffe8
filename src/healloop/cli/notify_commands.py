"""``healloop notify test``: send a test message to each channel of healloop.toml and say how it went."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from healloop.cli.queue_commands import queue_options
from healloop.errors import HealloopError

if TYPE_CHECKING:
    from healloop.notify.config import ChannelConfig
    from healloop.notify.model import SendResult


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group("notify")
def notify_group() -> None:
    """Notification channels: the [notify.NAME] tables of healloop.toml (Feishu, Slack, DingTalk,
    webhooks, Apprise)."""


@notify_group.command("test")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default="healloop.toml", show_default=True, envvar="HEALLOOP_CONFIG", show_envvar=True,
              help="healloop.toml with the [notify.NAME] tables.")
@click.option("--channel", "only", metavar="NAME", help="Send to this channel only  [default: all]")
def notify_test(config_path: Path, only: str | None) -> None:
    """Send a test message to each channel (or the one named) and print one line per channel.

    Exits 1 when any channel did not take the message, 2 when the configuration is wrong or has no
    such channel."""
    from healloop.notify.config import load_channels

    try:
        channels = load_channels(config_path)
    except HealloopError as exc:
        _fail(exc.message)
    if not channels:
        problem = "has no [notify.NAME] table" if config_path.exists() else "does not exist"
        _fail(f"{config_path} {problem}; add a channel, e.g.\n\n  [notify.team]\n  kind = \"slack\"\n"
              "  url = \"https://hooks.slack.com/services/...\"\n\n(README: Notifications)")
    if only is not None:
        if only not in channels:
            _fail(f"no channel {only!r} in {config_path}; its channels: " + ", ".join(channels))
        channels = {only: channels[only]}
    failed = False
    for channel, result, elapsed in asyncio.run(_send_all(list(channels.values()))):
        if result.ok:
            click.echo(f"ok   {channel.name} ({channel.kind}): delivered in {elapsed * 1000:.0f} ms")
            continue
        failed = True
        later = ""
        if result.retryable:
            later = " (temporary: the queue retries it" + (
                f" after {result.retry_after:g} s)" if result.retry_after is not None else ")")
        click.echo(f"FAIL {channel.name} ({channel.kind}): {result.detail}{later}")
    sys.exit(1 if failed else 0)


Outcome = tuple["ChannelConfig", "SendResult", float]


async def _send_all(channels: list[ChannelConfig]) -> list[Outcome]:
    """Every channel at once, each with how long it took."""
    import httpx

    from healloop.notify.model import Notice
    from healloop.notify.send import send

    notice = Notice(event_id="evt_test", outcome="test",
                    reason=f"a test message from healloop notify test on {socket.gethostname()}")

    async def one(client: httpx.AsyncClient, channel: ChannelConfig) -> Outcome:
        start = time.monotonic()
        result = await send(client, channel, notice)
        return channel, result, time.monotonic() - start

    async with httpx.AsyncClient() as client:
        return list(await asyncio.gather(*(one(client, channel) for channel in channels)))


_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> int:
    """'90s', '30m', '2h', '7d' or plain seconds."""
    unit = text[-1:].lower()
    number = text[:-1] if unit in _DURATION else text
    try:
        value = int(float(number) * _DURATION.get(unit, 1))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration such as 30m, 2h or 7d") from None
    if not 0 < value <= 90 * 86400:
        raise click.BadParameter(f"{text!r} must be more than 0 and at most 90 days")
    return value



@notify_group.command("mute")
@queue_options
@click.argument("spec")
@click.argument("test")
@click.option("--for", "duration", default="24h", show_default=True,
              help="How long: 30m, 2h, 7d (at most 90d).")
@click.option("--reason", help="Why, shown with the mute.")
def notify_mute(queue_url: str, token: str | None, spec: str, test: str, duration: str,
                reason: str | None) -> None:
    """Tell no channel about SPEC > TEST for a while (a known flaky test, a fix under way)."""
    from healloop.client import QueueClient

    try:
        with QueueClient(queue_url, token) as q:
            mute = q.mute(spec, test, _seconds(duration), reason)
    except HealloopError as exc:
        _fail(exc.message)
    click.echo(f"muted {spec} > {test} until {mute['until']}")


@notify_group.command("unmute")
@queue_options
@click.argument("spec")
@click.argument("test")
def notify_unmute(queue_url: str, token: str | None, spec: str, test: str) -> None:
    """Lift the mute on SPEC > TEST."""
    from healloop.client import QueueClient

    try:
        with QueueClient(queue_url, token) as q:
            q.unmute(spec, test)
    except HealloopError as exc:
        _fail(exc.message)
    click.echo(f"unmuted {spec} > {test}")


@notify_group.command("mutes")
@queue_options
def notify_mutes(queue_url: str, token: str | None) -> None:
    """List the mutes in force."""
    from healloop.client import QueueClient

    try:
        with QueueClient(queue_url, token) as q:
            mutes = q.mutes()
    except HealloopError as exc:
        _fail(exc.message)
    for m in mutes:
        why = f"  ({m['reason']})" if m["reason"] else ""
        click.echo(f"{m['spec']} > {m['test']}  until {m['until']}{why}")
    if not mutes:
        click.echo("no mutes")


def register(cli: click.Group) -> None:
    cli.add_command(notify_group)
