"""A fake forge: a real HTTP server on 127.0.0.1 that speaks the GitHub, GitLab and Gitea REST calls
healloop makes (pull requests / merge requests: list, open, read, comment, close; issues: list, open;
a commit's author; GitLab's user search), checks each forge's token header, keeps what was made,
records every request, and answers with the JSON the real APIs give (number or iid, html_url or web_url,
state, merged, merged_by / merge_user, head.ref / source_branch, ...).

With ``remote`` (a bare git repository) it refuses a pull request whose branch was not pushed there, as
the forges do, and knows the commits pushed there and their authors; ``accounts`` maps an author's
e-mail to their login on the forge. ``merge`` and ``close`` do what a person does on the forge's page."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

GITHUB_REPO = "acme/shop"
GITLAB_PROJECT = "acme/web/shop"
GITEA_REPO = "acme/shop"
KINDS = ("github", "gitlab", "gitea")
_PREFIX = {
    "github": f"/repos/{GITHUB_REPO}",
    "gitlab": "/api/v4/projects/" + GITLAB_PROJECT.replace("/", "%2F"),
    "gitea": f"/api/v1/repos/{GITEA_REPO}",
}
_WEB = {"github": "https://github.example", "gitlab": "https://gitlab.example", "gitea": "https://gitea.example"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeForge:
    token: str = "forge-token-123"
    remote: Path | None = None
    accounts: dict[str, str] = field(default_factory=dict)   # e-mail -> login
    members: set[str] | None = None   # the logins that may be assigned; None: every account
    requests: list[Request] = field(default_factory=list)
    pulls: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in KINDS})
    issues: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in KINDS})
    comments: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: {k: [] for k in KINDS})
    url: str = ""

    def __enter__(self) -> FakeForge:
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                forge._handle(self, "GET")

            def do_POST(self) -> None:
                forge._handle(self, "POST")

            def do_PATCH(self) -> None:
                forge._handle(self, "PATCH")

            def do_PUT(self) -> None:
                forge._handle(self, "PUT")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._lock = threading.Lock()
        self._numbers = {k: 0 for k in KINDS}
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._running = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """The forge goes down: its port stops answering."""
        if self._running:
            self._running = False
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)

    @property
    def github_api(self) -> str:
        return self.url

    @property
    def gitlab_api(self) -> str:
        return f"{self.url}/api/v4"

    @property
    def gitea_api(self) -> str:
        return f"{self.url}/api/v1"

    def api(self, kind: str) -> str:
        return {"github": self.github_api, "gitlab": self.gitlab_api, "gitea": self.gitea_api}[kind]

    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

    # -- what a person does on the forge's page
    def merge(self, kind: str, number: int, by: str, sha: str) -> None:
        with self._lock:
            p = self._pull(kind, number)
            assert p is not None, f"no pull request {number} on {kind}"
            if kind == "gitlab":
                p.update(state="merged", merge_commit_sha=sha, merge_user={"username": by},
                         merged_by={"username": by})
            else:
                p.update(state="closed", merged=True, merge_commit_sha=sha, merged_by={"login": by},
                         closed_by={"login": by})

    def close(self, kind: str, number: int, by: str) -> None:
        with self._lock:
            p = self._pull(kind, number)
            assert p is not None, f"no pull request {number} on {kind}"
            p.update(state="closed", closed_by={"username": by} if kind == "gitlab" else {"login": by})

    # -- the server side
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        req = Request(method, split.path, {k: v[0] for k, v in parse_qs(split.query).items()},
                      {k.lower(): v for k, v in h.headers.items()}, json.loads(raw) if raw else None)
        self.requests.append(req)
        with self._lock:
            status, body = self._answer(req)
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _answer(self, req: Request) -> tuple[int, Any]:
        for kind, prefix in _PREFIX.items():
            if req.path == prefix or req.path.startswith(prefix + "/"):
                if not self._authorized(kind, req):
                    return 401, {"message": {"github": "Bad credentials", "gitlab": "401 Unauthorized",
                                             "gitea": "token is required"}[kind]}
                return self._route(kind, req, req.path[len(prefix):])
        if req.path == "/api/v4/users":
            if not self._authorized("gitlab", req):
                return 401, {"message": "401 Unauthorized"}
            ids = list(self.accounts)
            return 200, [{"id": 100 + ids.index(e), "username": login} for e, login in self.accounts.items()
                         if e == req.query.get("search")]
        if req.path.startswith("/api/v4/"):
            return 404, {"message": "404 Project Not Found"}
        if req.path.startswith("/api/v1/"):
            return 404, {"message": "The target couldn't be found.", "errors": []}
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}

    def _authorized(self, kind: str, req: Request) -> bool:
        if kind == "gitlab":
            return req.headers.get("private-token") == self.token
        scheme = "Bearer" if kind == "github" else "token"
        return req.headers.get("authorization") == f"{scheme} {self.token}"

    def _route(self, kind: str, req: Request, rest: str) -> tuple[int, Any]:
        m, pulls = req.method, "/merge_requests" if kind == "gitlab" else "/pulls"
        if rest == "" and m == "GET":
            name = GITLAB_PROJECT if kind == "gitlab" else GITHUB_REPO
            return 200, {"full_name": name, "path_with_namespace": name, "permissions": {"push": True}}
        if rest == pulls:
            return self._list_pulls(kind, req) if m == "GET" else self._open_pull(kind, req.body)
        if found := re.fullmatch(rf"{pulls}/(\d+)", rest):
            p = self._pull(kind, int(found.group(1)))
            if p is None:
                return 404, {"message": "Not Found"}
            if m == "GET":
                return 200, p
            if kind == "gitlab" and req.body.get("state_event") == "close" and p["state"] == "opened":
                p["state"] = "closed"
            elif kind != "gitlab" and req.body.get("state") == "closed":
                if p.get("merged"):
                    return 412, {"message": "cannot change state of this pull request, it was already merged"}
                p["state"] = "closed"
            return (201 if kind == "gitea" else 200), p
        notes = r"/merge_requests/(\d+)/notes" if kind == "gitlab" else r"/issues/(\d+)/comments"
        comment = re.fullmatch(notes, rest)
        if comment and m == "POST":
            self.comments[kind].append((int(comment.group(1)), req.body["body"]))
            return 201, {"id": len(self.comments[kind]), "body": req.body["body"]}
        if rest == "/issues":
            return self._list_issues(kind, req) if m == "GET" else self._open_issue(kind, req.body)
        if (found := re.fullmatch(r"/issues/(\d+)", rest)) and m == "GET":
            p = self._pull(kind, int(found.group(1)))
            return (200, {"number": p["number"], "state": p["state"], "closed_by": p.get("closed_by")}) if p \
                else (404, {"message": "Not Found"})
        commits = {"github": "/commits/", "gitlab": "/repository/commits/", "gitea": "/git/commits/"}[kind]
        if rest.startswith(commits) and m == "GET":
            return self._commit(kind, rest[len(commits):])
        return 404, {"message": "Not Found"}

    def _pull(self, kind: str, number: int) -> dict[str, Any] | None:
        key = "iid" if kind == "gitlab" else "number"
        return next((p for p in self.pulls[kind] if p[key] == number), None)

    def _next(self, kind: str) -> int:
        # GitHub and Gitea number issues and pull requests in one sequence; GitLab counts each apart.
        self._numbers[kind] += 1
        return self._numbers[kind]

    def _pushed(self, branch: str) -> bool:
        if self.remote is None:
            return True
        proc = subprocess.run(["git", "--git-dir", str(self.remote), "rev-parse", "--verify", "--quiet",
                               f"refs/heads/{branch}"], capture_output=True)
        return proc.returncode == 0

    def _list_pulls(self, kind: str, req: Request) -> tuple[int, Any]:
        q, pulls = req.query, self.pulls[kind]
        if kind == "github":
            owner, _, head = q.get("head", ":").partition(":")
            return 200, [p for p in pulls if p["head"]["ref"] == head and owner == GITHUB_REPO.split("/")[0]
                         and p["state"] == q.get("state", "open")
                         and p["base"]["ref"] == q.get("base", p["base"]["ref"])]
        if kind == "gitlab":
            return 200, [m for m in pulls if m["source_branch"] == q.get("source_branch")
                         and m["target_branch"] == q.get("target_branch", m["target_branch"])
                         and m["state"] == q.get("state", m["state"])]
        return 200, self._page([p for p in pulls if p["state"] == q.get("state", "open")], q)

    def _open_pull(self, kind: str, b: dict[str, Any]) -> tuple[int, Any]:
        pulls = self.pulls[kind]
        if kind == "gitlab":
            head, base, body = b["source_branch"], b["target_branch"], b["description"]
            if any(m["source_branch"] == head and m["state"] == "opened" for m in pulls):
                return 409, {"message": ["Another open merge request already exists for this source branch"]}
            if not self._pushed(head):
                return 422, {"message": ["Source branch does not exist"]}
            iid = len(pulls) + 1
            web = f"{_WEB[kind]}/{GITLAB_PROJECT}/-/merge_requests/{iid}"
            mr = {"id": 1000 + iid, "iid": iid, "web_url": web,
                  "state": "opened", "title": b["title"], "description": body, "source_branch": head,
                  "target_branch": base, "sha": "5" * 40, "merge_commit_sha": None, "merge_user": None,
                  "merged_by": None, "closed_by": None}
            pulls.append(mr)
            return 201, mr
        head, base = b["head"], b["base"]
        if any(p["head"]["ref"] == head and p["state"] == "open" for p in pulls):
            if kind == "gitea":
                return 409, {"message": f"pull request already exists for these targets [head: {head}]"}
            return 422, {"message": "Validation Failed", "errors": [
                {"resource": "PullRequest", "code": "custom",
                 "message": f"A pull request already exists for acme:{head}."}]}
        if not self._pushed(head):
            if kind == "gitea":
                return 404, {"message": f"branch {head} does not exist", "errors": []}
            return 422, {"message": "Validation Failed", "errors": [
                {"resource": "PullRequest", "field": "head", "code": "invalid"}]}
        n = self._next(kind)
        page = "pull" if kind == "github" else "pulls"
        pr = {"number": n, "html_url": f"{_WEB[kind]}/{GITHUB_REPO}/{page}/{n}",
              "state": "open", "title": b["title"], "body": b["body"], "merged": False, "merged_by": None,
              "merge_commit_sha": None, "head": {"ref": head, "sha": "0" * 40}, "base": {"ref": base},
              "user": {"login": "healloop-bot"}}
        pulls.append(pr)
        return 201, pr

    def _page(self, items: list[dict[str, Any]], q: dict[str, str]) -> list[dict[str, Any]]:
        size = int(q.get("per_page") or q.get("limit") or 30)
        page = int(q.get("page") or 1)
        newest = list(reversed(items))
        return newest[(page - 1) * size:page * size]

    def _list_issues(self, kind: str, req: Request) -> tuple[int, Any]:
        state = req.query.get("state", "open")
        found = [i for i in self.issues[kind] if i["state"] == state]
        if kind == "github":  # GitHub lists pull requests among the issues
            found += [{**p, "pull_request": {"url": p["html_url"]}} for p in self.pulls[kind]
                      if p["state"] == state]
            found.sort(key=lambda i: i["number"])
        return 200, self._page(found, req.query)

    def _assignable(self, login: str) -> bool:
        return login in (self.members if self.members is not None else set(self.accounts.values()))

    def _open_issue(self, kind: str, b: dict[str, Any]) -> tuple[int, Any]:
        if kind == "gitlab":
            ids = list(self.accounts)
            logins = list(self.accounts.values())
            # GitLab leaves out, without an error, assignees it does not know.
            assignees = [{"id": i, "username": logins[i - 100]} for i in b.get("assignee_ids") or []
                         if 0 <= i - 100 < len(ids)]
            iid = len(self.issues[kind]) + 1
            issue = {"id": 2000 + iid, "iid": iid, "web_url": f"{_WEB[kind]}/{GITLAB_PROJECT}/-/issues/{iid}",
                     "state": "opened", "title": b["title"], "description": b["description"],
                     "assignees": assignees}
            self.issues[kind].append(issue)
            return 201, issue
        for login in b.get("assignees") or []:
            if not self._assignable(login):
                if kind == "gitea":
                    return 422, {"message": f"user {login} does not have access to repository shop"}
                return 422, {"message": "Validation Failed", "errors": [
                    {"value": login, "resource": "Issue", "field": "assignees", "code": "invalid"}]}
        n = self._next(kind)
        issue = {"number": n, "html_url": f"{_WEB[kind]}/{GITHUB_REPO}/issues/{n}", "state": "open",
                 "title": b["title"], "body": b["body"],
                 "assignees": [{"login": login} for login in b.get("assignees") or []]}
        self.issues[kind].append(issue)
        return 201, issue

    def _commit(self, kind: str, sha: str) -> tuple[int, Any]:
        fmt = "--format=%H%x1f%an%x1f%ae"
        proc = subprocess.run(["git", "--git-dir", str(self.remote), "show", "-s", fmt, sha],
                              capture_output=True, text=True) if self.remote else None
        if proc is None or proc.returncode != 0:
            if kind == "github":
                return 422, {"message": f"No commit found for SHA: {sha}"}
            return 404, {"message": "404 Commit Not Found" if kind == "gitlab" else "object does not exist"}
        full, name, email = proc.stdout.strip().split("\x1f")
        if kind == "gitlab":
            return 200, {"id": full, "author_name": name, "author_email": email}
        login = self.accounts.get(email)
        return 200, {"sha": full, "commit": {"author": {"name": name, "email": email}},
                     "author": {"login": login} if login else None}
