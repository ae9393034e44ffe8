"""``healloop init --vscode``: the real command in a real folder writes, merges and refuses
``.vscode/mcp.json``, and both entries it writes work as VS Code uses them: the queue entry's command
line starts ``healloop mcp queue`` against a real queue, the node entry reaches a real node."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from healloop import jsonc
from healloop.vscodeconfig import launcher
from tests.support import QueueServer, failure, wait_until

# The console script of this environment: what a user runs, so the launcher sees a real program.
HEALLOOP = str(Path(sys.executable).parent / "healloop")
BIN = str(Path(HEALLOOP).parent)
NO_HEALLOOP_PATH = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                   if p and Path(p).resolve() != Path(BIN).resolve()) or "/usr/bin:/bin"


def init(folder: Path, *args: str, path: str = NO_HEALLOOP_PATH,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    return subprocess.run([HEALLOOP, "init", *args], cwd=folder, capture_output=True, text=True, timeout=60,
                          env={**base, "PATH": path, **(env or {})})


def read(folder: Path) -> Any:
    return jsonc.parse((folder / ".vscode" / "mcp.json").read_text()).value


def resolve_inputs(value: Any, answers: dict[str, str]) -> Any:
    """``${input:ID}`` replaced by the answer given, as VS Code does when it starts a server."""
    if isinstance(value, dict):
        return {k: resolve_inputs(v, answers) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_inputs(v, answers) for v in value]
    if isinstance(value, str):
        return re.sub(r"\$\{input:([^}]+)\}", lambda m: answers[m.group(1)], value)
    return value


def test_a_fresh_folder_gets_both_servers_and_their_inputs(tmp_path: Path) -> None:
    out = init(tmp_path, "--vscode")
    assert out.returncode == 0, out.stderr
    text = (tmp_path / ".vscode" / "mcp.json").read_text()
    assert json.loads(text) == {
        "inputs": [
            {"type": "promptString", "id": "healloop-queue-token",
             "description": "healloop queue token, agent role (leave empty when the queue has no token)",
             "password": True},
            {"type": "promptString", "id": "healloop-node-token",
             "description": "healloop node token, the node's --token (leave empty when it has none)",
             "password": True},
        ],
        "servers": {
            "healloop-queue": {
                "type": "stdio",
                # healloop is not on this PATH, so the file names the program that ran.
                "command": str(Path(HEALLOOP).resolve()),
                "args": ["mcp", "queue", "--queue", "http://127.0.0.1:8787"],
                "env": {"HEALLOOP_TOKEN": "${input:healloop-queue-token}",
                        "HEALLOOP_AGENT_NODE_TOKEN": "${input:healloop-node-token}"},
            },
            "healloop-node": {
                "type": "http",
                "url": "http://127.0.0.1:8788/mcp",
                "headers": {"Authorization": "Bearer ${input:healloop-node-token}"},
            },
        },
    }
    assert text.endswith("}\n")
    assert "mcp.json: created" in out.stdout
    assert "`healloop` is not on PATH, so the queue server starts as" in out.stdout
    assert not (tmp_path / "healloop.toml").exists() and not (tmp_path / ".gitignore").exists()


def test_healloop_on_path_is_written_by_name(tmp_path: Path) -> None:
    out = init(tmp_path, "--vscode", path=BIN + os.pathsep + NO_HEALLOOP_PATH)
    assert out.returncode == 0, out.stderr
    assert read(tmp_path)["servers"]["healloop-queue"]["command"] == "healloop"
    assert "PATH" not in out.stdout


def test_another_healloop_on_path_is_not_trusted(tmp_path: Path) -> None:
    other = tmp_path / "otherbin"
    other.mkdir()
    (other / "healloop").write_text("#!/bin/sh\necho an older healloop\n")
    (other / "healloop").chmod(0o755)
    out = init(tmp_path, "--vscode", path=str(other) + os.pathsep + NO_HEALLOOP_PATH)
    assert out.returncode == 0, out.stderr
    assert read(tmp_path)["servers"]["healloop-queue"]["command"] == str(Path(HEALLOOP).resolve())
    assert f"`healloop` on PATH is another program ({other / 'healloop'})" in out.stdout


def test_python_dash_m_is_written_as_such() -> None:
    run = launcher("/x/site-packages/healloop/__main__.py", python="/venv/bin/python3")
    assert (run.command, run.prefix) == ("/venv/bin/python3", ("-m", "healloop"))


MINE = """\
{
\t// my own servers; healloop must leave them and this comment alone
\t"servers": {
\t\t"github": {
\t\t\t"type": "http",
\t\t\t"url": "https://api.githubcopilot.com/mcp/"  /* keep */
\t\t},
\t\t"db": {"type": "stdio", "command": "npx", "args": ["-y", "dbhub"], "env": {"DSN": "${input:dsn}"}},
\t},
\t"inputs": [
\t\t{"type": "promptString", "id": "dsn", "description": "Database", "password": true}
\t],
\t"sandbox": {"enabled": false}
}
"""


def test_merge_keeps_other_servers_inputs_and_comments(tmp_path: Path) -> None:
    (tmp_path / ".vscode").mkdir()
    (tmp_path / ".vscode" / "mcp.json").write_text(MINE)
    before = jsonc.parse(MINE).value
    out = init(tmp_path, "--vscode", "--queue", "http://queue.team:8787", "--node-url", "http://ci-1:8788/mcp")
    assert out.returncode == 0, out.stderr
    text = (tmp_path / ".vscode" / "mcp.json").read_text()
    after = jsonc.parse(text).value
    # Everything that was there is there, as it was: each original line in order, comments and tabs
    # included; the last entry of a list that grew gains a comma.
    lines = iter(text.splitlines())
    assert all(any(new in (old, old + ",") for new in lines) for old in MINE.splitlines())
    assert {k: v for k, v in after["servers"].items() if not k.startswith("healloop-")} == before["servers"]
    assert after["inputs"][0] == before["inputs"][0] and after["sandbox"] == before["sandbox"]
    assert after["servers"]["healloop-queue"]["args"][-1] == "http://queue.team:8787"
    assert after["servers"]["healloop-node"]["url"] == "http://ci-1:8788/mcp"
    assert [i["id"] for i in after["inputs"]] == ["dsn", "healloop-queue-token", "healloop-node-token"]
    assert '\t\t"healloop-node": {\n\t\t\t"type": "http",' in text   # the file's own indentation


def test_second_run_changes_nothing_and_an_update_touches_only_healloops_entry(tmp_path: Path) -> None:
    (tmp_path / ".vscode").mkdir()
    (tmp_path / ".vscode" / "mcp.json").write_text(MINE)
    assert init(tmp_path, "--vscode").returncode == 0
    first = (tmp_path / ".vscode" / "mcp.json").read_bytes()
    again = init(tmp_path, "--vscode")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / ".vscode" / "mcp.json").read_bytes() == first
    assert "already up to date" in again.stdout and "added" not in again.stdout
    moved = init(tmp_path, "--vscode", env={"HEALLOOP_URL": "http://elsewhere:9000"})
    assert moved.returncode == 0, moved.stderr
    assert "healloop-queue (updated)" in moved.stdout and "healloop-node (unchanged)" in moved.stdout
    text = (tmp_path / ".vscode" / "mcp.json").read_text()
    assert read(tmp_path)["servers"]["healloop-queue"]["args"][-1] == "http://elsewhere:9000"
    old_lines, new_lines = first.decode().splitlines(), text.splitlines()
    assert [a for a, b in zip(old_lines, new_lines, strict=True) if a != b] == [
        '\t\t\t"args": ["mcp", "queue", "--queue", "http://127.0.0.1:8787"],']


def test_bad_json_is_refused_naming_the_line_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / ".vscode").mkdir()
    bad = '{\n  "servers": {\n    "a": {"command": "x"}\n    "b": {}\n  }\n}\n'
    (tmp_path / ".vscode" / "mcp.json").write_text(bad)
    out = init(tmp_path, "--vscode")
    assert out.returncode == 1
    assert ("mcp.json is not valid JSON (comments and trailing commas allowed): line 4, column 5: "
            "expected ','") in out.stderr
    assert "nothing was written" in out.stderr
    assert (tmp_path / ".vscode" / "mcp.json").read_text() == bad
    (tmp_path / ".vscode" / "mcp.json").write_text('{"servers": []}')
    wrong = init(tmp_path, "--vscode")
    assert wrong.returncode == 1 and '"servers" must be an object' in wrong.stderr


def test_addresses_come_from_healloop_toml_which_is_only_read(tmp_path: Path) -> None:
    toml = '[queue]\nhost = "0.0.0.0"\nport = 9100\n\n[mcp]\nport = 9101\n'
    (tmp_path / "healloop.toml").write_text(toml)
    out = init(tmp_path, "--vscode")
    assert out.returncode == 0, out.stderr
    servers = read(tmp_path)["servers"]
    assert servers["healloop-queue"]["args"][-1] == "http://127.0.0.1:9100"
    assert servers["healloop-node"]["url"] == "http://127.0.0.1:9101/mcp"
    assert (tmp_path / "healloop.toml").read_text() == toml
    (tmp_path / "healloop.toml").write_text('[queue]\nurl = "http://queue.team:8787"\n\n'
                                            '[mcp]\npublic_url = "http://ci-1.internal:8788/mcp"\n')
    assert init(tmp_path, "--vscode").returncode == 0
    servers = read(tmp_path)["servers"]
    assert servers["healloop-queue"]["args"][-1] == "http://queue.team:8787"
    assert servers["healloop-node"]["url"] == "http://ci-1.internal:8788/mcp"
    (tmp_path / "healloop.toml").write_text("[mcp]\nport = 0\n")
    free = init(tmp_path, "--vscode")
    assert "port 8788 assumed" in free.stdout and "pass --node-url" in free.stdout
    (tmp_path / "healloop.toml").write_text('[mcp]\nport = "x"\n')
    typo = init(tmp_path, "--vscode")
    assert typo.returncode == 1 and "`mcp.port`" in typo.stderr and "must be a port number" in typo.stderr


def test_dry_run_prints_the_file_and_writes_nothing(tmp_path: Path) -> None:
    out = init(tmp_path, "--vscode", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / ".vscode").exists()
    printed = out.stdout[out.stdout.index("the file would be:\n") + len("the file would be:\n"):]
    assert json.loads(printed)["servers"]["healloop-node"]["type"] == "http"


def test_flags_that_do_not_go_together(tmp_path: Path) -> None:
    plain = init(tmp_path, "--queue", "http://q:1")
    assert plain.returncode == 1 and "--queue goes with --vscode" in plain.stderr
    force = init(tmp_path, "--vscode", "--force")
    assert force.returncode == 1 and "--vscode never overwrites" in force.stderr
    url = init(tmp_path, "--vscode", "--node-url", "ci-1:8788")
    assert url.returncode == 1 and "--node-url must be an http(s) URL" in url.stderr
    # HEALLOOP_URL in the environment does not make a plain `healloop init` complain.
    assert init(tmp_path, "--dry-run", env={"HEALLOOP_URL": "http://q:1"}).returncode == 0
    assert not (tmp_path / ".vscode").exists() and not (tmp_path / "healloop.toml").exists()


@pytest.fixture
def node(tmp_path: Path) -> Any:
    """A real tool node with a bearer token on a free loopback port."""
    import socket
    from subprocess import Popen

    ws = tmp_path / "ws"
    ws.mkdir()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "hello.txt").write_text("hello from the workspace\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "node.log", "wb")  # noqa: SIM115 - closed below
    proc = Popen([HEALLOOP, "mcp", "serve", "--workspace", str(ws), "--state-dir", str(tmp_path / "state"),
                  "--port", str(port), "--token", "s3cret"], stdout=log, stderr=subprocess.STDOUT)

    def listening() -> bool:
        assert proc.poll() is None, (tmp_path / "node.log").read_text()
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, timeout=30, what="the node to listen")
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    proc.wait(10)
    log.close()


async def _read_hello(url: str, headers: dict[str, str]) -> Any:
    async with (httpx2.AsyncClient(headers=headers, timeout=30) as http,
                Client(streamable_http_client(url, http_client=http)) as client):
        names = {t.name for t in (await client.list_tools()).tools}
        return names, await client.call_tool("read_file", {"path": "hello.txt"})


def test_the_written_node_entry_reaches_the_node(tmp_path: Path, node: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    assert init(project, "--vscode", "--node-url", node).returncode == 0
    entry = resolve_inputs(read(project)["servers"]["healloop-node"], {"healloop-node-token": "s3cret"})
    assert entry["type"] == "http"
    names, result = anyio.run(_read_hello, entry["url"], entry["headers"])
    assert {"read_file", "edit_file", "run_test"} <= names
    assert not result.is_error and "hello from the workspace" in result.content[0].text
    wrong = resolve_inputs(read(project)["servers"]["healloop-node"], {"healloop-node-token": "wrong"})
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    refused = httpx.post(wrong["url"], headers=wrong["headers"], json=ping)
    assert refused.status_code == 401   # so the header written is the one the node checks


async def _queue_session(entry: dict[str, Any]) -> tuple[set[str], Any, Any]:
    """Start the server as VS Code does with a stdio entry: its command, args and env (over the editor's
    own environment), then list tools and prompts and call list_events."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env={**base, **entry["env"]})
    async with Client(params) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        return names, prompts, await client.call_tool("list_events", {})


