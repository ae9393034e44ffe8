"""`[node.git] pull_requests` end to end with a real queue, node, agent, a bare git remote and a fake
forge: a verified heal is proposed, its branch pushed, one pull request opened with the report, and the
forge's "merged" webhook resolves the event (issue 12)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.agent.conftest import Workspace, git
from tests.agent.test_approval import DOM
from tests.forge.fake import GITHUB_REPO, FakeForge
from tests.queue.test_api_forge_hooks import SECRET, github_closed, send_github
from tests.support import wait_until

TOKEN_ENV = "HEALLOOP_TEST_FORGE_TOKEN"


def test_a_proposal_becomes_a_pull_request_whose_merge_resolves_the_event(
    make_ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    ws: Workspace = make_ws("--forge-secret", SECRET)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    git(ws.repo, "remote", "add", "origin", str(remote))
    with FakeForge(remote=remote) as forge:
        monkeypatch.setenv(TOKEN_ENV, forge.token)  # the node's environment holds the token
        ws.restart_node(f"""
            [node.git]
            remote = "origin"
            branch = "main"
            pull_requests = "github"
            api_url = "{forge.github_api}"
            repository = "{GITHUB_REPO}"
            token_env = "{TOKEN_ENV}"

            [node.policy]
            approve = ["edit"]
            """)
        ws.rename_submit_button()
        git(ws.repo, "push", "-q", "origin", "main")
        head = git(ws.repo, "rev-parse", "HEAD").strip()
        event_id = ws.report_failure("tests/test_ui.py", "test_submit", artifacts=DOM)
        ws.start_agent()
        with ws.client() as q:
            wait_until(lambda: q.get(event_id)["status"] in ("proposed", "resolved", "escalated"),
                       timeout=90, what="the agent to finish")
            event = q.get(event_id)
        assert event["status"] == "proposed", [(h["to"], h.get("note")) for h in event["history"]]
        branch = f"healloop/{event_id}"
        tip = git(ws.repo, "rev-parse", branch).strip()
        # The branch is on the remote; the followed branch there and here is untouched.
        assert git(remote, "rev-parse", f"refs/heads/{branch}").strip() == tip
        assert git(remote, "rev-parse", "refs/heads/main").strip() == head
        assert git(ws.repo, "rev-parse", "HEAD").strip() == head

        # One pull request, from the branch into main, with the report and a way back to the event.
        assert len(forge.pulls["github"]) == 1 and len(forge.posts()) == 1
        pr = forge.pulls["github"][0]
        assert (pr["head"]["ref"], pr["base"]["ref"]) == (branch, "main")
        assert pr["title"] == git(ws.repo, "show", "-s", "--format=%s", tip).strip()
        body = pr["body"]
        for part in ("### What failed", "`tests/test_ui.py::test_submit`", "Expected to find element",
                     "### The change", "- `tests/test_ui.py`", "```diff",
                     '+    assert find(page(), "[data-cy=submit-order]"', "### Verification",
                     f"healloop event: `{event_id}`"):
            assert part in body, (part, body)
        step = event["history"][-1]
        assert step["data"]["proposal"]["pull_request"] == {
            "url": pr["html_url"], "number": 1, "forge": "github", "existing": False}
        assert pr["html_url"] in step["note"]

        # The forge says it was merged: the event is resolved by the merger with the merge commit.
        with httpx.Client(base_url=ws.queue.url, timeout=30) as hook:
            r = send_github(hook, github_closed(branch, merged=True, number=1, by="octocat", sha=tip))
        assert r.status_code == 200, r.text
        with ws.client() as q:
            event = q.get(event_id)
        assert event["status"] == "resolved"
        last = event["history"][-1]
        assert last["note"] == "fix approved by octocat: pull request #1 merged on github"
        assert last["data"]["commit"] == {"sha": tip}
