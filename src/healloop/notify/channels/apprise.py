"""Apprise: one URL reaches any service Apprise knows (Telegram, e-mail, Teams, ntfy, ...).

An optional extra, ``pip install 'healloop[apprise]'``; ``check`` says so when it is missing. Apprise
makes its own requests, so this module has ``deliver`` instead of ``request`` and ``result``, and the
sender calls it. The message is plain text: healloop cannot escape for every service's markup. Apprise
says only whether it delivered, not why not, so a failure is retried (the outbox bounds the retries)
and the reason is in Apprise's log.
"""

from __future__ import annotations

import importlib.util
import logging

from healloop.notify.channels import common
from healloop.notify.config import ChannelConfig
from healloop.notify.model import Notice, SendResult
from healloop.notify.text import Limits

log = logging.getLogger(__name__)
INSTALL = "pip install 'healloop[apprise]'"


def check() -> tuple[bool, str]:
    if importlib.util.find_spec("apprise") is None:
        return False, f"the optional apprise package is not installed: {INSTALL}"
    return True, "ok"


async def deliver(channel: ChannelConfig, notice: Notice) -> SendResult:
    ok, why = check()
    if not ok:
        return SendResult(False, False, None, why, None)
    import apprise

    hub = apprise.Apprise()
    if not hub.add(channel.url):
        return SendResult(False, False, None, "Apprise does not know this URL's service (check the URL)",
                          None)
    title, body = common.plain(notice, Limits())
    try:
        sent = await hub.async_notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
    except Exception as exc:  # third-party plugin code: any error is a failed delivery, never the loop's
        log.exception("apprise channel %s failed", channel.name, extra={"channel": channel.name})
        return SendResult(False, True, None, f"Apprise failed: {type(exc).__name__}: {exc}", None)
    if sent:
        return SendResult(True, False, None, "delivered", None)
    return SendResult(False, True, None, "Apprise could not deliver (its log says why)", None)