def test_the_written_queue_entry_starts_the_queue_server(tmp_path: Path, make_server: Any) -> None:
    queue: QueueServer = make_server(token="queue-secret")
    with queue.client(token="queue-secret") as c:
        event = c.post("/v1/events", json=failure(1)).json()["id"]
    project = tmp_path / "project"
    project.mkdir()
    assert init(project, "--vscode", "--queue", queue.url).returncode == 0
    written = read(project)["servers"]["healloop-queue"]
    assert written["type"] == "stdio" and Path(written["command"]).is_absolute()
    entry = resolve_inputs(written, {"healloop-queue-token": "queue-secret", "healloop-node-token": ""})
    names, prompts, events = anyio.run(_queue_session, entry)
    assert {"list_events", "claim_event", "event_context", "node_call", "verify", "resolve", "escalate",
            "propose", "release_event"} <= names
    assert {"heal-event", "triage-escalations"} <= prompts
    assert not events.is_error and event in json.dumps(events.structured_content)
    # The token really travels through the env the entry names: a wrong one is refused by the queue.
    wrong = resolve_inputs(written, {"healloop-queue-token": "wrong", "healloop-node-token": ""})
    _, _, refused = anyio.run(_queue_session, wrong)
    assert refused.is_error and event not in str(refused.content)
    assert "unauthorized" in refused.content[0].text and "HTTP 401" in refused.content[0].text
