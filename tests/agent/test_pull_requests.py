"""`[node.git] pull_requests` end to end with a real queue, node, agent, a bare git remote and a fake
forge: a verified heal is proposed, its branch pushed, one pull request opened with the report, and the
forge's "merged" webhook resolves the event; deciding on the CLI closes the pull request with a comment
and deletes its pushed branch, and a forge that is down does not lose the decision (issue 12)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.agent.conftest import TOKEN_ENV, Made, Workspace, git, last_step, proposed, rename
from tests.agent.test_approval import DOM, _cli
from tests.forge.fake import GITHUB_REPO, FakeForge
from tests.queue.test_api_forge_hooks import SECRET, github_closed, send_github
from tests.support import wait_until


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


def test_approving_on_the_cli_closes_the_pull_request_with_a_comment_and_deletes_its_branch(
    forge_ws: Callable[..., Made]
) -> None:
    ws, forge, remote = forge_ws("gitea")
    rename(ws, "apple")
    [event_id] = proposed(ws, "apple")
    branch = f"healloop/{event_id}"
    [pr] = forge.pulls["gitea"]
    assert pr["head"]["ref"] == branch and git(remote, "branch", "--list", branch).strip() == branch

    run = _cli(ws, "approve", event_id, "--by", "qa-lead")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "pull request #1 closed on gitea with a comment; its branch was deleted on origin" in run.stdout
    landed = git(ws.repo, "rev-parse", "main").strip()
    # The forge: one comment saying who decided what, the pull request closed, its branch gone.
    said = (f"healloop: approved by qa-lead with `healloop approve`, landed as {landed} on node `node-a` "
            "(not pushed). The fix is in; this pull request is closed unmerged.")
    assert forge.comments["gitea"] == [(1, said)]
    assert pr["state"] == "closed" and git(remote, "branch", "--list", "healloop/*").strip() == ""
    step = last_step(ws, event_id)
    assert step["status"] == "resolved" and step["data"]["commit"] == {"sha": landed}
    assert step["data"]["pull_request"] == {"forge": "gitea", "number": 1, "url": pr["html_url"],
                                            "state": "open"}


def test_rejecting_closes_the_pull_request_and_a_forge_that_is_down_loses_no_decision(
    forge_ws: Callable[..., Made]
) -> None:
    ws, forge, remote = forge_ws("gitlab")
    rename(ws, "banana")
    rename(ws, "cherry")
    rejected, approved = proposed(ws, "banana", "cherry")
    mrs = {m["source_branch"]: m for m in forge.pulls["gitlab"]}
    assert set(mrs) == {f"healloop/{rejected}", f"healloop/{approved}"}

    run = _cli(ws, "reject", rejected, "--by", "qa-lead", "--reason", "wrong button")
    assert run.returncode == 0, run.stdout + run.stderr
    number = mrs[f"healloop/{rejected}"]["iid"]
    said = ("healloop: rejected by qa-lead with `healloop reject`: wrong button. The fix is not landed; the "
            "event is escalated.")
    assert forge.comments["gitlab"] == [(number, said)]
    assert mrs[f"healloop/{rejected}"]["state"] == "closed"
    assert git(remote, "branch", "--list", f"healloop/{rejected}").strip() == ""
    assert last_step(ws, rejected)["status"] == "escalated"

    # The forge goes down: the approval is landed and recorded all the same, with what the forge said.
    forge.stop()
    head = git(ws.repo, "rev-parse", "main").strip()
    run = _cli(ws, "approve", approved, "--by", "qa-lead")
    assert run.returncode == 0, run.stdout + run.stderr
    assert git(ws.repo, "rev-list", "--count", f"{head}..main").strip() == "1"
    assert f"{approved} is resolved" in run.stdout
    assert "was not closed: forge_pull_request_status: cannot reach gitlab at" in run.stdout
    assert "close it by hand" in run.stdout
    step = last_step(ws, approved)
    assert step["status"] == "resolved" and step["note"] == "fix approved by qa-lead"
    about = step["data"]["pull_request"]
    assert about["number"] == mrs[f"healloop/{approved}"]["iid"] and "state" not in about
    assert about["error"].startswith("forge_pull_request_status: cannot reach gitlab at http://127.0.0.1:")
    # The pushed branch is git's, not the forge's API's: it is deleted all the same.
    assert git(remote, "branch", "--list", "healloop/*").strip() == ""
