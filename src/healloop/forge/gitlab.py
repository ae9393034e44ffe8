"""GitLab (gitlab.com or self-managed, API v4): merge requests through the REST API, and the ``Merge
Request Hook`` webhook's news that one was merged or closed."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from healloop.errors import InvalidInput, Unauthorized
from healloop.forge.http import call, open_once
from healloop.forge.model import Closed, ForgeSettings, PullRequest

KIND = "gitlab"
DEFAULT_API_URL = "https://gitlab.com/api/v4"


def check_repository(repository: str) -> str | None:
    """Why ``repository`` cannot be a GitLab project, or None."""
    if repository.isdigit():
        return None
    if "/" not in repository.strip("/") or repository != repository.strip("/"):
        return "the project's path (group/name, subgroups allowed) or its numeric id"
    return None


class Client:
    def __init__(self, settings: ForgeSettings, token: str) -> None:
        self.settings = settings
        # The project is named by its id or its URL-encoded path: group%2Fsub%2Fname.
        project = quote(settings.repository, safe="")
        self.base = f"{settings.api_url.rstrip('/')}/projects/{project}/merge_requests"
        self.headers = {"PRIVATE-TOKEN": token, "User-Agent": "healloop"}

    def _call(self, method: str, **kw: Any) -> tuple[int, Any]:
        return call(KIND, method, self.base, headers=self.headers, token_env=self.settings.token_env, **kw)

    def find_open(self, head: str, base: str) -> PullRequest | None:
        _, found = self._call("GET", params={"source_branch": head, "target_branch": base, "state": "opened"})
        return _merge_request(found[0], existing=True) if found else None

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest:
        """Open a merge request from ``head`` into ``base``, once (see ``open_once``): 409 is "another
        open merge request already exists", 422 GitLab's other refusals."""
        return open_once(
            KIND, "merge request", self.settings.repository, head, base,
            find=lambda: self.find_open(head, base),
            post=lambda: self._call("POST", accept=(409, 422), json={
                "source_branch": head, "target_branch": base, "title": title, "description": body,
                # The proposal's branch has served its purpose once merged.
                "remove_source_branch": True,
            }),
            refused=(409, 422), made=_merge_request)


def _merge_request(m: dict[str, Any], existing: bool = False) -> PullRequest:
    return PullRequest(forge=KIND, number=int(m["iid"]), url=str(m["web_url"]), state=str(m["state"]),
                       head=str(m["source_branch"]), base=str(m["target_branch"]), existing=existing)


def verify(headers: Mapping[str, str], secret: str | None) -> None:
    """GitLab sends the webhook's secret token as it is, in ``X-Gitlab-Token``."""
    if not secret:
        return
    given = headers.get("x-gitlab-token", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise Unauthorized("the X-Gitlab-Token header is missing or is not the forge secret (healloop serve "
                           "--forge-secret); set the same secret token on the GitLab webhook")


def parse_hook(headers: Mapping[str, str], body: bytes, secret: str | None) -> Closed | str:
    """A merged or closed merge request, or why the delivery is ignored (another event or action)."""
    verify(headers, secret)
    event = headers.get("x-gitlab-event", "")
    if event != "Merge Request Hook":
        return f"{event or 'an unnamed'} event: only Merge Request Hook events are used"
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"the webhook body is not JSON: {exc}") from None
    attrs = payload.get("object_attributes") if isinstance(payload, dict) else None
    if not isinstance(attrs, dict):
        raise InvalidInput("the Merge Request Hook has no object_attributes", field="object_attributes")
    action = attrs.get("action")
    if action not in ("merge", "close"):
        return f"merge request action {action!r}: only merge and close decide a proposal"
    merged = action == "merge"
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    # A fast-forward merge makes no merge commit: the source branch's last commit is what landed.
    sha = (attrs.get("merge_commit_sha") or (attrs.get("last_commit") or {}).get("id")) if merged else None
    return Closed(forge=KIND, branch=str(attrs.get("source_branch") or ""), merged=merged,
                  by=user.get("username"), sha=sha, number=attrs.get("iid"), url=attrs.get("url"))
