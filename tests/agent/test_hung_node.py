"""A tool node that accepts connections and never answers: the agent gives up after its node setup
timeout and ends the attempt as for an unreachable node, instead of holding the event for the tool-call
timeout (600 s) while heartbeating its lease. And a node that answers, but is stuck in one quick call."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from healloop.agent.mcpclient import NodeSession, NodeUnavailable
from healloop.client import QueueClient
from healloop.stack import free_port
from tests.support import QueueServer, wait_final, wait_until


class HungNode:
    """A real TCP server on loopback that accepts every connection, reads nothing and answers nothing."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/mcp"
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.accepted.append(conn)  # held open, never read or written

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def hung() -> Iterator[HungNode]:
    node = HungNode()
    try:
        yield node
    finally:
        node.close()


def test_a_session_to_a_node_that_never_answers_gives_up_at_the_setup_timeout(hung: HungNode) -> None:
    async def open_session() -> str:
        with pytest.raises(NodeUnavailable) as caught:
            async with NodeSession(hung.url, "token", setup_timeout=0.5):
                pass
        return caught.value.message

    message = anyio.run(open_session)
    assert message == (
        f"the node at {hung.url} did not open an MCP session within 0.5 s (the agent's --node-setup-timeout):"
        " it is hung, overloaded or unreachable; check the node's process and log on that machine"
    )
    assert hung.accepted, "the connection was accepted: the setup timed out, not the connect"


def test_an_agent_escalates_an_event_whose_node_never_answers_and_goes_on(hung: HungNode,
                                                                          tmp_path: Path) -> None:
    queue = QueueServer(tmp_path / "events.db").start()
    agent: subprocess.Popen[bytes] | None = None
    log = tmp_path / "agent.log"
    try:
        with QueueClient(queue.url) as q:
            q.register_node("hung-1", hung.url)
            event_id = q.report(node="hung-1", source="pytest", spec="tests/test_ui.py", test="test_submit",
                                message="AssertionError: expected to find [data-cy=submit]")["id"]
            env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
            with open(log, "ab") as out:
                agent = subprocess.Popen(
                    [sys.executable, "-m", "healloop", "-v", "agent", "--queue", queue.url, "--wait", "1",
                     "--node-setup-timeout", "1"],
                    stdout=out, stderr=subprocess.STDOUT, env=env,
                )
            event = wait_final(q, event_id, timeout=60, logs=log.read_text)
            assert event["status"] == "escalated", event["history"]
            last = event["history"][-1]
            assert last["note"].startswith(
                f"the tool node is unreachable: hung-1: the node at {hung.url} did not open an MCP session"
                " within 1 s"
            ), last
            assert set(last["data"]["unreachable"]) == {"hung-1"}
            assert agent.poll() is None, "the agent goes on claiming"
    finally:
        if agent is not None and agent.poll() is None:
            agent.terminate()
            try:
                agent.wait(20)
            except subprocess.TimeoutExpired:  # one stuck in a session does not end on SIGTERM
                agent.kill()
                agent.wait(10)
        queue.stop()


STUCK_NODE = """
import sys

import anyio
import uvicorn
from mcp.server import MCPServer

server = MCPServer("stuck-node")


async def git_status() -> str:
    await anyio.sleep(3600)  # stuck: a lock never released, a file system that hangs
    return "never"


async def run_test() -> str:
    await anyio.sleep(1.5)  # a rerun: longer than the quick limit, well within the long one
    return "passed"


server.add_tool(git_status, name="git_status", structured_output=False)
server.add_tool(run_test, name="run_test", structured_output=False)
app = server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1", json_response=True)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def test_a_node_that_answers_but_is_stuck_in_a_quick_call_is_given_up_on(tmp_path: Path) -> None:
    """Probes cannot tell a stuck call from a slow one while the node answers HTTP: a quick tool (one
    that reads a file or asks git) has a short limit of its own; a rerun keeps the long one."""
    script = tmp_path / "stuck_node.py"
    script.write_text(STUCK_NODE)
    port = free_port()
    node = subprocess.Popen([sys.executable, str(script), str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    async def calls() -> tuple[dict, str]:
        async with NodeSession(url, quick_timeout=0.5, probe_s=0.2) as session:
            slow = await session.call("run_test")
            with pytest.raises(NodeUnavailable) as caught:
                await session.call("git_status")
        return slow, caught.value.message

    try:
        wait_until(listening, timeout=30, what="the stuck node to listen")
        slow, message = anyio.run(calls)
    finally:
        node.kill()
        node.wait(10)
    assert slow == {"text": "passed"}  # 1.5 s, past the quick limit: not a quick tool, not cut
    assert message == (f"git_status: the node at {url} answers but did not finish this call within 0.5 s (it "
                       "takes a live node seconds): it is stuck; check the node's log on that machine")
