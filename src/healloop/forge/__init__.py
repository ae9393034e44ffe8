"""Forges that hold pull requests and issues: one module per forge (``github``, ``gitlab``, ``gitea``
for Gitea and Forgejo), each with a ``Client`` (pull requests opened once, their state, closing them,
issues opened once per event), ``check_repository`` and ``parse_hook`` for its webhook, registered here
by kind. The node calls the forge (it holds the token); the queue reads the webhooks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Protocol

from healloop.errors import ConfigError
from healloop.forge import gitea, github, gitlab
from healloop.forge.model import Author, Closed, ForgeSettings, Issue, PullRequest, PullStatus

FORGES: dict[str, ModuleType] = {"github": github, "gitlab": gitlab, "gitea": gitea}

__all__ = ["FORGES", "Author", "Closed", "ForgeSettings", "Issue", "PullRequest", "PullStatus", "check",
           "client"]


class Client(Protocol):
    kind: str

    def check_access(self) -> str: ...

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest: ...

    def pull_request_status(self, number: int) -> PullStatus: ...

    def close_pull_request(self, number: int, comment: str) -> dict[str, Any]: ...

    def commit_author(self, sha: str, author: Author) -> Author: ...

    def open_issue(self, event_id: str, title: str, body: str, sha: str, author: Author | None) -> Issue: ...


def check(settings: ForgeSettings, env: Mapping[str, str] = os.environ) -> tuple[bool, str]:
    """(ok, reason): whether the forge can be called from this machine (its token is set), as ``healloop
    doctor`` shows."""
    if not env.get(settings.token_env):
        return False, (f"${settings.token_env} is not set: put the {settings.kind} token for "
                       f"{settings.repository} in it (in the node's environment)")
    where = f"{settings.kind} {settings.repository} at {settings.api_url}"
    return True, f"{where}, token in ${settings.token_env}"


def client(settings: ForgeSettings, env: Mapping[str, str] = os.environ) -> Client:
    ok, reason = check(settings, env)
    if not ok:
        raise ConfigError(f"the forge cannot be called: {reason}", field="node.git.token_env")
    module = FORGES[settings.kind]
    made: Client = module.Client(settings, env[settings.token_env])
    return made
