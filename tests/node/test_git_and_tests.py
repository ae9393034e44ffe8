"""Git tools against a real repository and run_test with the pytest adapter, over streamable HTTP."""

from __future__ import annotations

import anyio
import pytest

from tests.node.conftest import git, make_node
from tests.node.helpers import ok, refused

pytestmark = pytest.mark.anyio


async def test_status_diff_commit_twice_and_log(node):
    async with node.http_client() as c:
        await ok(c, "edit_file", path="src/app.py", edits=[{"old_text": '"hello"', "new_text": '"hi"'}])
        status = await ok(c, "git_status")
        assert (
            status["branch"].startswith("main")
            and {"path": "src/app.py", "index": "", "worktree": "M"} in status["files"]
        )
        diff = await ok(c, "git_diff")
        assert diff["files"] == ["src/app.py"] and '-GREETING = "hello"' in diff["diff"]
        first = await ok(c, "git_commit", message="Shorter greeting", event_id="evt_c1", paths=["src/app.py"])
        assert not first["already_committed"] and first["files"] == ["src/app.py"]
        assert first["message"].endswith("Healloop-Event: evt_c1")
        again = await ok(c, "git_commit", message="Shorter greeting", event_id="evt_c1", paths=["src/app.py"])
        assert again["already_committed"] and again["sha"] == first["sha"]
        assert git(node.repo, "rev-parse", "HEAD").strip() == first["sha"]
        assert git(node.repo, "rev-list", "--count", "HEAD").strip() == "2"
        log = await ok(c, "git_log", path="src/app.py", max_count=5)
        assert [e["subject"] for e in log["commits"]] == ["Shorter greeting", "initial"]
        shown = await ok(c, "git_show", revision=first["sha"])
        assert shown["files"] == ["src/app.py"] and '+GREETING = "hi"' in shown["diff"]
        assert "nothing to commit" in await refused(c, "git_commit", message="x", event_id="evt_none")
        assert "not a commit" in await refused(c, "git_show", revision="no-such-branch")
        assert "must be a commit" in await refused(c, "git_show", revision="--output=/tmp/x")
        assert "required" in await refused(c, "git_commit", message="x", event_id="")


async def test_revert_twice_and_push(node):
    async with node.http_client() as c:
        await ok(c, "write_file", path="feature.txt", content="feature\n")
        made = await ok(c, "git_commit", message="Add feature", event_id="evt_r0")
        revert = await ok(c, "git_revert", revision=made["sha"], event_id="evt_r1")
        assert revert["subject"] == 'Revert "Add feature"' and not revert["already_committed"]
        assert not (node.repo / "feature.txt").exists()
        again = await ok(c, "git_revert", revision=made["sha"], event_id="evt_r1")
        assert again["already_committed"] and again["sha"] == revert["sha"]
        # A revert that does not apply cleanly is refused and leaves the tree as it was.
        await ok(c, "write_file", path="conflict.txt", content="v1\n")
        v1 = await ok(c, "git_commit", message="v1", event_id="evt_r2")
        await ok(c, "write_file", path="conflict.txt", content="v2\n")
        await ok(c, "git_commit", message="v2", event_id="evt_r3")
        await ok(c, "write_file", path="conflict.txt", content="v3\n")
        await ok(c, "git_commit", message="v3", event_id="evt_r4")
        assert "cannot revert" in await refused(c, "git_revert", revision=v1["sha"], event_id="evt_r5")
        assert (await ok(c, "git_status"))["clean"]
        assert "1-500" in await refused(c, "git_log", max_count=0)
        assert "must be a commit" in await refused(c, "git_diff", ref="--no-index")
        assert "git diff failed" in await refused(c, "git_diff", ref="no-such-ref")
        pushed = await ok(c, "git_push")
        assert pushed["branch"] == "healed" and pushed["remote"] == "origin"
        remote_head = git(node.root / "remote.git", "rev-parse", "refs/heads/healed").strip()
        assert remote_head == pushed["sha"] == git(node.repo, "rev-parse", "HEAD").strip()


