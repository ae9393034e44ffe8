"""`healloop up` as a user runs it: starts the stack, serves reports, and Ctrl-C stops every child."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from healloop.stack import free_port
from tests.support import wait_until


def _children(pid: int) -> set[int]:
    """Processes started by ``pid`` (any depth), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _spawn_up(folder: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    return subprocess.Popen([sys.executable, "-m", "healloop", "up"], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@contextlib.contextmanager
def _reaped(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """Whatever the test's outcome, the `healloop up` it started does not outlive it."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def _up(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    (tmp_path / "healloop.toml").write_text(textwrap.dedent("""
        [queue]
        port = 0
        [mcp]
        name = "up-test"
        [node]
        workspace = "."
    """))
    proc = _spawn_up(tmp_path)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"queue (http://\S+),", line)
    assert m, line + proc.stdout.read() if proc.poll() is not None else line
    return proc, m.group(1)


def test_a_killed_up_leaves_no_process_behind(tmp_path: Path) -> None:
    proc, _ = _up(tmp_path)
    children = _children(proc.pid)
    assert len(children) >= 3, children
    proc.kill()
    proc.wait(10)
    wait_until(lambda: not [p for p in children if _alive(p)], timeout=30, interval=0.1,
               what="queue, node and agent to exit after `healloop up` was killed")
    if proc.stdout:
        proc.stdout.close()


def test_up_serves_and_sigint_stops_every_child(tmp_path: Path) -> None:
    proc, url = _up(tmp_path)
    with _reaped(proc):
        assert proc.stdout is not None
        # What the suite's reporters need; the node made its artifacts folder for them at start.
        assert proc.stdout.readline().strip() == (
            f"run your suite with: HEALLOOP_URL={url} HEALLOOP_NODE=up-test "
            f"HEALLOOP_ARTIFACTS={tmp_path.resolve() / 'artifacts'}")
        assert (tmp_path / "artifacts").is_dir()
        children = _children(proc.pid)
        assert len(children) >= 3, children
        body = {"node": "up-test", "source": "pytest", "spec": "tests/test_a.py", "test": "test_a",
                "message": "assert 1 == 2"}
        event_id = httpx.post(f"{url}/v1/events", json=body, timeout=10).json()["id"]
        event = wait_until(
            lambda: (e := httpx.get(f"{url}/v1/events/{event_id}", timeout=10).json())["status"]
            in ("resolved", "escalated") and e,
            timeout=60, interval=0.2, what="the agent to take the event to a final state",
        )
        assert event["status"] == "escalated"  # no such test here: the agent escalates, never guesses
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert not [p for p in children if _alive(p)]


def test_a_second_machine_joins_the_team_queue_with_its_node_only(tmp_path: Path) -> None:
    """`[queue] url` joins a queue started elsewhere; `[mcp] public_url` is what agents use, and its
    host name is accepted by the node; `[agent] enabled = false` starts no agent here."""
    from healloop.agent.mcpclient import NodeSession
    from healloop.stack import Stack, StackError, load_settings

    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    (first_dir / "healloop.toml").write_text('[mcp]\nname = "first"\n[node]\nworkspace = "."\n')
    with Stack(load_settings(first_dir / "healloop.toml")) as first:
        port = free_port()
        (second_dir / "healloop.toml").write_text(textwrap.dedent(f"""
            [queue]
            url = "{first.queue_url}/"
            [mcp]
            name = "second"
            host = "0.0.0.0"
            port = {port}
            public_url = "http://127.0.0.2:{port}/mcp"
            [agent]
            enabled = false
            [node]
            workspace = "."
        """))
        with Stack(load_settings(second_dir / "healloop.toml")) as second:
            assert set(second.procs) == {"node"} and second.queue_url == first.queue_url
            listed = httpx.get(f"{first.queue_url}/v1/nodes").json()["nodes"]
            nodes = {n["name"]: n["mcp_url"] for n in listed}
            assert nodes["second"] == f"http://127.0.0.2:{port}/mcp" and "first" in nodes

            async def node_info() -> dict:
                async with NodeSession(nodes["second"]) as node:
                    return await node.call("node_info")

            assert anyio.run(node_info)["runner"]
        # A queue that is not there is named, with what to do.
        (second_dir / "healloop.toml").write_text(
            '[queue]\nurl = "http://127.0.0.1:9"\n[node]\nworkspace = "."\n'
        )
        with pytest.raises(StackError, match=r"cannot reach the queue at http://127\.0\.0\.1:9"):
            Stack(load_settings(second_dir / "healloop.toml")).start()


def test_up_with_role_tokens_gives_each_part_a_token_of_its_own_role(tmp_path: Path) -> None:
    """Once the queue has a role token, an open queue is gone: `healloop up` makes the node, agent and
    reporter tokens it needs, and the whole loop still runs."""
    from healloop.queue.store.sqlite import token_admin
    from healloop.queue.tokens import issue
    from healloop.stack import Stack, load_settings

    (tmp_path / "healloop.toml").write_text('[mcp]\nname = "ci-up"\n[node]\nworkspace = "."\n')
    tx = token_admin(tmp_path / "data" / "events.db")
    with tx.c:
        ops = issue(tx, "ops", "operator")
    tx.c.close()
    with Stack(load_settings(tmp_path / "healloop.toml")) as stack:  # waits for node and agent
        token_file = stack.reporter_token_file
        assert token_file.stat().st_mode & 0o777 == 0o600
        reporter = token_file.read_text().strip()
        assert stack.reporter_env()["HEALLOOP_TOKEN"] == reporter
        body = {"node": "ci-up", "source": "pytest", "spec": "tests/test_a.py", "test": "test_a",
                "message": "assert 1 == 2"}
        assert httpx.post(f"{stack.queue_url}/v1/events", json=body, timeout=10).status_code == 401
        r = httpx.post(f"{stack.queue_url}/v1/events", json=body, timeout=10,
                       headers={"Authorization": f"Bearer {reporter}"})
        assert r.status_code == 201, r.text
        with httpx.Client(base_url=stack.queue_url, timeout=10,
                          headers={"Authorization": f"Bearer {ops}"}) as q:
            event = wait_until(lambda: (e := q.get(f"/v1/events/{r.json()['id']}").json())["status"]
                               in ("resolved", "escalated") and e, timeout=60, interval=0.2,
                               what="the agent to take the event to a final state")
            assert event["status"] == "escalated"  # no such test here: the agent escalates
            assert [n["name"] for n in q.get("/v1/nodes").json()["nodes"]] == ["ci-up"]
    tx = token_admin(tmp_path / "data" / "events.db")
    names = {t.name: t.role for t in tx.list_tokens()}
    tx.c.close()
    assert names == {"ops": "operator", "ci-up": "node", "up-agent": "agent", "up-reporter": "reporter"}


def test_a_machine_joining_a_queue_with_role_tokens_gives_each_part_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`[queue] node_token_env` and `agent_token_env` name the variables holding this machine's node and
    agent tokens: the node registers with its node token (an agent token could not) and the agent
    claims with its agent token; neither needs an admin token in the file."""
    from healloop.queue.store.sqlite import token_admin
    from healloop.queue.tokens import issue
    from healloop.stack import Stack, load_settings

    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    (first_dir / "healloop.toml").write_text('[mcp]\nname = "first"\n[agent]\nenabled = false\n'
                                             '[node]\nworkspace = "."\n')
    tx = token_admin(first_dir / "data" / "events.db")
    with tx.c:
        monkeypatch.setenv("SECOND_NODE_TOKEN", issue(tx, "second", "node"))
        monkeypatch.setenv("SECOND_AGENT_TOKEN", issue(tx, "second-agent", "agent"))
        ops = issue(tx, "ops", "operator")
    tx.c.close()
    with Stack(load_settings(first_dir / "healloop.toml")) as first:
        (second_dir / "healloop.toml").write_text(textwrap.dedent(f"""
            [queue]
            url = "{first.queue_url}"
            node_token_env = "SECOND_NODE_TOKEN"
            agent_token_env = "SECOND_AGENT_TOKEN"
            [mcp]
            name = "second"
            [node]
            workspace = "."
        """))
        with Stack(load_settings(second_dir / "healloop.toml")) as second:  # waits for node and agent
            assert set(second.procs) == {"node", "agent"}
            nodes = httpx.get(f"{first.queue_url}/v1/nodes", headers={"Authorization": f"Bearer {ops}"},
                              timeout=10).json()["nodes"]
            assert {n["name"] for n in nodes} == {"first", "second"}
    tx = token_admin(first_dir / "data" / "events.db")
    used = {t.name: t.last_used_at for t in tx.list_tokens()}
    tx.c.close()
    assert used["second"] and used["second-agent"], used


def test_join_settings_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from healloop.errors import ConfigError
    from healloop.stack import load_settings

    config = tmp_path / "healloop.toml"
    for text, key in (('[queue]\nurl = "queue-host:8787"\n', "queue.url"),
                      ('[mcp]\npublic_url = "ci-3:8788/mcp"\n', "mcp.public_url"),
                      ('[agent]\nenabled = "no"\n', "agent.enabled"),
                      ('[queue]\nnode_token_env = "ab-c"\n', "queue.node_token_env"),
                      ('[queue]\nagent_token_env = "HEALLOOP_TEST_UNSET"\n', "queue.agent_token_env")):
        config.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(f"`{key}`")):
            load_settings(config)
    monkeypatch.setenv("HEALLOOP_TEST_REPORTER", "s3cret")
    config.write_text('[queue]\ntoken = "admin"\nreporter_token_env = "HEALLOOP_TEST_REPORTER"\n')
    assert load_settings(config).part_tokens == (("reporter", "HEALLOOP_TEST_REPORTER", "s3cret"),)


APP = '''
import http.server, os, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("GREETING", "unset").encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''


def _service_pid(data: Path) -> int:
    return int((data / "node" / "services" / "app.pid").read_text())


def test_up_starts_autostart_services_with_their_env_and_stops_them_and_restarted_copies(
    tmp_path: Path,
) -> None:
    """The app the tests need runs while `up` runs: started healthy before the agent, with its `env` and
    `cwd`; a copy an agent restarted through the node is stopped on exit too (issue 11, item 1)."""
    from healloop.agent.mcpclient import NodeSession

    port = free_port()
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "app.py").write_text(APP)
    (tmp_path / "healloop.toml").write_text(textwrap.dedent(f"""
        [queue]
        port = 0
        data_dir = ".healloop"
        [mcp]
        name = "up-services"
        [node]
        workspace = "."
        [node.services.app]
        start = ["{sys.executable}", "app.py"]
        cwd = "web"
        env = {{ PORT = "{port}", GREETING = "hello from the app" }}
        health = "http://127.0.0.1:{port}/"
        autostart = true
    """))
    proc = _spawn_up(tmp_path)
    data = tmp_path / ".healloop"
    with _reaped(proc):
        assert proc.stdout is not None
        lines = []
        while not (lines and lines[-1].startswith("healloop up: queue")):
            line = proc.stdout.readline()
            assert line, "".join(lines) + proc.stdout.read()
            lines.append(line)
        assert any(line.startswith("service app: healthy") for line in lines), lines
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text == "hello from the app"
        first = _service_pid(data)

        async def restart() -> dict:
            nodes = httpx.get(re.search(r"queue (http://\S+?),", lines[-1]).group(1) + "/v1/nodes",
                              timeout=5).json()["nodes"]
            async with NodeSession(nodes[0]["mcp_url"]) as node:
                return await node.call("service_restart", name="app", event_id="evt-up-test")

        assert anyio.run(restart)["healthy"]
        second = _service_pid(data)
        assert second != first and _alive(second) and not _alive(first)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert not _alive(second), "the copy the node restarted outlived `healloop up`"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_up_names_a_service_that_never_gets_healthy_and_leaves_nothing(tmp_path: Path) -> None:
    from healloop.node.autostart import ServiceStartError
    from healloop.stack import Stack, load_settings

    port = free_port()
    (tmp_path / "healloop.toml").write_text(textwrap.dedent(f"""
        [mcp]
        name = "up-broken"
        [node]
        workspace = "."
        [node.services.app]
        start = ["{sys.executable}", "-c", "print('listening soon'); import time; time.sleep(60)"]
        health = "http://127.0.0.1:{port}/"
        restart_timeout = 2
        autostart = true
    """))
    stack = Stack(load_settings(tmp_path / "healloop.toml"))
    with pytest.raises(ServiceStartError, match=r"service 'app' started but is not healthy after 2 s") as err:
        stack.start()
    assert "listening soon" in str(err.value)
    pid = _service_pid(tmp_path / "data") if (tmp_path / "data/node/services/app.pid").exists() else None
    assert pid is None
    assert not [p for p in stack.procs.values() if p.poll() is None]


def test_a_killed_up_takes_its_services_with_it(tmp_path: Path) -> None:
    """kill -9 of `healloop up`: the service it started gets SIGTERM too, not only queue, node, agent."""
    port = free_port()
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "healloop.toml").write_text(textwrap.dedent(f"""
        [queue]
        port = 0
        [mcp]
        name = "up-killed"
        [node]
        workspace = "."
        [node.services.app]
        start = ["{sys.executable}", "app.py"]
        env = {{ PORT = "{port}" }}
        health = "http://127.0.0.1:{port}/"
        autostart = true
    """))
    proc = _spawn_up(tmp_path)
    with _reaped(proc):
        assert proc.stdout is not None
        wait_until(lambda: "run your suite with" in (proc.stdout.readline() if proc.poll() is None else "x"),
                   timeout=60, interval=0, what="`healloop up` to start")
        assert proc.poll() is None
        service = _service_pid(tmp_path / "data")
        assert _alive(service)
        proc.kill()
        proc.wait(10)
        wait_until(lambda: not _alive(service), timeout=30, interval=0.1,
                   what="the service to exit after `healloop up` was killed")
