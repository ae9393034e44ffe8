"""Forge webhooks (GitHub, GitLab, Gitea/Forgejo) against a real server process: a merged healloop/<event
id> pull request approves its proposal (by who merged it, with the merge commit), one closed unmerged
rejects it, and a bad signature, a branch that is not a proposal or an event that is not proposed change
nothing (issue 12)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from tests.queue.test_api_proposals import _propose
from tests.support import QueueServer

SECRET = "hook-secret-1"


def github_closed(branch: str, *, merged: bool, number: int = 7, by: str = "octocat",
                  sha: str = "9f3c2a1b" * 5) -> dict[str, Any]:
    """The parts of GitHub's pull_request "closed" delivery that matter, as GitHub sends them."""
    return {
        "action": "closed", "number": number,
        "pull_request": {
            "number": number, "html_url": f"https://github.example/acme/shop/pull/{number}",
            "state": "closed",
            "merged": merged, "merge_commit_sha": sha, "merged_by": {"login": by} if merged else None,
            "head": {"ref": branch, "sha": "1" * 40}, "base": {"ref": "main"}, "user": {"login": "bot"},
        },
        "sender": {"login": by},
        "repository": {"full_name": "acme/shop"},
    }


def send_github(c: httpx.Client, payload: dict[str, Any], *, secret: str | None = SECRET,
                event: str = "pull_request") -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "Content-Type": "application/json"}
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    return c.post("/v1/ingest/github", content=body, headers=headers)


def send_gitlab(c: httpx.Client, branch: str, action: str, *, token: str = SECRET,
                by: str = "maria") -> httpx.Response:
    payload = {
        "object_kind": "merge_request", "event_type": "merge_request", "user": {"username": by},
        "project": {"path_with_namespace": "acme/web/shop"},
        "object_attributes": {
            "iid": 4, "url": "https://gitlab.example/acme/web/shop/-/merge_requests/4",
            "source_branch": branch, "target_branch": "main", "action": action,
            "state": "merged" if action == "merge" else "closed",
            "merge_commit_sha": "ab12" * 10 if action == "merge" else None,
            "last_commit": {"id": "cd34" * 10},
        },
    }
    return c.post("/v1/ingest/gitlab", json=payload,
                  headers={"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": token})


