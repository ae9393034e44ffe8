"""The undo journal through a real node process and the SDK's MCP client: discard restores edits and
removes created files, is idempotent, ownership between two events, a commit clears, a person's later
edit and someone's commit are left alone and reported, a revert's branch switch is undone, and a node
killed between journaling and writing."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.node.conftest import git, make_node
from tests.node.helpers import ok, refused

pytestmark = pytest.mark.anyio


def tree(repo: Path) -> dict[str, bytes]:
    """Every file of the workspace outside .git, with its bytes."""
    return {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }


def edit(path: str, old: str, new: str, event_id: str | None = None) -> dict:
    args = {"path": path, "edits": [{"old_text": old, "new_text": new}]}
    return args | ({"event_id": event_id} if event_id else {})


async def test_discard_restores_edits_removes_created_files_and_is_idempotent(node):
    (node.repo / "notes.txt").write_text("one\ntwo\n")  # untracked, there before the event
    before, status = tree(node.repo), git(node.repo, "status", "--porcelain")
    async with node.http_client() as c:
        await ok(c, "edit_file", **edit("README.md", "# sample", "# sample, healed", "evt_j1"))
        await ok(c, "edit_file", **edit("README.md", "healed", "healed twice", "evt_j1"))
        await ok(c, "edit_file", **edit("notes.txt", "two", "TWO", "evt_j1"))
        await ok(c, "write_file", path="made/deep/new.txt", content="new\n", event_id="evt_j1")
        [pending] = (await ok(c, "pending_changes"))["events"]
        assert pending["event_id"] == "evt_j1" and pending["head"] is None
        assert pending["files"] == ["README.md", "made/deep/new.txt", "notes.txt"]
        assert pending["since"] <= pending["updated"]

        undone = await ok(c, "discard_changes", event_id="evt_j1")
        assert undone["discarded"] and undone["left"] == [] and undone["head"] is None
        assert {f["path"]: f["action"] for f in undone["files"]} == {
            "README.md": "restored", "made/deep/new.txt": "removed", "notes.txt": "restored"
        }
        assert tree(node.repo) == before and not (node.repo / "made").exists()
        assert git(node.repo, "status", "--porcelain") == status
        assert (await ok(c, "pending_changes"))["events"] == []

        again = await ok(c, "discard_changes", event_id="evt_j1")
        assert not again["discarded"] and again["files"] == [] and "nothing to undo" in again["message"]
        assert "required" in await refused(c, "discard_changes", event_id="")
        assert "must be 1-128" in await refused(c, "discard_changes", event_id="../x")
    audit = [json.loads(line) for line in (node.state_dir / "audit.jsonl").read_text().splitlines()]
    assert {"discard_changes", "pending_changes"} <= {a["tool"] for a in audit}
    assert any(a["tool"] == "discard_changes" and a["event_id"] == "evt_j1" for a in audit)
    (node.repo / "notes.txt").unlink()


async def test_a_file_is_owned_by_one_event_until_it_commits(node):
    (node.repo / "owned.txt").write_text("v0\n")
    async with node.http_client() as c:
        await ok(c, "edit_file", **edit("owned.txt", "v0", "v1", "evt_a"))
        msg = await refused(c, "edit_file", **edit("owned.txt", "v1", "v2", "evt_b"))
        assert msg.startswith("file_owned: 'owned.txt' has uncommitted changes made for event evt_a")
        assert "discard_changes with event_id='evt_a'" in msg
        assert "a call without event_id" in await refused(c, "edit_file", **edit("owned.txt", "v1", "v2"))
        write = {"path": "owned.txt", "content": "v1\n", "event_id": "evt_b"}
        assert "event evt_a" in await refused(c, "write_file", **write)
        dry = await ok(c, "edit_file", **edit("owned.txt", "v1", "v2", "evt_b"), dry_run=True)
        assert "+v2" in dry["diff"]  # a dry run writes nothing, so it is not refused
        assert "evt_a" in await refused(c, "git_commit", message="b", event_id="evt_b", paths=["owned.txt"])
        assert "evt_a" in await refused(c, "git_commit", message="b", event_id="evt_b")
        assert (node.repo / "owned.txt").read_text() == "v1\n"
        await ok(c, "edit_file", **edit("owned.txt", "v1", "v1.1", "evt_a"))  # its owner goes on

        made = await ok(c, "git_commit", message="owned at v1.1", event_id="evt_a", paths=["owned.txt"])
        assert made["files"] == ["owned.txt"]
        assert (await ok(c, "pending_changes"))["events"] == []
        assert not (await ok(c, "discard_changes", event_id="evt_a"))["discarded"]  # committed: not undone
        await ok(c, "edit_file", **edit("owned.txt", "v1.1", "v2", "evt_b"))  # free for evt_b now
        undone = await ok(c, "discard_changes", event_id="evt_b")
        assert undone["files"] == [{"path": "owned.txt", "action": "restored"}]
    assert (node.repo / "owned.txt").read_text() == "v1.1\n"
    assert git(node.repo, "status", "--porcelain", "owned.txt") == ""


async def test_keep_changes_frees_the_files_and_leaves_them(node):
    (node.repo / "kept.txt").write_text("draft\n")
    async with node.http_client() as c:
        await ok(c, "edit_file", **edit("kept.txt", "draft", "final", "evt_k1"))
        kept = await ok(c, "keep_changes", event_id="evt_k1")
        assert kept["kept"] and kept["files"] == ["kept.txt"]
        assert not (await ok(c, "discard_changes", event_id="evt_k1"))["discarded"]
        await ok(c, "edit_file", **edit("kept.txt", "final", "final!", "evt_k2"))
        await ok(c, "discard_changes", event_id="evt_k2")
    assert (node.repo / "kept.txt").read_text() == "final\n"
    (node.repo / "kept.txt").unlink()


async def test_a_persons_later_edit_and_a_commit_by_someone_else_are_left_and_reported(node):
    (node.repo / "person.txt").write_text("a\n")
    git(node.repo, "add", "person.txt")
    git(node.repo, "commit", "-qm", "person.txt")
    (node.repo / "pulled.txt").write_text("old\n")
    git(node.repo, "add", "pulled.txt")
    git(node.repo, "commit", "-qm", "pulled.txt")
    async with node.http_client() as c:
        await ok(c, "edit_file", **edit("person.txt", "a", "b", "evt_p"))
        # A person in their editor, not through the node:
        (node.repo / "person.txt").write_text("b\nand a person's line\n")
        await ok(c, "edit_file", **edit("pulled.txt", "old", "new", "evt_p"))
        git(node.repo, "commit", "-qam", "someone commits the same change")  # or a pull brings it
        undone = await ok(c, "discard_changes", event_id="evt_p")
        assert undone["files"] == []
        left = {x["path"]: x["why"] for x in undone["left"]}
        assert "changed by someone else after the event's last write" in left["person.txt"]
        assert "committed by someone else" in left["pulled.txt"]
        assert (await ok(c, "pending_changes"))["events"] == []
    assert (node.repo / "person.txt").read_text() == "b\nand a person's line\n"
    assert (node.repo / "pulled.txt").read_text() == "new\n"
    assert git(node.repo, "status", "--porcelain") == ""


async def test_a_revert_branch_is_undone_back_to_the_original_branch(node):
    async with node.http_client() as c:
        await ok(c, "write_file", path="feature.txt", content="feature\n")
        made = await ok(c, "git_commit", message="Add feature", event_id="evt_rb0", paths=["feature.txt"])
        branch = "healloop/revert-evt_rb1"
        await ok(c, "git_revert", revision=made["sha"], event_id="evt_rb1", branch=branch)
        assert git(node.repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == branch
        [pending] = (await ok(c, "pending_changes"))["events"]
        assert pending["head"] == {"before": "main", "branch": branch, "created": True}
        undone = await ok(c, "discard_changes", event_id="evt_rb1")
        assert undone["head"] == {
            "branch": branch, "back_to": "main", "switched": True, "deleted": True
        }
    assert git(node.repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(node.repo, "rev-parse", "HEAD").strip() == made["sha"]
    assert git(node.repo, "branch", "--list", branch).strip() == ""
    assert (node.repo / "feature.txt").read_text() == "feature\n"


async def test_a_node_killed_between_journaling_and_writing(tmp_path, monkeypatch):
    n = make_node(tmp_path)
    original = (n.repo / "src/app.py").read_bytes()
    monkeypatch.setenv("HEALLOOP_NODE_FAILPOINT", "after_journal")
    n.start()
    try:
        with pytest.raises(Exception):  # noqa: B017 - the node dies mid-call; the SDK raises what it raises
            async with n.http_client() as c:
                await c.call_tool("edit_file", edit("src/app.py", '"hello"', '"hi"', "evt_k"))
        assert n.proc is not None and n.proc.wait(10) == -signal.SIGKILL
        assert (n.repo / "src/app.py").read_bytes() == original  # the journal came first; the write never did
        monkeypatch.delenv("HEALLOOP_NODE_FAILPOINT")
        n.start()
        async with n.http_client() as c:
            [pending] = (await ok(c, "pending_changes"))["events"]
            assert pending["event_id"] == "evt_k" and pending["files"] == ["src/app.py"]
            undone = await ok(c, "discard_changes", event_id="evt_k")
            assert undone["files"] == [{"path": "src/app.py", "action": "unchanged"}] and undone["left"] == []
            assert (await ok(c, "pending_changes"))["events"] == []
            assert (await ok(c, "edit_file", **edit("src/app.py", '"hello"', '"hi"', "evt_k")))["changed"]
            await ok(c, "discard_changes", event_id="evt_k")
        assert (n.repo / "src/app.py").read_bytes() == original
        assert git(n.repo, "status", "--porcelain") == ""
    finally:
        n.stop()
