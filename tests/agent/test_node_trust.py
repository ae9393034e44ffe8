"""An agent sends the node token only to registered node URLs on hosts it trusts: a real queue, a node
re-registered at a would-be attacker's HTTP server on this machine's non-loopback address, and a real
``healloop agent`` that must neither connect there nor send the token, and must say what to add."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from healloop.client import QueueClient
from tests.support import QueueServer, failure, wait_final

NODE_TOKEN = "node-secret-4f1c"


def _outside_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.254", 9))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


class Attacker:
    """An HTTP server that records every request's Authorization header and answers 500."""

    def __init__(self, host: str) -> None:
        self.authorizations: list[str | None] = []
        attacker = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                attacker.authorizations.append(self.headers.get("authorization"))
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(500)
                self.send_header("content-length", "0")
                self.end_headers()

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/mcp"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    address = _outside_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to put the would-be attacker on")
    a = Attacker(address)
    yield a
    a.stop()


def _run_agent(queue: QueueServer, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "healloop", "agent", "--queue", queue.url, "--node-token", NODE_TOKEN,
             "--wait", "1", *args], stdout=out, stderr=subprocess.STDOUT, env=env)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def test_an_agent_sends_no_token_to_a_node_registered_on_a_host_it_does_not_trust(
    tmp_path: Path, attacker: Attacker
) -> None:
    queue = QueueServer(tmp_path / "events.db").start()
    log = tmp_path / "agent.log"
    host = attacker.url.split("//")[1].split(":")[0]
    try:
        with QueueClient(queue.url) as q:
            q.register_node("ci-1", attacker.url)  # what a hijack leaves in the node list
            event_id = q.report(**failure(1, node="ci-1"))["id"]
            agent = _run_agent(queue, log)
            try:
                ev = wait_final(q, event_id, timeout=60, logs=lambda: log.read_text(errors="replace"))
            finally:
                _stop(agent)
            assert ev["status"] == "escalated"
            note = ev["history"][-1]["note"]
            assert attacker.url in note and "nothing was sent there" in note
            assert f"--node-host {host}" in note and "node_hosts" in note
            assert ev["history"][-1]["data"]["untrusted_nodes"]["ci-1"] == note
            assert attacker.authorizations == []

            # The control: told to trust that host, the same agent connects and sends the token, so the
            # refusal above was the check and not an unreachable server.
            q.requeue(event_id, "trust the host now")
            agent = _run_agent(queue, log, "--node-host", host)
            try:
                ev = wait_final(q, event_id, timeout=60, logs=lambda: log.read_text(errors="replace"))
            finally:
                _stop(agent)
            assert f"Bearer {NODE_TOKEN}" in attacker.authorizations
            assert ev["status"] == "escalated" and "unreachable" in ev["history"][-1]["note"]
    finally:
        queue.stop()


def test_node_hosts_match_loopback_names_wildcards_and_networks() -> None:
    from healloop.agent.nodetrust import NodeHosts

    hosts = NodeHosts.of(["ci-3.internal", "*.ci.internal", "10.20.0.0/24", "192.0.2.7"])
    for url in ("http://127.0.0.1:8788/mcp", "http://localhost:1/mcp", "http://[::1]:8788/mcp",
                "http://0.0.0.0:8788/mcp", "http://CI-3.internal:8788/mcp", "https://a.ci.internal/mcp",
                "http://10.20.0.9:8788/mcp", "http://192.0.2.7:8788/mcp"):
        assert hosts.allows(url), url
    for url in ("http://evil.example:8788/mcp", "http://ci.internal/mcp", "http://10.20.1.9/mcp",
                "http://192.0.2.8/mcp", "stdio:/bin/sh", "http://ci-3.internal.evil.example/mcp",
                "http://127.0.0.1.evil.example/mcp"):
        assert not hosts.allows(url), url
    assert not NodeHosts.of().allows("http://ci-3.internal:8788/mcp")


def _healloop(queue: QueueServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    return subprocess.run([sys.executable, "-m", "healloop", *args, "--queue", queue.url,
                           "--node-token", NODE_TOKEN], capture_output=True, text=True, env=env, timeout=60)


def test_a_persons_commands_send_no_token_to_a_node_on_a_host_not_trusted(
    tmp_path: Path, attacker: Attacker
) -> None:
    # approve, reject, revert and forge sync reach the node that holds a proposal or a fix with the node
    # token, as an agent does: a node re-registered elsewhere gets nothing, and the person is told why.
    queue = QueueServer(tmp_path / "events.db").start()
    host = attacker.url.split("//")[1].split(":")[0]
    try:
        with queue.client() as c:
            c.post("/v1/nodes", json={"name": "ci-1", "mcp_url": attacker.url})
            eid = c.post("/v1/events", json=failure(1, node="ci-1")).json()["id"]
            tok = c.post("/v1/events/next", json={"worker": "agent-1"}).json()["lease"]["token"]
            for to in ("analyzing", "fixing", "verifying"):
                moved = c.post(f"/v1/events/{eid}/transition", json={"token": tok, "to": to})
                assert moved.status_code == 200, moved.text
            assert c.post(f"/v1/events/{eid}/transition", json={
                "token": tok, "to": "proposed", "data": {"proposal": {
                    "branch": f"healloop/{eid}", "node": "ci-1", "sha": "abc1234",
                    "pull_request": {"number": 7}}}}).status_code == 200
        for args in (("approve", eid), ("reject", eid, "--reason", "no")):
            done = _healloop(queue, *args)
            assert done.returncode == 1, done.stdout + done.stderr
            assert attacker.url in done.stderr and f"--node-host {host}" in done.stderr, done.stderr
        synced = _healloop(queue, "forge", "sync")
        assert synced.returncode == 1 and attacker.url in synced.stderr, synced.stdout + synced.stderr
        with queue.client() as c:
            assert c.get(f"/v1/events/{eid}").json()["status"] == "proposed"  # nothing decided
        assert attacker.authorizations == []

        # The control: with the host trusted, the same command reaches the server with the token.
        trusted = _healloop(queue, "reject", eid, "--reason", "no", "--node-host", host)
        assert trusted.returncode == 1, trusted.stdout + trusted.stderr
        assert f"Bearer {NODE_TOKEN}" in attacker.authorizations
    finally:
        queue.stop()
