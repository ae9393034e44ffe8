"""A fake forge: a real HTTP server on 127.0.0.1 that speaks the GitHub and GitLab REST calls healloop
makes (list and open pull requests / merge requests), checks the token, keeps what was opened, records
every request, and answers with the JSON the real APIs give (number or iid, html_url or web_url, state,
head.ref / source_branch, base.ref / target_branch). With ``remote`` (a bare git repository) it refuses
a pull request whose branch was not pushed there, as GitHub does."""

from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

GITHUB_REPO = "acme/shop"
GITLAB_PROJECT = "acme/web/shop"


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
    requests: list[Request] = field(default_factory=list)
    pulls: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"github": [], "gitlab": []})
    url: str = ""

    def __enter__(self) -> FakeForge:
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                forge._handle(self, "GET")

            def do_POST(self) -> None:
                forge._handle(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    @property
    def github_api(self) -> str:
        return self.url

    @property
    def gitlab_api(self) -> str:
        return f"{self.url}/api/v4"

    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

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
        github = f"/repos/{GITHUB_REPO}/pulls"
        gitlab = "/api/v4/projects/" + GITLAB_PROJECT.replace("/", "%2F") + "/merge_requests"
        if req.path == github:
            if req.headers.get("authorization") != f"Bearer {self.token}":
                return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
            return self._github(req)
        if req.path == gitlab:
            if req.headers.get("private-token") != self.token:
                return 401, {"message": "401 Unauthorized"}
            return self._gitlab(req)
        if req.path.startswith("/api/v4/"):
            return 404, {"message": "404 Project Not Found"}
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}

    def _pushed(self, branch: str) -> bool:
        if self.remote is None:
            return True
        proc = subprocess.run(["git", "--git-dir", str(self.remote), "rev-parse", "--verify", "--quiet",
                               f"refs/heads/{branch}"], capture_output=True)
        return proc.returncode == 0

    def _github(self, req: Request) -> tuple[int, Any]:
        pulls = self.pulls["github"]
        if req.method == "GET":
            owner, _, head = req.query.get("head", ":").partition(":")
            return 200, [p for p in pulls if p["head"]["ref"] == head and owner == GITHUB_REPO.split("/")[0]
                         and p["state"] == req.query.get("state", "open")
                         and p["base"]["ref"] == req.query.get("base", p["base"]["ref"])]
        b = req.body
        if any(p["head"]["ref"] == b["head"] and p["state"] == "open" for p in pulls):
            return 422, {"message": "Validation Failed", "errors": [
                {"resource": "PullRequest", "code": "custom",
                 "message": f"A pull request already exists for acme:{b['head']}."}]}
        if not self._pushed(b["head"]):
            return 422, {"message": "Validation Failed", "errors": [
                {"resource": "PullRequest", "field": "head", "code": "invalid"}]}
        n = len(pulls) + 1
        pr = {"number": n, "html_url": f"https://github.example/{GITHUB_REPO}/pull/{n}", "state": "open",
              "title": b["title"], "body": b["body"], "merged": False,
              "head": {"ref": b["head"], "sha": "0" * 40}, "base": {"ref": b["base"]},
              "user": {"login": "healloop-bot"}}
        pulls.append(pr)
        return 201, pr

    def _gitlab(self, req: Request) -> tuple[int, Any]:
        mrs = self.pulls["gitlab"]
        if req.method == "GET":
            q = req.query
            return 200, [m for m in mrs if m["source_branch"] == q.get("source_branch")
                         and m["target_branch"] == q.get("target_branch", m["target_branch"])
                         and m["state"] == q.get("state", m["state"])]
        b = req.body
        if any(m["source_branch"] == b["source_branch"] and m["state"] == "opened" for m in mrs):
            return 409, {"message": ["Another open merge request already exists for this source branch: !1"]}
        if not self._pushed(b["source_branch"]):
            return 422, {"message": ["Source branch does not exist"]}
        iid = len(mrs) + 1
        web = f"https://gitlab.example/{GITLAB_PROJECT}/-/merge_requests/{iid}"
        mr = {"id": 1000 + iid, "iid": iid, "web_url": web,
              "state": "opened", "title": b["title"], "description": b["description"],
              "source_branch": b["source_branch"], "target_branch": b["target_branch"]}
        mrs.append(mr)
        return 201, mr
