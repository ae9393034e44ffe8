"""One module per channel kind, each with ``request(channel, notice, now) -> Request``,
``result(status, headers, body) -> SendResult`` and ``check() -> (ok, reason)``; ``apprise`` has
``deliver(channel, notice)`` instead of ``request`` and ``result``. ``healloop.notify.send`` looks the
module up here by the channel's ``kind``."""

from __future__ import annotations

from types import ModuleType

from healloop.notify.channels import apprise, dingtalk, feishu, slack, webhook

CHANNELS: dict[str, ModuleType] = {
    "feishu": feishu,
    "slack": slack,
    "dingtalk": dingtalk,
    "webhook": webhook,
    "apprise": apprise,
}
