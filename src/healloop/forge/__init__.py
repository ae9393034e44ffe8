"""Forges that hold pull requests: one module per forge (``github``, ``gitlab``), each with a ``Client``
(``open_pull_request``, idempotent), ``check_repository`` and ``parse_hook`` for its webhook, registered
here by kind. The node opens pull requests (it holds the token); the queue reads the webhooks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import ModuleType
from typing import Protocol

from healloop.errors import ConfigError
from healloop.forge import github, gitlab
from healloop.forge.model import Closed, ForgeSettings, PullRequest

FORGES: dict[str, ModuleType] = {"github": github, "gitlab": gitlab}

__all__ = ["FORGES", "Closed", "ForgeSettings", "PullRequest", "check", "client"]


class Client(Protocol):
    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest: ...


def check(settings: ForgeSettings, env: Mapping[str, str] = os.environ) -> tuple[bool, str]:
    """(ok, reason): whether pull requests can be opened from this machine, as ``healloop doctor`` shows."""
    if not env.get(settings.token_env):
        return False, (f"${settings.token_env} is not set: put the {settings.kind} token that may open pull "
                       f"requests on {settings.repository} in it (in the node's environment)")
    where = f"{settings.kind} {settings.repository} at {settings.api_url}"
    return True, f"{where}, token in ${settings.token_env}"


def client(settings: ForgeSettings, env: Mapping[str, str] = os.environ) -> Client:
    ok, reason = check(settings, env)
    if not ok:
        raise ConfigError(f"pull requests are off: {reason}", field="node.git.token_env")
    module = FORGES[settings.kind]
    made: Client = module.Client(settings, env[settings.token_env])
    return made
