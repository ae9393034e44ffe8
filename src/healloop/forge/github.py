"""GitHub (and GitHub Enterprise, whose API lives at https://HOST/api/v3): pull requests and issues through
the REST API, and the ``pull_request`` webhook's news that one was merged or closed."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from healloop.errors import InvalidInput, Unauthorized
from healloop.forge import issues
from healloop.forge.http import call, close_once, missing, open_once
from healloop.forge.model import Author, Closed, ForgeSettings, Issue, PullRequest, PullStatus

KIND = "github"
DEFAULT_API_URL = "https://api.github.com"


def check_repository(repository: str) -> str | None:
    """Why ``repository`` cannot be a GitHub repository, or None."""
    owner, _, name = repository.partition("/")
    if not owner or not name or "/" in name:
        return "owner/name, e.g. \"acme/shop\""
    return None


class Client:
    kind = KIND

    def __init__(self, settings: ForgeSettings, token: str) -> None:
        self.settings = settings
        self.owner, self.name = settings.repository.split("/", 1)
        self.repo = f"{settings.api_url.rstrip('/')}/repos/{self.owner}/{self.name}"
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                        "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "healloop"}

    def _call(self, method: str, path: str = "", **kw: Any) -> tuple[int, Any]:
        return call(KIND, method, self.repo + path, headers=self.headers, token_env=self.settings.token_env,
                    **kw)

    def check_access(self) -> str:
        _, repo = self._call("GET")
        push = (repo.get("permissions") or {}).get("push")
        return f"{repo.get('full_name') or self.settings.repository}" + (
            "" if push is None else "; the token may push" if push else "; the token may NOT push")

    def find_open(self, head: str, base: str) -> PullRequest | None:
        _, found = self._call("GET", "/pulls",
                              params={"head": f"{self.owner}:{head}", "base": base, "state": "open"})
        return _pull(found[0], existing=True) if found else None

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest:
        """Open a pull request from ``head`` into ``base``, once (see ``open_once``). GitHub answers 422
        both for "a pull request already exists" and for its other refusals."""
        return open_once(
            KIND, "pull request", self.settings.repository, head, base,
            find=lambda: self.find_open(head, base),
            post=lambda: self._call("POST", "/pulls", accept=(422,),
                                    json={"title": title, "head": head, "base": base, "body": body}),
            refused=(422,), made=_pull)

    def pull_request_status(self, number: int) -> PullStatus:
        status, p = self._call("GET", f"/pulls/{number}", accept=(404,))
        if status == 404:
            raise missing(KIND, "pull request", number, self.settings)
        merged = bool(p.get("merged"))
        closed_by = None
        if p.get("state") == "closed" and not merged:
            # The pull request says who merged it, not who closed it; its issue does.
            _, issue = self._call("GET", f"/issues/{number}")
            closed_by = (issue.get("closed_by") or {}).get("login")
        return PullStatus(KIND, number, "merged" if merged else str(p.get("state")), p.get("html_url"),
                          merged_by=(p.get("merged_by") or {}).get("login"),
                          merge_sha=p.get("merge_commit_sha") if merged else None, closed_by=closed_by)

    def close_pull_request(self, number: int, comment: str) -> dict[str, Any]:
        return close_once(KIND, "pull request", number, status=lambda: self.pull_request_status(number),
                          comment=lambda: self._call("POST", f"/issues/{number}/comments",
                                                     json={"body": comment}),
                          close=lambda: self._call("PATCH", f"/pulls/{number}", json={"state": "closed"}))

    def find_issue(self, mark: str) -> Issue | None:
        for page in range(1, issues.MAX_PAGES + 1):
            _, found = self._call("GET", "/issues",
                                  params={"state": "open", "per_page": "100", "page": str(page)})
            for i in found:
                # GitHub lists pull requests among issues; they carry a pull_request key.
                if "pull_request" not in i and mark in (i.get("body") or ""):
                    return _issue(i, existing=True)
            if len(found) < 100:
                return None
        return None

    def commit_author(self, sha: str, author: Author) -> Author:
        """The commit's author with their GitHub login, when GitHub has the commit and links its e-mail
        to an account; a commit it does not have (never pushed) is not an error."""
        status, c = self._call("GET", f"/commits/{sha}", accept=(404, 422))
        if status != 200:
            return author
        return commit_author(c, author)

    def open_issue(self, event_id: str, title: str, body: str, sha: str, author: Author | None) -> Issue:
        return issues.open_once(
            KIND, self.settings.repository, event_id, title, body, sha, author, find=self.find_issue,
            post=lambda t, b, who: self._call("POST", "/issues", accept=(422,), json={
                "title": t, "body": b, **({"assignees": [who.login]} if who else {})}),
            refused=(422,), made=_issue)


def commit_author(c: dict[str, Any], author: Author) -> Author:
    """A commit as GitHub (and Gitea) return it: git's author in ``commit.author``, the account its
    e-mail belongs to in ``author`` (null when none)."""
    recorded = (c.get("commit") or {}).get("author") or {}
    return Author(name=author.name or recorded.get("name"), email=author.email or recorded.get("email"),
                  login=(c.get("author") or {}).get("login"))


def _pull(p: dict[str, Any], existing: bool = False) -> PullRequest:
    return PullRequest(forge=KIND, number=int(p["number"]), url=str(p["html_url"]), state=str(p["state"]),
                       head=str(p["head"]["ref"]), base=str(p["base"]["ref"]), existing=existing)


def _issue(i: dict[str, Any], existing: bool = False) -> Issue:
    return Issue(forge=KIND, number=int(i["number"]), url=str(i["html_url"]), existing=existing,
                 assignees=[str(a.get("login")) for a in i.get("assignees") or []])


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
    return closed_pull_request(KIND, headers.get("x-github-event", ""), body)


def closed_pull_request(kind: str, event: str, body: bytes) -> Closed | str:
    """What GitHub's ``pull_request`` delivery says, and Gitea's, which has the same shape: a closed pull
    request (merged or not, by whom, the merge commit), or why the delivery is ignored."""
    if event != "pull_request":
        return f"{event or 'an unnamed'} event: only pull_request events are used"
    payload = json_object(body)
    pr = payload.get("pull_request")
    action = payload.get("action")
    if not isinstance(pr, dict) or not isinstance(pr.get("head"), dict):
        raise InvalidInput("the pull_request event has no pull_request.head", field="pull_request")
    if action != "closed":
        return f"pull request action {action!r}: only closed ones decide a proposal"
    merged = bool(pr.get("merged"))
    who = (pr.get("merged_by") if merged else None) or payload.get("sender") or {}
    return Closed(forge=kind, branch=str(pr["head"].get("ref") or ""), merged=merged,
                  by=who.get("login") if isinstance(who, dict) else None,
                  sha=pr.get("merge_commit_sha") if merged else None,
                  number=pr.get("number"), url=pr.get("html_url"))


def json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"the webhook body is not JSON: {exc}") from None
    except RecursionError:
        raise InvalidInput("the webhook body nests arrays or objects too deeply to be read") from None
    if not isinstance(payload, dict):
        raise InvalidInput("the webhook body must be a JSON object")
    return payload
