"""File tools and the sandbox, through a real MCP client over streamable HTTP."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import anyio
import pytest

from tests.node.conftest import make_node
from tests.node.helpers import ok, refused

pytestmark = pytest.mark.anyio


async def test_read_list_search(node):
    async with node.http_client() as c:
        got = await ok(c, "read_file", path="src/app.py", start_line=4, end_line=5)
        assert got["content"] == 'def greet(name):\n    return f"{GREETING} {name}"\n'
        assert got["total_lines"] == 5
        listed = await ok(c, "list_files", pattern="*.py")
        assert set(listed["files"]) >= {"src/app.py", "tests/test_sample.py"}
        assert not any(f.startswith(".git/") for f in (await ok(c, "list_files"))["files"])
        found = await ok(c, "search_text", pattern=r"GREETING\b", path="src")
        assert [(m["path"], m["line"]) for m in found["matches"]] == [("src/app.py", 1), ("src/app.py", 5)]
        # A literal (what re.escape makes) is searched in the node's process; the same matches.
        literal = await ok(c, "search_text", pattern=re.escape('f"{GREETING} {name}"'), path="src")
        assert [(m["path"], m["line"]) for m in literal["matches"]] == [("src/app.py", 5)]
        assert "not a valid regular expression" in await refused(c, "search_text", pattern="(")
        assert "does not exist" in await refused(c, "read_file", path="nope.txt")


def _children(pid: int) -> list[str]:
    """Command lines of the live child processes of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(FileNotFoundError):
                found.append(Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode())
    return found


async def test_a_pattern_that_backtracks_for_hours_is_stopped_at_the_limit(tmp_path):
    """`(a+)+$` on a line of 40 a's and a '!' backtracks 2^40 times: hours in `re`. The node's search
    is stopped at `search_timeout`, said so, and the node goes on answering."""
    node = make_node(tmp_path, token=None)
    node.config.write_text(node.config.read_text().replace("[node]\n", "[node]\nsearch_timeout = 1\n", 1))
    (node.repo / "src" / "aaa.txt").write_text("a" * 40 + "!\n")
    node.start()
    try:
        async with node.http_client() as c:
            msg = await refused(c, "search_text", pattern="(a+)+$", path="src")
            assert msg.startswith(
                "invalid_input: `pattern` '(a+)+$' did not finish within the node's limit of 1 s per search;"
            ), msg
            assert "simplify the pattern, or search a narrower `path`" in msg
            assert not [p for p in _children(node.proc.pid) if "search_child" in p]  # killed, not left
            found = await ok(c, "search_text", pattern=r"GREETING\b", path="src")
            assert [m["line"] for m in found["matches"]] == [1, 5]
            too_long = await refused(c, "search_text", pattern="a" * 1001)
            assert "`pattern` is 1001 characters, over the limit of 1000" in too_long
    finally:
        node.stop()


async def test_edit_file_diff_dry_run_and_idempotent(node):
    (node.repo / "edit_me.txt").write_text("alpha\nbeta\ngamma\n")
    async with node.http_client() as c:
        edit = {
            "path": "edit_me.txt",
            "edits": [{"old_text": "beta", "new_text": "BETA"}],
            "event_id": "evt_e1",
        }
        dry = await ok(c, "edit_file", **edit, dry_run=True)
        assert "-beta\n+BETA" in dry["diff"] and not dry["changed"]
        assert (node.repo / "edit_me.txt").read_text() == "alpha\nbeta\ngamma\n"
        first = await ok(c, "edit_file", **edit)
        assert first["changed"] and first["applied"] == 1 and "-beta\n+BETA" in first["diff"]
        second = await ok(c, "edit_file", **edit)
        assert not second["changed"] and second["already_applied"] == 1
        assert "already in place" in second["message"] and second["diff"] == ""
        assert (node.repo / "edit_me.txt").read_text() == "alpha\nBETA\ngamma\n"
        # An insertion whose new_text contains old_text must not be applied twice either. (Same event:
        # evt_e1 owns the file until it commits or discards; see test_journal.py.)
        grow = {
            "path": "edit_me.txt",
            "edits": [{"old_text": "gamma\n", "new_text": "gamma\ndelta\n"}],
            "event_id": "evt_e1",
        }
        assert (await ok(c, "edit_file", **grow))["changed"]
        assert not (await ok(c, "edit_file", **grow))["changed"]
        assert (node.repo / "edit_me.txt").read_text() == "alpha\nBETA\ngamma\ndelta\n"


async def test_edit_file_refuses_absent_ambiguous_and_bad_arguments(node):
    (node.repo / "dup.txt").write_text("x = 1\nx = 1\n")
    async with node.http_client() as c:
        msg = await refused(
            c, "edit_file", path="dup.txt", edits=[{"old_text": "x = 1", "new_text": "x = 2"}]
        )
        assert "occurs 2 times" in msg
        msg = await refused(
            c, "edit_file", path="dup.txt", edits=[{"old_text": "y = 1", "new_text": "y = 2"}]
        )
        assert "was not found" in msg
        # Open-ended extra keys are rejected by the schema, not ignored.
        await refused(c, "edit_file", path="dup.txt", edits=[{"old_text": "x", "new_text": "y", "extra": 1}])
        await refused(
            c, "edit_file", path="dup.txt", edits=[{"old_text": "x = 1", "new_text": "z"}], event_id="bad id"
        )
    assert (node.repo / "dup.txt").read_text() == "x = 1\nx = 1\n"