def send_gitea(c: httpx.Client, payload: dict[str, Any], *, secret: str | None = SECRET,
               event: str = "pull_request", forgejo: bool = False) -> httpx.Response:
    """As Gitea delivers it: X-Gitea-Event, and the hex HMAC-SHA256 of the body (no prefix); Forgejo
    names both headers X-Forgejo-*."""
    body = json.dumps(payload).encode()
    name = "Forgejo" if forgejo else "Gitea"
    headers = {f"X-{name}-Event": event, "Content-Type": "application/json"}
    if secret is not None:
        headers[f"X-{name}-Signature"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return c.post("/v1/ingest/gitea", content=body, headers=headers)


def test_a_merged_pull_request_resolves_its_proposal_with_who_and_the_merge_commit(make_server) -> None:  # type: ignore[no-untyped-def]
    server: QueueServer = make_server("--forge-secret", SECRET, token="queue-token")
    with server.client() as c, httpx.Client(base_url=server.url, timeout=30) as hook:
        eid, _ = _propose(c)
        # The forge sends no bearer token: the signature stands in for it on this route only.
        r = send_github(hook, github_closed(f"healloop/{eid}", merged=True))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "resolved"
        step = c.get(f"/v1/events/{eid}").json()["history"][-1]
        assert (step["from"], step["to"]) == ("proposed", "resolved")
        assert step["note"] == "fix approved by octocat: pull request #7 merged on github"
        assert step["data"]["commit"] == {"sha": "9f3c2a1b" * 5} and step["data"]["by"] == "octocat"
        assert step["data"]["pull_request"] == {"forge": "github", "number": 7,
                                                "url": "https://github.example/acme/shop/pull/7"}
        # Redelivered: the event is no longer proposed, nothing changes.
        resolved = c.get(f"/v1/events/{eid}").json()
        again = send_github(hook, github_closed(f"healloop/{eid}", merged=True))
        assert again.status_code == 409 and "only a proposed fix" in again.json()["message"]
        assert c.get(f"/v1/events/{eid}").json() == resolved
        assert hook.get("/v1/events").status_code == 401  # the other routes still need the token


def test_a_pull_request_closed_unmerged_rejects_its_proposal(make_server) -> None:  # type: ignore[no-untyped-def]
    server: QueueServer = make_server("--forge-secret", SECRET)
    with server.client() as c:
        eid, _ = _propose(c)
        r = send_github(c, github_closed(f"healloop/{eid}", merged=False, by="qa-lead"))
        assert r.status_code == 200 and r.json()["status"] == "escalated"
        step = c.get(f"/v1/events/{eid}").json()["history"][-1]
        assert step["note"] == "fix rejected by qa-lead: pull request closed without merging"
        assert step["data"]["decision"] == "rejected" and "commit" not in step["data"]


def test_gitlab_merge_and_close_decide_proposals(make_server) -> None:  # type: ignore[no-untyped-def]
    server: QueueServer = make_server("--forge-secret", SECRET)
    with server.client() as c:
        merged, _ = _propose(c, 1)
        closed, _ = _propose(c, 2)
        assert send_gitlab(c, f"healloop/{merged}", "merge", token="wrong").status_code == 401
        assert c.get(f"/v1/events/{merged}").json()["status"] == "proposed"
        r = send_gitlab(c, f"healloop/{merged}", "merge")
        assert r.status_code == 200 and r.json()["status"] == "resolved"
        step = c.get(f"/v1/events/{merged}").json()["history"][-1]
        assert step["note"] == "fix approved by maria: pull request #4 merged on gitlab"
        assert step["data"]["commit"] == {"sha": "ab12" * 10}
        r = send_gitlab(c, f"healloop/{closed}", "close", by="lee")
        assert r.status_code == 200 and r.json()["status"] == "escalated"
        assert c.get(f"/v1/events/{closed}").json()["history"][-1]["note"] == (
            "fix rejected by lee: pull request closed without merging")
        ignored = send_gitlab(c, f"healloop/{closed}", "open")
        assert ignored.status_code == 200 and "only merge and close" in ignored.json()["ignored"]


def test_bad_signatures_and_deliveries_that_are_not_proposals_change_nothing(make_server) -> None:  # type: ignore[no-untyped-def]
    server: QueueServer = make_server("--forge-secret", SECRET)
    with server.client() as c:
        eid, _ = _propose(c)
        before = c.get(f"/v1/events/{eid}").json()
        payload = github_closed(f"healloop/{eid}", merged=True)
        for secret in (None, "another-secret"):
            r = send_github(c, payload, secret=secret)
            assert r.status_code == 401 and "X-Hub-Signature-256" in r.json()["message"]
        r = send_github(c, github_closed("feature/login", merged=True))  # a person's own pull request
        assert r.status_code == 200 and "'feature/login' is not a healloop proposal" in r.json()["ignored"]
        r = send_github(c, github_closed("healloop/evt_00000000000000000000000000", merged=True))
        assert r.status_code == 404 and "names no event here" in r.json()["message"]
        held = c.post("/v1/events", json={"node": "node-a", "source": "cypress", "spec": "s.cy.js",
                                          "test": "held", "message": "boom"}).json()["id"]
        r = send_github(c, github_closed(f"healloop/{held}", merged=True))
        assert r.status_code == 409 and "is queued; only a proposed fix" in r.json()["message"]
        # GitHub pings a new hook and sends other actions: answered 200, ignored.
        ping = send_github(c, {"zen": "Keep it logically awesome.", "hook_id": 1}, event="ping")
        assert ping.status_code == 200 and "ignored" in ping.json()
        opened = send_github(c, {**payload, "action": "opened"})
        assert opened.status_code == 200 and "only closed ones" in opened.json()["ignored"]
        assert c.get(f"/v1/events/{eid}").json() == before


def test_without_a_forge_secret_the_hooks_need_the_bearer_token(make_server) -> None:  # type: ignore[no-untyped-def]
    server: QueueServer = make_server(token="queue-token")
    with server.client() as c, httpx.Client(base_url=server.url, timeout=30) as hook:
        eid, _ = _propose(c)
        payload = github_closed(f"healloop/{eid}", merged=True)
        assert send_github(hook, payload, secret=None).status_code == 401
        r = send_github(c, payload, secret=None)
        assert r.status_code == 200 and r.json()["status"] == "resolved"


def test_gitea_and_forgejo_merge_and_close_decide_proposals(make_server) -> None:  # type: ignore[no-untyped-def]
    server: QueueServer = make_server("--forge-secret", SECRET, token="queue-token")
    with server.client() as c, httpx.Client(base_url=server.url, timeout=30) as hook:
        merged, _ = _propose(c, 1)
        closed, _ = _propose(c, 2)
        # Gitea's payload has GitHub's shape; its sender, merged_by and merge_commit_sha are the same keys.
        payload = github_closed(f"healloop/{merged}", merged=True, number=3, by="gitea-admin",
                                sha="ef56" * 10)
        for secret in (None, "another-secret"):
            r = send_gitea(hook, payload, secret=secret)
            assert r.status_code == 401 and "X-Gitea-Signature" in r.json()["message"]
        assert c.get(f"/v1/events/{merged}").json()["status"] == "proposed"
        r = send_gitea(hook, payload)
        assert r.status_code == 200 and r.json()["status"] == "resolved", r.text
        step = c.get(f"/v1/events/{merged}").json()["history"][-1]
        assert step["note"] == "fix approved by gitea-admin: pull request #3 merged on gitea"
        assert step["data"]["commit"] == {"sha": "ef56" * 10}
        assert step["data"]["pull_request"]["forge"] == "gitea"
        r = send_gitea(hook, github_closed(f"healloop/{closed}", merged=False, by="lee"), forgejo=True)
        assert r.status_code == 200 and r.json()["status"] == "escalated"
        assert c.get(f"/v1/events/{closed}").json()["history"][-1]["note"] == (
            "fix rejected by lee: pull request closed without merging")
        opened = send_gitea(hook, {**payload, "action": "opened"})
        assert opened.status_code == 200 and "only closed ones" in opened.json()["ignored"]
        pushed = send_gitea(hook, {"ref": "refs/heads/main"}, event="push")
        assert pushed.status_code == 200 and "only pull_request events" in pushed.json()["ignored"]


def test_a_webhook_body_nested_thousands_deep_gets_400(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    deep = b'{"action": "closed", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with server.client() as c:
        for forge, event in (("github", {"x-github-event": "pull_request"}),
                             ("gitlab", {"x-gitlab-event": "Merge Request Hook"})):
            r = c.post(f"/v1/ingest/{forge}", content=deep,
                       headers={"content-type": "application/json", **event})
            assert r.status_code == 400 and "too deeply" in r.json()["message"], (forge, r.text)