async def test_revert_on_a_healloop_branch(node):
    async with node.http_client() as c:
        await ok(c, "write_file", path="feature.txt", content="feature\n")
        made = await ok(c, "git_commit", message="Add feature", event_id="evt_b0")
        for bad in ("main", "healloop/", "feature/x", "healloop/../main", "healloop/a b", "healloop/x.lock"):
            assert "branch" in await refused(
                c, "git_revert", revision=made["sha"], event_id="evt_b1", branch=bad
            ), bad
        assert (await ok(c, "git_status"))["branch"].startswith("main")
        revert = await ok(
            c, "git_revert", revision=made["sha"], event_id="evt_b1", branch="healloop/revert-evt_b1"
        )
        assert revert["branch"] == "healloop/revert-evt_b1" and revert["from"] == "main"
        assert not revert["already_committed"] and revert["subject"] == 'Revert "Add feature"'
        assert git(node.repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "healloop/revert-evt_b1"
        assert git(node.repo, "rev-parse", "main").strip() == made["sha"]  # main is untouched
        assert git(node.repo, "rev-parse", "HEAD~1").strip() == made["sha"]
        assert not (node.repo / "feature.txt").exists()
        again = await ok(
            c, "git_revert", revision=made["sha"], event_id="evt_b1", branch="healloop/revert-evt_b1"
        )
        assert again["already_committed"] and again["sha"] == revert["sha"]
        # A revert that does not apply leaves HEAD on main and no branch behind.
        git(node.repo, "switch", "-q", "main")
        await ok(c, "write_file", path="feature.txt", content="changed\n")
        await ok(c, "git_commit", message="Change feature", event_id="evt_b2")
        assert "cannot revert" in await refused(
            c, "git_revert", revision=made["sha"], event_id="evt_b3", branch="healloop/revert-evt_b3"
        )
        assert git(node.repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
        assert git(node.repo, "branch", "--list", "healloop/revert-evt_b3").strip() == ""
        assert (await ok(c, "git_status"))["clean"]


async def test_a_proposal_waits_on_its_branch_then_lands_or_is_deleted(node):
    """What `[node.policy] approve` rests on: git_commit with `branch` commits beside HEAD, the working
    tree keeps the event's (journaled) change for discard_changes; git_land_branch fast-forwards or
    cherry-picks and deletes the branch; one that no longer applies is refused with nothing changed."""
    async with node.http_client() as c:
        head = git(node.repo, "rev-parse", "HEAD").strip()
        await ok(c, "write_file", path="proposal.txt", content="fix\n", event_id="evt_p1")
        for bad in ("main", "feature/x", "healloop/"):
            assert "branch" in await refused(c, "git_commit", message="Heal", event_id="evt_p1", branch=bad)
        made = await ok(c, "git_commit", message="Heal", event_id="evt_p1", branch="healloop/evt_p1")
        assert (made["branch"], made["base"], made["already_committed"]) == ("healloop/evt_p1", head, False)
        assert made["files"] == ["proposal.txt"] and made["message"].endswith("Healloop-Event: evt_p1")
        assert git(node.repo, "rev-parse", "HEAD").strip() == head
        assert git(node.repo, "rev-parse", f"{made['sha']}^").strip() == head
        assert (node.repo / "proposal.txt").read_text() == "fix\n"  # still here, still the event's
        again = await ok(c, "git_commit", message="Heal", event_id="evt_p1", branch="healloop/evt_p1")
        assert again["already_committed"] and again["sha"] == made["sha"]
        await ok(c, "discard_changes", event_id="evt_p1")
        assert not (node.repo / "proposal.txt").exists() and (await ok(c, "git_status"))["clean"]

        # The followed branch moved on meanwhile: the proposal is cherry-picked, trailer and all.
        await ok(c, "write_file", path="other.txt", content="other\n", event_id="evt_p2")
        moved = await ok(c, "git_commit", message="Other work", event_id="evt_p2")
        landed = await ok(c, "git_land_branch", branch="healloop/evt_p1", event_id="evt_p1")
        assert landed["fast_forward"] is False and not landed["already_landed"]
        [picked] = landed["landed"]
        assert picked != made["sha"] and git(node.repo, "rev-parse", "HEAD").strip() == picked
        assert git(node.repo, "rev-parse", f"{picked}^").strip() == moved["sha"]
        assert (node.repo / "proposal.txt").read_text() == "fix\n"
        assert git(node.repo, "branch", "--list", "healloop/evt_p1").strip() == ""
        twice = await ok(c, "git_land_branch", branch="healloop/evt_p1", event_id="evt_p1")
        assert twice["already_landed"] and twice["sha"] == picked

        # A proposal that no longer applies is refused; HEAD, the tree and the branch stay as they were.
        await ok(c, "write_file", path="proposal.txt", content="fix 2\n", event_id="evt_p3")
        stale = await ok(c, "git_commit", message="Heal 2", event_id="evt_p3", branch="healloop/evt_p3")
        await ok(c, "discard_changes", event_id="evt_p3")
        await ok(c, "write_file", path="proposal.txt", content="someone else\n", event_id="evt_p4")
        theirs = await ok(c, "git_commit", message="Their change", event_id="evt_p4")
        assert "no longer applies cleanly" in await refused(
            c, "git_land_branch", branch="healloop/evt_p3", event_id="evt_p3")
        assert git(node.repo, "rev-parse", "HEAD").strip() == theirs["sha"]
        assert (await ok(c, "git_status"))["clean"]
        assert git(node.repo, "rev-parse", "healloop/evt_p3").strip() == stale["sha"]
        deleted = await ok(c, "git_delete_branch", branch="healloop/evt_p3")
        assert deleted == {"branch": "healloop/evt_p3", "deleted": True, "sha": stale["sha"]}
        assert (await ok(c, "git_delete_branch", branch="healloop/evt_p3"))["deleted"] is False
        assert "branch" in await refused(c, "git_delete_branch", branch="main")
        assert "no branch healloop/evt_p9" in await refused(
            c, "git_land_branch", branch="healloop/evt_p9", event_id="evt_p9")


async def test_a_proposal_branch_is_pushed_under_its_name_and_nothing_else_is(node):
    remote = node.repo.parent / "remote.git"
    before = set(git(remote, "branch", "--list", "--format=%(refname:short)").split())
    async with node.http_client() as c:
        await ok(c, "write_file", path="proposal.txt", content="fix\n", event_id="evt_pr1")
        made = await ok(c, "git_commit", message="Heal", event_id="evt_pr1", branch="healloop/evt_pr1")
        await ok(c, "discard_changes", event_id="evt_pr1")
        pushed = await ok(c, "git_push_branch", branch="healloop/evt_pr1")
        assert pushed == {"remote": "origin", "branch": "healloop/evt_pr1", "sha": made["sha"]}
        assert git(remote, "rev-parse", "refs/heads/healloop/evt_pr1").strip() == made["sha"]
        assert (await ok(c, "git_push_branch", branch="healloop/evt_pr1"))["sha"] == made["sha"]
        assert "must start with 'healloop/'" in await refused(c, "git_push_branch", branch="main")
        missing = await refused(c, "git_push_branch", branch="healloop/evt_none")
        assert "no branch healloop/evt_none" in missing
        after = set(git(remote, "branch", "--list", "--format=%(refname:short)").split())
        assert after - before == {"healloop/evt_pr1"}
        # This node has no [node.git] pull_requests: the tool says how to turn it on.
        off = await refused(c, "forge_open_pull_request", event_id="evt_pr1", branch="healloop/evt_pr1",
                            title="t", body="b")
        assert "pull requests are off on this node: set `node.git.forge`" in off


async def test_a_decided_proposal_branch_is_deleted_here_and_on_the_remote(node):
    remote = node.repo.parent / "remote.git"
    async with node.http_client() as c:
        await ok(c, "write_file", path="decided.txt", content="fix\n", event_id="evt_rm1")
        made = await ok(c, "git_commit", message="Heal", event_id="evt_rm1", branch="healloop/evt_rm1")
        await ok(c, "discard_changes", event_id="evt_rm1")
        await ok(c, "git_push_branch", branch="healloop/evt_rm1")
        listed = (await ok(c, "git_branches"))["branches"]
        assert {"name": "healloop/evt_rm1", "sha": made["sha"]} in listed
        assert all(b["name"].startswith("healloop/") for b in listed)
        done = await ok(c, "git_delete_branch", branch="healloop/evt_rm1", remote=True)
        assert done == {"branch": "healloop/evt_rm1", "deleted": True, "sha": made["sha"],
                        "remote": {"remote": "origin", "deleted": True, "sha": made["sha"]}}
        assert git(remote, "branch", "--list", "healloop/evt_rm1").strip() == ""
        assert "healloop/evt_rm1" not in [b["name"] for b in (await ok(c, "git_branches"))["branches"]]
        again = await ok(c, "git_delete_branch", branch="healloop/evt_rm1", remote=True)
        assert again["deleted"] is False and again["remote"]["deleted"] is False
        assert "must start with 'healloop/'" in await refused(c, "git_delete_branch", branch="healed",
                                                              remote=True)
        # This node names no forge: the forge tools say how to name one.
        for tool, args in (("forge_pull_request_status", {"number": 1}),
                           ("forge_close_pull_request", {"event_id": "evt_rm1", "number": 1, "comment": "c"}),
                           ("forge_open_issue", {"event_id": "evt_rm1", "title": "t", "body": "b",
                                                 "suspect_sha": made["sha"]})):
            assert "no forge on this node" in await refused(c, tool, **args), tool


async def test_run_test_pass_fail_timeout(node):
    async with node.http_client() as c:
        passed = await ok(c, "run_test", spec="tests/test_sample.py", test="test_passes")
        assert passed["passed"] and passed["status"] == "passed" and passed["exit_code"] == 0
        failed = await ok(c, "run_test", spec="tests/test_sample.py", test="test_fails")
        assert failed["status"] == "failed" and failed["exit_code"] == 1
        assert "greeting mismatch" in failed["failure_message"] and "1 failed" in failed["output_tail"]
        slow = await ok(c, "run_test", spec="tests/test_sample.py", test="test_slow", timeout=1)
        assert slow["timed_out"] and not slow["passed"] and "timed out" in slow["failure_message"]
        assert "outside the workspace" in await refused(c, "run_test", spec="../x.py", test="t")
        assert "not starting with '-'" in await refused(
            c, "run_test", spec="tests/test_sample.py", test="--co"
        )
        assert "node's limit" in await refused(
            c, "run_test", spec="tests/test_sample.py", test="t", timeout=999
        )


async def test_run_test_turns_the_projects_reporters_off(node):
    async with node.http_client() as c:
        run = await ok(c, "run_test", spec="tests/test_sample.py", test="test_not_reported")
        assert run["passed"], run["output_tail"]


async def test_runs_wait_their_turn(node):
    marks = node.repo / "marks.log"
    marks.unlink(missing_ok=True)

    async def one() -> None:
        async with node.http_client() as c:
            assert (await ok(c, "run_test", spec="tests/test_sample.py", test="test_records"))["passed"]

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(one)
    # With runs one at a time, every start is followed by its own end before the next start.
    assert marks.read_text().split() == ["start", "end"] * 3


async def test_descriptions_never_carry_tool_output(node):
    async with node.http_client() as c:
        before = {t.name: t.description for t in (await c.list_tools()).tools}
        await ok(c, "run_test", spec="tests/test_sample.py", test="test_fails")
        await ok(c, "read_artifact", path="run.log")
        after = {t.name: t.description for t in (await c.list_tools()).tools}
    assert before == after
    assert not any("greeting mismatch" in d or "TypeError" in d for d in after.values())


async def test_pull_fast_forwards_and_push_rebases_once(tmp_path):
    """Six machines follow one branch: a node pulls what another pushed, drops its own uncommitted copy of
    the same change, refuses anything that would merge or overwrite, and a push that lost the race is
    rebased once (cleanly) or refused (conflict) with nothing changed."""
    n = make_node(tmp_path)
    n.config.write_text(n.config.read_text().replace('branch = "healed"', 'branch = "main"'))
    git(n.repo, "push", "-q", "origin", "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", "main", str(tmp_path / "remote.git"), str(other))
    git(other, "config", "user.email", "other@test.invalid")
    git(other, "config", "user.name", "other node")

    def push_from_other(path: str, text: str, message: str) -> str:
        (other / path).write_text(text)
        git(other, "commit", "-qam", message)
        git(other, "push", "-q", "origin", "main")
        return git(other, "rev-parse", "HEAD").strip()

    fixed = (n.repo / "src/app.py").read_text().replace('"hello"', '"hi"')
    upstream = push_from_other("src/app.py", fixed, "fix greeting")
    (n.repo / "src/app.py").write_text(fixed)  # the same fix, applied here before this node went down
    (n.repo / "README.md").write_text("# sample, edited here\n")  # unrelated work in progress
    async with n.stdio_client() as c:
        pulled = await ok(c, "git_pull")
        assert pulled["updated"] and pulled["after"] == upstream == git(n.repo, "rev-parse", "HEAD").strip()
        assert pulled["dropped"] == ["src/app.py"]
        assert [x["subject"] for x in pulled["commits"]] == ["fix greeting"]
        assert (n.repo / "README.md").read_text() == "# sample, edited here\n"
        assert not (await ok(c, "git_pull"))["updated"]

        push_from_other("README.md", "# sample, edited there\n", "readme there")
        assert "README.md would be overwritten" in await refused(c, "git_pull")
        assert git(n.repo, "rev-parse", "HEAD").strip() == upstream

        await ok(c, "git_commit", message="readme here", event_id="evt_p1", paths=["README.md"])
        assert "has commits that origin/main lacks" in await refused(c, "git_pull")
        mine = git(n.repo, "rev-parse", "HEAD").strip()
        assert "do not rebase cleanly" in await refused(c, "git_push")
        assert git(n.repo, "rev-parse", "HEAD").strip() == mine and (await ok(c, "git_status"))["clean"]

        git(n.repo, "reset", "-q", "--hard", upstream)
        await ok(c, "write_file", path="NOTES.md", content="notes\n")
        await ok(c, "git_commit", message="notes", event_id="evt_p2", paths=["NOTES.md"])
        pushed = await ok(c, "git_push")
        remote_head = git(tmp_path / "remote.git", "rev-parse", "refs/heads/main").strip()
        assert pushed["rebased"] and pushed["sha"] == remote_head == git(n.repo, "rev-parse", "HEAD").strip()
        subjects = git(n.repo, "log", "--format=%s", "-3").split()
        assert subjects[:4] == ["notes", "readme", "there", "fix"]
        assert (await ok(c, "git_push"))["sha"] == remote_head  # a retried push changes nothing


async def test_pull_refuses_without_a_followed_branch_or_on_another_branch(node):
    async with node.http_client() as c:
        assert "not the followed branch 'healed'" in await refused(c, "git_pull")
