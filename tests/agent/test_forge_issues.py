"""`[node.git] issues` end to end with a real queue, node, agent, bare remote and a fake forge: a
regression escalated with a suspect commit opens one issue, titled with the test and the reason, holding
the report and a link back, assigned to the commit's author; escalated again, the same issue is found,
not a second; a forge that is down changes nothing about the escalation (issue 12)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.agent.conftest import TOKEN_ENV, Workspace, git
from tests.forge.fake import GITHUB_REPO, FakeForge
from tests.support import wait_until


def test_an_escalated_regression_opens_one_issue_assigned_to_the_suspects_author(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    git(ws.repo, "remote", "add", "origin", str(remote))
    with FakeForge(remote=remote, accounts={"dev@test.invalid": "dev-login"}) as forge:
        monkeypatch.setenv(TOKEN_ENV, forge.token)
        # Issues need the forge, not approvals or pull requests.
        ws.restart_node(f"""
            [node.git]
            forge = "github"
            issues = true
            api_url = "{forge.github_api}"
            repository = "{GITHUB_REPO}"
            token_env = "{TOKEN_ENV}"

            [queue]
            public_url = "http://queue.example:8787"
            """)
        suspect = ws.break_pricing()
        git(ws.repo, "push", "-q", "origin", "main")  # the forge has the commit, and knows its author
        event_id = ws.report_failure("tests/test_pricing.py", "test_total")
        ws.start_agent()
        event = ws.wait_final(event_id, timeout=90)
        assert event["status"] == "escalated", [(h["to"], h.get("note")) for h in event["history"]]
        report = event["history"][-1]["data"]["report"]
        assert report["suspect_commit"]["sha"] == suspect
        [issue] = wait_until(lambda: forge.issues["github"], timeout=60, what="the issue to be opened")

        why = report["why_failed"].splitlines()[0]
        assert issue["title"] == f"tests/test_pricing.py::test_total: {why}"[:200]
        assert issue["assignees"] == [{"login": "dev-login"}]
        text = issue["body"]
        for part in ("### What failed", "`tests/test_pricing.py::test_total` on `node-a`",
                     "### Suspect commit", f"`{suspect[:10]}` pricing: add a service fee",
                     "### Likely cause", "### Why it was escalated",
                     f"healloop event: http://queue.example:8787/v1/events/{event_id}, escalated",
                     "is by dev <dev@test.invalid> (@dev-login), assigned to them",
                     f"<!-- healloop-event: {event_id} -->"):
            assert part in text, (part, text)
        assert "queue.example" not in str(event["history"][-1]["data"])  # the escalation holds no issue

        # Escalated again after a requeue: the open issue is found, not a second one opened.
        with ws.client() as q:
            q.requeue(event_id, "the fee is intended; look again")
        wait_until(lambda: "(already open)" in ws.logs(), timeout=90, what="the second escalation's issue")
        assert len(forge.issues["github"]) == 1
        assert [r.path for r in forge.posts()] == [f"/repos/{GITHUB_REPO}/issues"]

        # The forge goes down: the escalation is the same, the agent only logs it.
        forge.stop()
        with ws.client() as q:
            q.requeue(event_id, "once more")
        down = f"issue for {event_id} not opened on the forge: forge_open_issue: cannot reach github"
        wait_until(lambda: down in ws.logs(), timeout=90, what="the agent to log the forge as down")
        with ws.client() as q:
            event = q.get(event_id)
        assert event["status"] == "escalated"
        assert event["history"][-1]["data"]["report"]["suspect_commit"]["sha"] == suspect
