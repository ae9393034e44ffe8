"""Gitea and Forgejo (API v1, e.g. https://gitea.example/api/v1): pull requests and issues through the
REST API, and the ``pull_request`` webhook's news that one was merged or closed."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from healloop.errors import Unauthorized
from healloop.forge import issues
from healloop.forge.github import check_repository, closed_pull_request, commit_author
from healloop.forge.http import call, close_once, missing, open_once
from healloop.forge.model import Author, Closed, ForgeSettings, Issue, PullRequest, PullStatus

KIND = "gitea"
DEFAULT_API_URL = "https://gitea.com/api/v1"
# Gitea lists at most 50 items a page by default ([api] MAX_RESPONSE_ITEMS).
PAGE = 50

__all__ = ["DEFAULT_API_URL", "KIND", "Client", "check_repository", "parse_hook"]


class Client:
    kind = KIND

    def __init__(self, settings: ForgeSettings, token: str) -> None:
        self.settings = settings
        owner, name = settings.repository.split("/", 1)
        self.repo = f"{settings.api_url.rstrip('/')}/repos/{owner}/{name}"
        self.headers = {"Authorization": f"token {token}", "Accept": "application/json",
                        "User-Agent": "healloop"}

    def _call(self, method: str, path: str = "", **kw: Any) -> tuple[int, Any]:
        return call(KIND, method, self.repo + path, headers=self.headers, token_env=self.settings.token_env,
                    **kw)

    def check_access(self) -> str:
        _, repo = self._call("GET")
        push = (repo.get("permissions") or {}).get("push")
        return f"{repo.get('full_name') or self.settings.repository}" + (
            "" if push is None else "; the token may push" if push else "; the token may NOT push")

    def find_open(self, head: str, base: str) -> PullRequest | None:
        for page in range(1, issues.MAX_PAGES + 1):
            _, found = self._call("GET", "/pulls", params={"state": "open", "limit": str(PAGE),
                                                           "page": str(page)})
            for p in found:
                if (p.get("head") or {}).get("ref") == head and (p.get("base") or {}).get("ref") == base:
                    return _pull(p, existing=True)
            if len(found) < PAGE:
                return None
        return None

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest:
        """Open a pull request from ``head`` into ``base``, once (see ``open_once``): 409 is "a pull
        request already exists for these targets", 404 a branch Gitea does not have, 422 its other
        refusals."""
        return open_once(
            KIND, "pull request", self.settings.repository, head, base,
            find=lambda: self.find_open(head, base),
            post=lambda: self._call("POST", "/pulls", accept=(404, 409, 422),
                                    json={"title": title, "head": head, "base": base, "body": body}),
            refused=(404, 409, 422), made=_pull)

    def pull_request_status(self, number: int) -> PullStatus:
        status, p = self._call("GET", f"/pulls/{number}", accept=(404,))
        if status == 404:
            raise missing(KIND, "pull request", number, self.settings)
        merged = bool(p.get("merged"))
        return PullStatus(KIND, number, "merged" if merged else str(p.get("state")), p.get("html_url"),
                          merged_by=(p.get("merged_by") or {}).get("login"),
                          merge_sha=p.get("merge_commit_sha") if merged else None)

    def close_pull_request(self, number: int, comment: str) -> dict[str, Any]:
        return close_once(KIND, "pull request", number, status=lambda: self.pull_request_status(number),
                          comment=lambda: self._call("POST", f"/issues/{number}/comments",
                                                     json={"body": comment}),
                          close=lambda: self._call("PATCH", f"/pulls/{number}", json={"state": "closed"}))

    def find_issue(self, mark: str) -> Issue | None:
        for page in range(1, issues.MAX_PAGES + 1):
            _, found = self._call("GET", "/issues", params={"state": "open", "type": "issues",
                                                            "limit": str(PAGE), "page": str(page)})
            for i in found:
                if mark in (i.get("body") or ""):
                    return _issue(i, existing=True)
            if len(found) < PAGE:
                return None
        return None

    def commit_author(self, sha: str, author: Author) -> Author:
        """The commit's author with their Gitea login, when Gitea has the commit and links its e-mail to
        an account; a commit it does not have is not an error."""
        status, c = self._call("GET", f"/git/commits/{sha}", accept=(404, 422))
        if status != 200:
            return author
        return commit_author(c, author)

    def open_issue(self, event_id: str, title: str, body: str, sha: str, author: Author | None) -> Issue:
        return issues.open_once(
            KIND, self.settings.repository, event_id, title, body, sha, author, find=self.find_issue,
            post=lambda t, b, who: self._call("POST", "/issues", accept=(422,), json={
                "title": t, "body": b, **({"assignees": [who.login]} if who else {})}),
            refused=(422,), made=_issue)


def _pull(p: dict[str, Any], existing: bool = False) -> PullRequest:
    return PullRequest(forge=KIND, number=int(p["number"]), url=str(p["html_url"]), state=str(p["state"]),
                       head=str(p["head"]["ref"]), base=str(p["base"]["ref"]), existing=existing)


def _issue(i: dict[str, Any], existing: bool = False) -> Issue:
    return Issue(forge=KIND, number=int(i["number"]), url=str(i["html_url"]), existing=existing,
                 assignees=[str(a.get("login")) for a in i.get("assignees") or []])


def verify(headers: Mapping[str, str], body: bytes, secret: str | None) -> None:
    """``X-Gitea-Signature`` (Forgejo: also ``X-Forgejo-Signature``) is the hex HMAC-SHA256 of the body
    with the webhook's secret, without a prefix."""
    if not secret:
        return
    given = headers.get("x-gitea-signature") or headers.get("x-forgejo-signature") or ""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("the X-Gitea-Signature header is missing or does not match the body signed with "
                           "the forge secret (healloop serve --forge-secret); set the same secret on the "
                           "Gitea webhook")


def parse_hook(headers: Mapping[str, str], body: bytes, secret: str | None) -> Closed | str:
    """A closed pull request, or why the delivery is ignored (another event or action). Gitea's
    ``pull_request`` delivery has GitHub's shape; Forgejo sends ``X-Forgejo-Event`` as well."""
    verify(headers, body, secret)
    event = headers.get("x-gitea-event") or headers.get("x-forgejo-event") or ""
    return closed_pull_request(KIND, event, body)
