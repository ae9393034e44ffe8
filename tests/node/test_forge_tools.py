"""The node's forge tools against the fake forge over real HTTP, through a real node process: a pull
request read back and closed once with a comment, an escalation's issue opened once with the suspect
commit's author (read from the node's git) assigned or named, and issues off unless switched on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.forge.fake import GITEA_REPO, FakeForge
from tests.node.conftest import NodeProc, git, make_node
from tests.node.helpers import ok, refused

pytestmark = pytest.mark.anyio
TOKEN_ENV = "HEALLOOP_TEST_NODE_FORGE_TOKEN"


def forge_node(tmp_path: Path, forge: FakeForge, monkeypatch: pytest.MonkeyPatch, issues: bool) -> NodeProc:
    node = make_node(tmp_path)
    forge.remote = node.repo.parent / "remote.git"
    text = node.config.read_text().replace('branch = "healed"\n', f'''branch = "healed"
forge = "gitea"
pull_requests = true
issues = {"true" if issues else "false"}
api_url = "{forge.gitea_api}"
repository = "{GITEA_REPO}"
token_env = "{TOKEN_ENV}"
''')
    node.config.write_text(text + '\n[node.policy]\napprove = ["edit"]\n\n[queue]\npublic_url = "http://queue.example"\n')
    monkeypatch.setenv(TOKEN_ENV, forge.token)  # the node's environment holds the token
    node.start()
    return node


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    with FakeForge(accounts={"node@test.invalid": "nodey"}) as f:
        yield f


async def test_a_pull_request_is_read_and_closed_once_through_the_node(tmp_path, forge, monkeypatch):
    node = forge_node(tmp_path, forge, monkeypatch, issues=False)
    try:
        async with node.http_client() as c:
            await ok(c, "write_file", path="fix.txt", content="fix\n", event_id="evt_c1")
            await ok(c, "git_commit", message="Heal", event_id="evt_c1", branch="healloop/evt_c1")
            await ok(c, "discard_changes", event_id="evt_c1")
            await ok(c, "git_push_branch", branch="healloop/evt_c1")
            pr = await ok(c, "forge_open_pull_request", event_id="evt_c1", branch="healloop/evt_c1",
                          title="Heal", body="what failed")
            status = await ok(c, "forge_pull_request_status", number=pr["number"])
            assert (status["forge"], status["state"], status["url"]) == ("gitea", "open", pr["url"])
            done = await ok(c, "forge_close_pull_request", event_id="evt_c1", number=pr["number"],
                            comment="healloop: rejected by qa-lead: wrong button")
            assert done["closed"] is True
            assert forge.comments["gitea"] == [(pr["number"], "healloop: rejected by qa-lead: wrong button")]
            again = await ok(c, "forge_close_pull_request", event_id="evt_c1", number=pr["number"],
                             comment="healloop: rejected by qa-lead: wrong button")
            assert again["closed"] is False and len(forge.comments["gitea"]) == 1
            assert (await ok(c, "forge_pull_request_status", number=pr["number"]))["state"] == "closed"
            # Issues are a switch of their own.
            off = await refused(c, "forge_open_issue", event_id="evt_c1", title="t", body="b",
                                suspect_sha=git(node.repo, "rev-parse", "HEAD").strip())
            assert "issues are off on this node: set `node.git.issues = true`" in off
    finally:
        node.stop()


async def test_an_issue_is_opened_once_with_the_suspects_author_from_the_nodes_git(tmp_path, forge,
                                                                                   monkeypatch):
    node = forge_node(tmp_path, forge, monkeypatch, issues=True)
    try:
        unpushed = git(node.repo, "rev-parse", "HEAD").strip()  # the forge has never seen this commit
        async with node.http_client() as c:
            issue = await ok(c, "forge_open_issue", event_id="evt_i1", title="tests/t.py::test_a fails",
                             body="### Root cause\nthe report", suspect_sha=unpushed[:10])
            assert issue["suspect_sha"] == unpushed and issue["assignees"] == [] and not issue["existing"]
            assert issue["author"] == {"name": "node test", "email": "node@test.invalid", "login": None}
            text = forge.issues["gitea"][0]["body"]
            assert text.startswith("### Root cause\nthe report")
            assert "healloop event: http://queue.example/v1/events/evt_i1, escalated" in text
            assert "is by node test <node@test.invalid>; gitea knows no account for them" in text
            assert "<!-- healloop-event: evt_i1 -->" in text
            again = await ok(c, "forge_open_issue", event_id="evt_i1", title="tests/t.py::test_a fails",
                             body="### Root cause\nthe report", suspect_sha=unpushed)
            assert again["existing"] is True and again["number"] == issue["number"]
            assert len(forge.issues["gitea"]) == 1
            # Pushed, the commit is the forge's too, and its author's account is assigned.
            git(node.repo, "push", "-q", "origin", "HEAD:refs/heads/main")
            other = await ok(c, "forge_open_issue", event_id="evt_i2", title="another", body="report",
                             suspect_sha=unpushed)
            assert other["assignees"] == ["nodey"] and other["author"]["login"] == "nodey"
            assert "suspect_sha" in await refused(c, "forge_open_issue", event_id="evt_i3", title="t",
                                                  body="b", suspect_sha="HEAD~1")
    finally:
        node.stop()
