"""A network cut between agent and node: the tool node runs in a network namespace of its own, joined to
the host by a veth pair, and the test takes that link down (and routes the node's address nowhere, so
nothing else answers for it) while an agent holds an event mid-repair. Real queue, node, git and agent
processes; needs root (`ip netns`), else skipped with the reason."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from healloop.agent.mcpclient import NodeSession
from healloop.agent.worker import FAILPOINT_ENV
from tests.agent.conftest import NODE_TOKEN, PY, git, make_workspace
from tests.support import QueueServer, wait_until

_ids = itertools.count()


@dataclass
class Link:
    ns: str
    host_if: str
    subnet: str
    host_ip: str
    node_ip: str

    def cut(self) -> None:
        ip("link", "set", self.host_if, "down")
        # With the link down, packets for the node would follow the default route and another host
        # could answer (the sandbox's gateway does); the node is simply unreachable, as across a cut.
        ip("route", "add", "unreachable", self.subnet)

    def mend(self) -> None:
        ip("route", "del", "unreachable", self.subnet)
        ip("link", "set", self.host_if, "up")


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@pytest.fixture
def link() -> Iterator[Link]:
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs `ip` (iproute2) and root to create a network namespace")
    n = (os.getpid() + next(_ids)) % 250
    link = Link(f"hl-cut-{os.getpid()}-{n}", f"hlc{n}h", f"10.213.{n}.0/30", f"10.213.{n}.1", f"10.213.{n}.2")
    try:
        ip("netns", "add", link.ns)
    except RuntimeError as exc:
        pytest.skip(f"`ip netns` is not available here: {exc}")
    try:
        ip("link", "add", link.host_if, "type", "veth", "peer", "name", f"hlc{n}n")
        ip("link", "set", f"hlc{n}n", "netns", link.ns)
        ip("addr", "add", f"{link.host_ip}/30", "dev", link.host_if)
        ip("link", "set", link.host_if, "up")
        inside = (("addr", "add", f"{link.node_ip}/30", "dev", f"hlc{n}n"), ("link", "set", f"hlc{n}n", "up"),
                  ("link", "set", "lo", "up"))
        for args in inside:
            ip("netns", "exec", link.ns, "ip", *args)
        yield link
    finally:
        subprocess.run(["ip", "route", "del", "unreachable", link.subnet], capture_output=True)
        subprocess.run(["ip", "link", "del", link.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", link.ns], capture_output=True)


@pytest.fixture
def cut_ws(link: Link, tmp_path: Path) -> Iterator[Any]:
    """The agent tests' workspace, its queue listening on the host's end of the link, its node inside
    the namespace (so every MCP call crosses the link)."""
    queue = QueueServer(tmp_path / "events.db", "--host", link.host_ip).start()
    ws = make_workspace(tmp_path, queue)
    ws.node_url = f"http://{link.node_ip}:{ws.node_port}/mcp"
    try:
        start_node(ws, link)
        yield ws
    finally:
        ws.stop()
        queue.stop()


def start_node(ws: Any, link: Link) -> None:
    log = open(ws.root / "node.log", "ab")  # noqa: SIM115 - closed with the process
    ws.procs.append(subprocess.Popen(
        ["ip", "netns", "exec", link.ns, PY, "-m", "healloop", "mcp", "serve", "--config", str(ws.config),
         "--state-dir", str(ws.state_dir), "--host", link.node_ip, "--port", str(ws.node_port),
         "--token", NODE_TOKEN, "--queue", ws.queue.url, "--node", "node-a"],
        stdout=log, stderr=subprocess.STDOUT))
    wait_until(lambda: node_up(ws), timeout=30, what="the node in the namespace to answer")


def node_up(ws: Any) -> bool:
    try:
        httpx.get(ws.node_url, timeout=1)
        return True
    except httpx.TransportError:
        return False


def node_call(ws: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    async def call() -> dict[str, Any]:
        async with NodeSession(ws.node_url, NODE_TOKEN) as node:
            return await node.call(tool, **arguments)

    return anyio.run(call)


def rename(ws: Any, fruit: str) -> str:
    html = (ws.repo / "app/index.html").read_text().replace(f'data-cy="{fruit}"', f'data-cy="{fruit}-item"')
    ws.commit(f"app: rename the {fruit} button", {"app/index.html": html})
    return ws.report_failure(f"tests/many/test_{fruit}.py", f"test_{fruit}", artifacts=[
        {"name": "dom", "content_type": "text/html", "path": f"dom/test_{fruit}.html"}])


def finish_after_mending(ws: Any, link: Link, event_id: str, fruit: str) -> None:
    """The link back: an escalated event is requeued by a person, and the next attempt repairs it once."""
    link.mend()
    wait_until(lambda: node_up(ws), timeout=30, what="the node to be reachable again")
    with ws.client() as q:
        if q.get(event_id)["status"] == "escalated":
            r = httpx.post(f"{ws.queue.url}/v1/events/{event_id}/requeue", json={"note": "link mended"})
            assert r.status_code == 200, r.text
    ws.start_agent("--lease", "10", "--node-host", link.node_ip)
    event = ws.wait_final(event_id, timeout=90)
    assert event["status"] == "resolved", [(h["to"], h.get("note")) for h in event["history"]]
    assert len(ws.commits_for(event_id)) == 1
    assert git(ws.repo, "status", "--porcelain") == ""
    assert node_call(ws, "pending_changes")["events"] == []
    assert f'"[data-cy={fruit}-item]"' in (ws.repo / f"tests/many/test_{fruit}.py").read_text()


@pytest.mark.timeout(200)
def test_a_cut_while_the_agent_holds_the_event_escalates_it_untouched_and_the_next_attempt_heals(
        cut_ws: Any, link: Link, tmp_path: Path) -> None:
    ws = cut_ws
    event_id = rename(ws, "apple")
    before = ws.snapshot()
    gate = tmp_path / "go-on"
    agent = ws.start_agent("--lease", "5", "--node-host", link.node_ip,
                           env={FAILPOINT_ENV: f"pause_after_claim:{gate}"})
    wait_until(lambda: "failpoint pause_after_claim reached" in ws.logs(), timeout=60, what="the claim")
    link.cut()
    gate.touch()  # the agent goes on to the node: gone
    with ws.client() as q:
        wait_until(lambda: q.get(event_id)["status"] in ("queued", "escalated"), timeout=60,
                   what="the agent to give the event up")
        event = q.get(event_id)
    assert event["status"] == "escalated"
    note = event["history"][-1]["note"]
    assert note.startswith("the tool node is unreachable: node-a:"), note
    assert ws.snapshot() == before  # nothing half-applied
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(30) == 0
    finish_after_mending(ws, link, event_id, "apple")


@pytest.mark.timeout(200)
def test_a_cut_after_the_fix_is_noticed_and_the_fix_undone_by_the_next_attempt(
        cut_ws: Any, link: Link, tmp_path: Path) -> None:
    ws = cut_ws
    event_id = rename(ws, "banana")
    gate = tmp_path / "go-on"
    # The verification's tool call is cut off: the agent's probes of the node (mcpclient.PROBE_S) end it
    # as unreachable within seconds, not the call's 600 s timeout.
    ws.start_agent("--lease", "5", "--node-host", link.node_ip,
                   env={FAILPOINT_ENV: f"pause_after_fix:{gate}"})
    wait_until(lambda: "failpoint pause_after_fix reached" in ws.logs(), timeout=60, what="the fix")
    assert '"[data-cy=banana-item]"' in (ws.repo / "tests/many/test_banana.py").read_text()  # applied
    link.cut()
    gate.touch()  # the agent goes on to verify the fix on a node it can no longer reach
    with ws.client() as q:
        wait_until(lambda: q.get(event_id)["status"] in ("queued", "escalated"), timeout=20,
                   what="the agent to give the event up")
    finish_after_mending(ws, link, event_id, "banana")