async def test_write_file_creates_and_replaces(node):
    async with node.http_client() as c:
        made = await ok(c, "write_file", path="new/dir/file.txt", content="one\n", event_id="evt_w")
        assert made["created"] and made["changed"]
        again = await ok(c, "write_file", path="new/dir/file.txt", content="one\n", event_id="evt_w")
        assert not again["created"] and not again["changed"]
        # Until evt_w commits or discards, the file is its own, even for a call that changes nothing.
        assert "event evt_w" in await refused(c, "write_file", path="new/dir/file.txt", content="one\n")
    assert (node.repo / "new/dir/file.txt").read_text() == "one\n"
    assert not [p for p in (node.repo / "new/dir").iterdir() if p.name.endswith(".healloop-tmp")]


async def test_sandbox_refuses_escapes(node, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret\n")
    os.symlink(outside, node.repo / "link_to_secret")
    os.symlink(tmp_path, node.repo / "link_dir")
    async with node.http_client() as c:
        for path in (
            "../healloop.toml",
            "src/../../healloop.toml",
            str(outside),
            "link_to_secret",
            "link_dir/secret.txt",
        ):
            msg = await refused(c, "read_file", path=path)
            assert "outside the workspace" in msg or "absolute" in msg, msg
        for path in ("../evil.txt", "link_dir/new.txt", "link_to_secret", "/tmp/evil.txt"):
            await refused(c, "write_file", path=path, content="pwned")
        msg = await refused(
            c, "edit_file", path="link_to_secret", edits=[{"old_text": "top", "new_text": "x"}]
        )
        assert "outside the workspace" in msg
        for path in (".git/config", ".git/hooks/pre-commit", "src/../.git/HEAD", ".GIT/hooks/pre-commit"):
            assert "git internals" in await refused(c, "write_file", path=path, content="x")
        # healloop's own data in the repository (`healloop init` puts it in .healloop/): never written.
        for path in (".healloop/events.db", ".healloop/node/journal/x", "app/.Healloop/notes"):
            assert "healloop's own data" in await refused(c, "write_file", path=path, content="x")
        assert "outside the workspace" in await refused(c, "list_files", path="link_dir")
        assert "outside" in await refused(c, "search_text", pattern="secret", path="link_dir")
        # Listing the workspace shows the symlinked directory's name but never walks into it.
        assert not any("secret.txt" in f for f in (await ok(c, "list_files"))["files"])
    assert outside.read_text() == "top secret\n"
    assert not (tmp_path / "new.txt").exists()


async def test_a_hard_link_to_a_file_outside_is_neither_read_nor_written(node, tmp_path):
    """A hard link passes every path check (its path is inside); its link count gives it away."""
    outside = tmp_path / "id_rsa"
    outside.write_text("PRIVATE KEY\n")
    links = [node.repo / "notes.txt", node.repo / "src" / "key.txt"]
    for link in links:
        os.link(outside, link)
    (node.repo / "plain.txt").write_text("PRIVATE plain\n")
    try:
        async with node.http_client() as c:
            for tool, args in (
                ("read_file", {"path": "notes.txt"}),
                ("write_file", {"path": "notes.txt", "content": "pwned\n"}),
                ("edit_file", {"path": "src/key.txt", "edits": [{"old_text": "KEY", "new_text": "x"}]}),
                ("search_text", {"pattern": "PRIVATE", "path": "notes.txt"}),
            ):
                msg = await refused(c, tool, **args)
                assert "3 hard links" in msg and "outside the workspace" in msg, (tool, msg)
                assert "PRIVATE KEY" not in msg
            # A search of the whole workspace passes over them, as over symlinks.
            found = await ok(c, "search_text", pattern="PRIVATE")
            assert [m["path"] for m in found["matches"]] == ["plain.txt"]
            # Ordinary files and git's own operations go on as before.
            assert (await ok(c, "read_file", path="plain.txt"))["content"] == "PRIVATE plain\n"
            edit = [{"old_text": "PRIVATE plain", "new_text": "public plain"}]
            await ok(c, "edit_file", path="plain.txt", edits=edit, event_id="evt_hardlink")
            assert "notes.txt" in str(await ok(c, "git_status"))
            committed = await ok(c, "git_commit", message="plain: made public", event_id="evt_hardlink",
                                 paths=["plain.txt"])
            assert committed["sha"]
    finally:
        for link in links:
            link.unlink()
    assert outside.read_text() == "PRIVATE KEY\n" and outside.stat().st_nlink == 1


async def test_size_limit(node):
    (node.repo / "big.txt").write_text("x" * 200_000)
    async with node.http_client() as c:
        assert "over the node's limit" in await refused(c, "read_file", path="big.txt")
        assert "over the node's limit" in await refused(
            c, "write_file", path="huge.txt", content="y" * 200_000
        )


async def test_two_clients_editing_one_file_at_once(node):
    """Each client rewrites a different line of the same file many times; no update may be lost."""
    lines = [f"line{i} = 0\n" for i in range(20)]
    (node.repo / "shared.txt").write_text("".join(lines))

    async def worker(first: int) -> None:
        async with node.http_client() as c:
            for i in range(first, 20, 2):
                await ok(
                    c,
                    "edit_file",
                    path="shared.txt",
                    edits=[{"old_text": f"line{i} = 0", "new_text": f"line{i} = 1"}],
                )

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, 0)
        tg.start_soon(worker, 1)
    assert (node.repo / "shared.txt").read_text() == "".join(f"line{i} = 1\n" for i in range(20))
