"""GitLab (gitlab.com or self-managed, API v4): merge requests and issues through the REST API, and the
``Merge Request Hook`` webhook's news that one was merged or closed."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from healloop.errors import InvalidInput, Unauthorized
from healloop.forge import issues
from healloop.forge.github import json_object
from healloop.forge.http import call, close_once, missing, open_once
from healloop.forge.model import Author, Closed, ForgeSettings, Issue, PullRequest, PullStatus

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
    kind = KIND

    def __init__(self, settings: ForgeSettings, token: str) -> None:
        self.settings = settings
        # The project is named by its id or its URL-encoded path: group%2Fsub%2Fname.
        self.api = settings.api_url.rstrip("/")
        self.project = f"{self.api}/projects/{quote(settings.repository, safe='')}"
        self.headers = {"PRIVATE-TOKEN": token, "User-Agent": "healloop"}

    def _call(self, method: str, path: str = "", *, url: str | None = None, **kw: Any) -> tuple[int, Any]:
        return call(KIND, method, url or self.project + path, headers=self.headers,
                    token_env=self.settings.token_env, **kw)

    def check_access(self) -> str:
        _, project = self._call("GET")
        return str(project.get("path_with_namespace") or self.settings.repository)

    def find_open(self, head: str, base: str) -> PullRequest | None:
        _, found = self._call("GET", "/merge_requests",
                              params={"source_branch": head, "target_branch": base, "state": "opened"})
        return _merge_request(found[0], existing=True) if found else None

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest:
        """Open a merge request from ``head`` into ``base``, once (see ``open_once``): 409 is "another
        open merge request already exists", 422 GitLab's other refusals."""
        return open_once(
            KIND, "merge request", self.settings.repository, head, base,
            find=lambda: self.find_open(head, base),
            post=lambda: self._call("POST", "/merge_requests", accept=(409, 422), json={
                "source_branch": head, "target_branch": base, "title": title, "description": body,
                # The proposal's branch has served its purpose once merged.
                "remove_source_branch": True,
            }),
            refused=(409, 422), made=_merge_request)

    def pull_request_status(self, number: int) -> PullStatus:
        status, m = self._call("GET", f"/merge_requests/{number}", accept=(404,))
        if status == 404:
            raise missing(KIND, "merge request", number, self.settings)
        state = {"opened": "open", "locked": "open"}.get(str(m.get("state")), str(m.get("state")))
        merger = m.get("merge_user") or m.get("merged_by") or {}
        # A fast-forward merge makes no merge commit: the source branch's last commit is what landed.
        sha = (m.get("merge_commit_sha") or m.get("squash_commit_sha") or m.get("sha")) if state == "merged" \
            else None
        return PullStatus(KIND, number, state, m.get("web_url"), merged_by=merger.get("username"),
                          merge_sha=sha, closed_by=(m.get("closed_by") or {}).get("username"))

    def close_pull_request(self, number: int, comment: str) -> dict[str, Any]:
        return close_once(KIND, "merge request", number, status=lambda: self.pull_request_status(number),
                          comment=lambda: self._call("POST", f"/merge_requests/{number}/notes",
                                                     json={"body": comment}),
                          close=lambda: self._call("PUT", f"/merge_requests/{number}",
                                                   json={"state_event": "close"}))

    def find_issue(self, mark: str) -> Issue | None:
        for page in range(1, issues.MAX_PAGES + 1):
            _, found = self._call("GET", "/issues",
                                  params={"state": "opened", "per_page": "100", "page": str(page)})
            for i in found:
                if mark in (i.get("description") or ""):
                    return _issue(i, existing=True)
            if len(found) < 100:
                return None
        return None

    def commit_author(self, sha: str, author: Author) -> Author:
        """The commit's author, and the GitLab user with that e-mail when one is found (public e-mails,
        or any with an administrator's token); a commit GitLab does not have is not an error."""
        status, c = self._call("GET", f"/repository/commits/{sha}", accept=(404,))
        if status == 200:
            author = Author(name=author.name or c.get("author_name"),
                            email=author.email or c.get("author_email"))
        if not author.email:
            return author
        _, users = self._call("GET", url=f"{self.api}/users", params={"search": author.email})
        # One match or none: a search that finds several is no answer to "who is this".
        if not isinstance(users, list) or len(users) != 1:
            return author
        return Author(name=author.name, email=author.email, login=users[0].get("username"),
                      user_id=int(users[0]["id"]))

    def open_issue(self, event_id: str, title: str, body: str, sha: str, author: Author | None) -> Issue:
        return issues.open_once(
            KIND, self.settings.repository, event_id, title, body, sha, author, find=self.find_issue,
            post=lambda t, b, who: self._call("POST", "/issues", accept=(400, 422), json={
                "title": t, "description": b, **({"assignee_ids": [who.user_id]} if who else {})}),
            refused=(400, 422), made=_issue)


def _merge_request(m: dict[str, Any], existing: bool = False) -> PullRequest:
    return PullRequest(forge=KIND, number=int(m["iid"]), url=str(m["web_url"]), state=str(m["state"]),
                       head=str(m["source_branch"]), base=str(m["target_branch"]), existing=existing)


def _issue(i: dict[str, Any], existing: bool = False) -> Issue:
    return Issue(forge=KIND, number=int(i["iid"]), url=str(i["web_url"]), existing=existing,
                 assignees=[str(a.get("username")) for a in i.get("assignees") or []])


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
    payload = json_object(body)
    attrs = payload.get("object_attributes")
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
