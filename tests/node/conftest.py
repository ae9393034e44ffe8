"""Real parts for the node tests: a git repository in a tmp dir, a node process on a loopback port,
and MCP clients from the SDK over streamable HTTP and stdio."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

TOKEN = "test-token-123"
DEADLINE_S = 20.0


def wait_for(condition: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    """Poll ``condition`` until it returns something truthy, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


SAMPLE_TESTS = """
import os, time

def test_passes():
    assert 1 + 1 == 2

def test_fails():
    assert "expected" == "actual", "greeting mismatch"

def test_slow():
    time.sleep(60)  # the subject of the timeout test; killed by the node

def test_records():
    # Appends start/end marks so a test can see whether two runs overlapped.
    with open(os.environ.get("MARKS", "marks.log"), "a") as fh:
        fh.write("start\\n")
    time.sleep(0.3)
    with open(os.environ.get("MARKS", "marks.log"), "a") as fh:
        fh.write("end\\n")

def test_not_reported():
    # The node's reruns must not be reported to the queue again by a reporter in the project.
    assert os.environ.get("HEALLOOP_REPORT") == "off"
"""


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "src" / "app.py").write_text(
        'GREETING = "hello"\n\n\ndef greet(name):\n    return f"{GREETING} {name}"\n'
    )
    (repo / "tests" / "test_sample.py").write_text(textwrap.dedent(SAMPLE_TESTS))
    (repo / "README.md").write_text("# sample\n")
    (repo / ".gitignore").write_text("marks.log\nartifacts/\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "config", "user.email", "node@test.invalid")
    git(repo, "config", "user.name", "node test")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    remote = root / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    return repo


def write_config(root: Path, repo: Path, service_port: int, restarts: int = 2) -> Path:
    artifacts = repo / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "run.log").write_text("GET /login 500\nTypeError: x is undefined\n")
    (artifacts / "shot.png").write_bytes(PNG_1PX)
    py = sys.executable
    config = root / "healloop.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [node]
            workspace = "{repo}"
            artifacts = "artifacts"
            restarts_per_hour = {restarts}
            max_file_bytes = 100000

            [node.git]
            remote = "origin"
            branch = "healed"

            [node.runner]
            kind = "pytest"
            command = ["{py}", "-m", "pytest"]
            timeout = 60

            [node.services.web]
            backend = "command"
            start = ["{py}", "-m", "http.server", "{service_port}", "--bind", "127.0.0.1"]
            health = "http://127.0.0.1:{service_port}/"
            log_file = "{root}/web.log"
            restart_timeout = 20

            [node.diagnostics.python_version]
            command = ["{py}", "--version"]

            [node.diagnostics.env_list]
            command = "{py} -c 'import sys; print(sys.argv[1:])' one two"
            timeout = 10
            """
        )
    )
    return config


# A 1x1 PNG, so read_artifact has a real image to return.
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@dataclass
class NodeProc:
    root: Path
    repo: Path
    config: Path
    state_dir: Path
    port: int
    token: str | None
    service_port: int
    proc: subprocess.Popen[bytes] | None = None
    extra: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # over this process's environment

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def argv(self, transport: str) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "healloop",
            "mcp",
            "serve",
            "--config",
            str(self.config),
            "--state-dir",
            str(self.state_dir),
            "--transport",
            transport,
        ]
        if transport == "http":
            args += ["--port", str(self.port)] + (["--token", self.token] if self.token else [])
        return args + self.extra

    def start(self) -> None:
        log = open(self.root / "node.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            self.argv("http"), stdout=log, stderr=subprocess.STDOUT, env=os.environ | self.env
        )
        wait_for(lambda: port_open(self.port) or self.proc.poll() is not None, "the node to listen")
        assert self.proc.poll() is None, (self.root / "node.log").read_text()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        # The service the node started runs in its own session; stop it so no process outlives the test.
        pid_file = self.state_dir / "services" / "web.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)

    @asynccontextmanager
    async def http_client(self, token: str | None = "default") -> Any:
        token = self.token if token == "default" else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http,
            Client(streamable_http_client(self.url, http_client=http)) as client,
        ):
            yield client

    def stdio_client(self) -> Client:
        return Client(StdioServerParameters(command=sys.executable, args=self.argv("stdio")[1:]))


def make_node(
    tmp: Path, *, token: str | None = TOKEN, restarts: int = 2, extra: list[str] | None = None
) -> NodeProc:
    repo = make_repo(tmp)
    service_port = free_port()
    config = write_config(tmp, repo, service_port, restarts)
    return NodeProc(tmp, repo, config, tmp / "state", free_port(), token, service_port, extra=extra or [])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProc]:
    n = make_node(tmp_path_factory.mktemp("node"))
    n.start()
    try:
        yield n
    finally:
        n.stop()
