"""GitHub (and GitHub Enterprise, whose API lives at https://HOST/api/v3): pull requests through the REST
API, and the ``pull_request`` webhook's news that one was merged or closed."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from healloop.errors import InvalidInput, Unauthorized
from healloop.forge.http import call, open_once
from healloop.forge.model import Closed, ForgeSettings, PullRequest

KIND = "github"
DEFAULT_API_URL = "https://api.github.com"


def check_repository(repository: str) -> str | None:
    """Why ``repository`` cannot be a GitHub repository, or None."""
    owner, _, name = repository.partition("/")
    if not owner or not name or "/" in name:
        return "owner/name, e.g. \"acme/shop\""
    return None


class Client:
    def __init__(self, settings: ForgeSettings, token: str) -> None:
        self.settings = settings
        self.owner, self.name = settings.repository.split("/", 1)
        self.base = f"{settings.api_url.rstrip('/')}/repos/{self.owner}/{self.name}/pulls"
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                        "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "healloop"}

    def _call(self, method: str, **kw: Any) -> tuple[int, Any]:
        return call(KIND, method, self.base, headers=self.headers, token_env=self.settings.token_env, **kw)

    def find_open(self, head: str, base: str) -> PullRequest | None:
        _, found = self._call("GET", params={"head": f"{self.owner}:{head}", "base": base, "state": "open"})
        return _pull(found[0], existing=True) if found else None

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest:
        """Open a pull request from ``head`` into ``base``, once (see ``open_once``). GitHub answers 422
        both for "a pull request already exists" and for its other refusals."""
        return open_once(
            KIND, "pull request", self.settings.repository, head, base,
            find=lambda: self.find_open(head, base),
            post=lambda: self._call("POST", accept=(422,),
                                    json={"title": title, "head": head, "base": base, "body": body}),
            refused=(422,), made=_pull)


def _pull(p: dict[str, Any], existing: bool = False) -> PullRequest:
    return PullRequest(forge=KIND, number=int(p["number"]), url=str(p["html_url"]), state=str(p["state"]),
                       head=str(p["head"]["ref"]), base=str(p["base"]["ref"]), existing=existing)


def verify(headers: Mapping[str, str], body: bytes, secret: str | None) -> None:
    """``X-Hub-Signature-256`` is the HMAC-SHA256 of the body with the webhook's secret."""
    if not secret:
        return
    given = headers.get("x-hub-signature-256", "")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("the X-Hub-Signature-256 header is missing or does not match the body signed with "
                           "the forge secret (healloop serve --forge-secret); set the same secret on the "
                           "GitHub webhook")


def parse_hook(headers: Mapping[str, str], body: bytes, secret: str | None) -> Closed | str:
    """A closed pull request, or why the delivery is ignored (a ping, another event or action)."""
    verify(headers, body, secret)
    event = headers.get("x-github-event", "")
    if event != "pull_request":
        return f"{event or 'an unnamed'} event: only pull_request events are used"
    payload = _json(body)
    pr = payload.get("pull_request")
    action = payload.get("action")
    if not isinstance(pr, dict) or not isinstance(pr.get("head"), dict):
        raise InvalidInput("the pull_request event has no pull_request.head", field="pull_request")
    if action != "closed":
        return f"pull request action {action!r}: only closed ones decide a proposal"
    merged = bool(pr.get("merged"))
    who = (pr.get("merged_by") if merged else None) or payload.get("sender") or {}
    return Closed(forge=KIND, branch=str(pr["head"].get("ref") or ""), merged=merged,
                  by=who.get("login") if isinstance(who, dict) else None,
                  sha=pr.get("merge_commit_sha") if merged else None,
                  number=pr.get("number"), url=pr.get("html_url"))


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"the webhook body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidInput("the webhook body must be a JSON object")
    return payload
