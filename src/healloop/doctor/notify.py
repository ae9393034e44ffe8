"""The notification channels: their config and each channel's own prerequisites, sending nothing
(`healloop notify test` sends a test message)."""

from __future__ import annotations

from collections.abc import Iterator

from healloop.doctor.core import Finding, Setup, check, fail, ok, warn
from healloop.errors import HealloopError


@check("notify")
def check_notify(setup: Setup) -> Iterator[Finding]:
    from healloop.notify.channels import CHANNELS
    from healloop.notify.outbox import settings_from

    try:
        settings = settings_from(setup.path)
    except HealloopError as exc:
        yield fail("notify", exc.message, "fix the [notify.NAME] table or the [queue] key it names")
        return
    if settings is None:
        yield ok("notify", "no [notify.NAME] channel: outcomes are not sent anywhere (README, Notifications)")
        return
    for name, channel in settings.channels.items():
        ready, why = CHANNELS[channel.kind].check()
        if not ready:
            yield warn(f"notify {name}", f"{channel.kind} cannot send from here: {why}", why)
            continue
        link = f"links to {settings.public_url}" if settings.public_url else "no [queue] public_url: no links"
        yield ok(f"notify {name}", f"{channel.kind} to {channel.where}; {link}; `healloop notify test` "
                                   "sends a test message")
