"""Real parts for the agent tests: a queue process, a git workspace with a tiny pytest suite and a tiny
HTML app, a tool node process registered with the queue, and `healloop agent` processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from healloop.agent.mcpclient import NodeSession
from healloop.client import QueueClient
from tests.forge.fake import GITEA_REPO, GITHUB_REPO, GITLAB_PROJECT, FakeForge
from tests.node.conftest import free_port, git, port_open
from tests.queue.test_api_forge_hooks import SECRET
from tests.support import QueueServer, wait_final, wait_until

NODE_TOKEN = "node-token-xyz"
PY = sys.executable
FRUITS = [
    "apple",
    "banana",
    "cherry",
    "damson",
    "elder",
    "fig",
    "grape",
    "hazel",
    "kiwi",
    "lemon",
    "mango",
    "nectar",
    "olive",
    "peach",
    "quince",
    "rowan",
    "sloe",
    "tamarind",
    "ugli",
    "vanilla",
]

DOM_HELPER = '''
"""Finds elements in HTML the way the app's tests need; on failure saves the DOM like Cypress does."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def page():
    return (ROOT / "app" / "index.html").read_text()


def find(html, selector, snapshot):
    m = re.fullmatch(r'\\[([\\w-]+)="?([^"\\]]*)"?\\]', selector)
    if m:
        pattern = re.escape(f'{m.group(1)}="{m.group(2)}"')
    elif selector.startswith("#"):
        pattern = re.escape(f'id="{selector[1:]}"')
    elif selector.startswith("text="):
        pattern = ">" + re.escape(selector[5:]) + "<"
    else:
        raise ValueError(f"unsupported selector {selector}")
    if not re.search(pattern, html):
        out = ROOT / "artifacts" / "dom" / f"{snapshot}.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html)
        raise AssertionError(f"Timed out retrying after 4000ms: Expected to find element: {selector}, "
                             "but never found it.")
    return True
'''

APP_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if self.path == "/health" else open("app/index.html", "rb").read()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def page(buttons: dict[str, str]) -> str:
    items = "\n".join(
        f'    <button data-cy="{cy}" class="btn">{text}</button>' for cy, text in buttons.items()
    )
    return f'<html><body>\n  <form id="order">\n{items}\n  </form>\n</body></html>\n'


@dataclass
class Workspace:
    root: Path
    repo: Path
    config: Path
    state_dir: Path
    web_port: int
    node_port: int
    queue: QueueServer
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    agent_logs: list[Path] = field(default_factory=list)

    # -- git and the suite
    def commit(self, message: str, files: dict[str, str]) -> str:
        for name, text in files.items():
            path = self.repo / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-qm", message)
        return git(self.repo, "rev-parse", "HEAD").strip()

    def rename_submit_button(self) -> str:
        """The UI change selector healing repairs: the button's data-cy renamed, committed."""
        html = (self.repo / "app/index.html").read_text()
        html = html.replace('data-cy="submit"', 'data-cy="submit-order"')
        return self.commit("app: rename the submit button", {"app/index.html": html})

    def break_pricing(self) -> str:
        """A real regression in the app (a wrong total), committed; returns the suspect sha."""
        fee = "def total(prices):\n    return sum(prices) + 1\n"
        return self.commit("pricing: add a service fee", {"app/pricing.py": fee})

    def run_test(self, spec: str, test: str) -> tuple[bool, str]:
        """Runs one test the way a reporter on this machine would; returns (passed, failure message)."""
        proc = subprocess.run(
            [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{spec}::{test}"],
            cwd=self.repo,
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("E ", "FAILED"))]
        return proc.returncode == 0, "\n".join(lines) or proc.stdout[-2000:]

    def report_failure(self, spec: str, test: str, **extra: Any) -> str:
        passed, message = self.run_test(spec, test)
        assert not passed, f"{spec}::{test} was expected to fail"
        body = {"node": "node-a", "source": "pytest", "spec": spec, "test": test, "message": message, **extra}
        with self.client() as q:
            return q.report(**body)["id"]

    def client(self) -> QueueClient:
        return QueueClient(self.queue.url)

    def commits_for(self, event_id: str) -> list[str]:
        out = git(self.repo, "log", "--format=%H", "-E", f"--grep=^Healloop-Event: {event_id}$")
        return out.split()

    def snapshot(self) -> dict[str, Any]:
        """What the workspace is: HEAD, branch, branches, `git status` and the bytes of every file,
        tracked, untracked or ignored. Left out: .git, and the bytecode caches test runs write. (The
        node's state folder is outside the repository.)"""
        files = {
            p.relative_to(self.repo).as_posix(): p.read_bytes()
            for p in sorted(self.repo.rglob("*"))
            if p.is_file() and not {".git", "__pycache__"} & set(p.relative_to(self.repo).parts)
        }
        return {
            "head": git(self.repo, "rev-parse", "HEAD").strip(),
            "branch": git(self.repo, "rev-parse", "--abbrev-ref", "HEAD").strip(),
            "branches": git(self.repo, "branch", "--format=%(refname:short)").split(),
            "status": git(self.repo, "status", "--porcelain", "--untracked-files=all"),
            "files": files,
        }

    def node_call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """One tool call on this workspace's node, as another MCP client (a person's, say) makes it."""

        async def call() -> dict[str, Any]:
            async with NodeSession(f"http://127.0.0.1:{self.node_port}/mcp", NODE_TOKEN) as node:
                return await node.call(tool, **arguments)

        return anyio.run(call)

    # -- processes
    def start_node(self) -> None:
        log = open(self.root / "node.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [
                PY,
                "-m",
                "healloop",
                "mcp",
                "serve",
                "--config",
                str(self.config),
                "--state-dir",
                str(self.state_dir),
                "--port",
                str(self.node_port),
                "--token",
                NODE_TOKEN,
                "--queue",
                self.queue.url,
                "--node",
                "node-a",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        with self.client() as q:
            wait_until(
                lambda: any(n["name"] == "node-a" for n in q.nodes()) or proc.poll() is not None,
                timeout=30,
                what="the node to register",
            )
        assert proc.poll() is None, (self.root / "node.log").read_text()

    def restart_node(self, extra_config: str) -> None:
        """Stops the node, appends ``extra_config`` to healloop.toml and starts it again on its port."""
        node = next(p for p in self.procs if "mcp" in p.args and "serve" in p.args and p.poll() is None)
        node.terminate()
        node.wait(20)
        wait_until(lambda: not port_open(self.node_port), what="the old node to close its port")
        self.config.write_text(self.config.read_text() + textwrap.dedent(extra_config))
        self.start_node()
        wait_until(lambda: port_open(self.node_port), timeout=30, what="the new node to listen")

    def start_web(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [PY, "app/server.py", str(self.web_port)], cwd=self.repo, start_new_session=True
        )
        self.procs.append(proc)
        wait_until(lambda: port_open(self.web_port), what="the app server to listen")
        return proc

    def start_agent(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log_path = self.root / f"agent-{len(self.agent_logs)}.log"
        self.agent_logs.append(log_path)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")} | (env or {})
        log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [
                PY,
                "-m",
                "healloop",
                "-v",
                "agent",
                "--queue",
                self.queue.url,
                "--node-token",
                NODE_TOKEN,
                "--wait",
                "1",
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.agent_logs if p.exists())

    def wait_final(self, event_id: str, timeout: float = 60) -> dict[str, Any]:
        with self.client() as q:
            return wait_final(q, event_id, timeout=timeout, logs=self.logs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        for pid_file in (self.state_dir / "services").glob("*.pid") if self.state_dir.exists() else []:
            with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)
        for proc in self.procs:  # the app server runs in its own session
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)


def node_config(repo: Path, web_port: int, root: Path, extra: str = "") -> str:
    """healloop.toml of a node whose tests run with pytest and whose app (app/server.py) it restarts."""
    return textwrap.dedent(f"""
        [node]
        workspace = "{repo}"
        artifacts = "artifacts"
        restarts_per_hour = 20

        [node.runner]
        kind = "pytest"
        command = ["{PY}", "-m", "pytest", "-p", "no:cacheprovider"]
        timeout = 60

        [node.services.web]
        backend = "command"
        start = ["{PY}", "app/server.py", "{web_port}"]
        health = "http://127.0.0.1:{web_port}/health"
        log_file = "{root}/web.log"
        restart_timeout = 20
        """) + textwrap.dedent(extra)


def make_workspace(root: Path, queue: QueueServer) -> Workspace:
    repo = root / "repo"
    (repo / "tests").mkdir(parents=True)
    web_port = free_port()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "config", "user.email", "dev@test.invalid")
    git(repo, "config", "user.name", "dev")
    ws = Workspace(root, repo, root / "healloop.toml", root / "state", web_port, free_port(), queue)
    fruit_tests = {
        f"tests/many/test_{f}.py": f"from dom import find, page\n\n\ndef test_{f}():\n"
        f'    assert find(page(), "[data-cy={f}]", "test_{f}")\n'
        for f in FRUITS
    }
    ws.commit(
        "app and its tests",
        {
            ".gitignore": "artifacts/\n.flaky-marker\n__pycache__/\n",
            "app/index.html": page(
                {"submit": "Submit order", "cancel": "Cancel"} | {f: f.title() for f in FRUITS}
            ),
            "app/server.py": APP_SERVER,
            "app/pricing.py": "def total(prices):\n    return sum(prices)\n",
            "tests/conftest.py": "import sys, pathlib\n"
            "sys.path.insert(0, str(pathlib.Path(__file__).parent))\n",
            "tests/dom.py": DOM_HELPER,
            "tests/test_ui.py": "from dom import find, page\n\n\ndef test_submit():\n"
            '    assert find(page(), "[data-cy=submit]", "test_submit")\n',
            "tests/test_pricing.py": "import sys, pathlib\n"
                                 "sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))\n"
            "from app.pricing import total\n\n\ndef test_total():\n"
            "    assert total([2, 3]) == 5\n",
            "tests/test_service.py": "import urllib.request\n\n\ndef test_health():\n"
            f'    assert urllib.request.urlopen("http://127.0.0.1:{web_port}/health", '
            "timeout=5).read() == b'ok'\n",
            "tests/test_flaky.py": "from pathlib import Path\n\n"
            "MARK = Path(__file__).parents[1] / '.flaky-marker'\n\n\n"
            "def test_eventually():\n    if not MARK.exists():\n        MARK.write_text('1')\n"
            "        raise TimeoutError('Timed out after 5000ms waiting for /api/slow')\n",
            **fruit_tests,
        },
    )
    ws.config.write_text(node_config(repo, web_port, root))
    return ws


@pytest.fixture
def make_ws(tmp_path: Path) -> Iterator[Callable[..., Workspace]]:
    """A workspace whose queue runs with these `healloop serve` options (``--cooldown 0``, say); one per
    test."""
    queues: list[QueueServer] = []
    workspaces: list[Workspace] = []

    def make(*queue_args: str) -> Workspace:
        assert not queues, "one workspace per test: they share tmp_path"
        queues.append(QueueServer(tmp_path / "events.db", *queue_args).start())
        workspaces.append(make_workspace(tmp_path, queues[0]))
        workspaces[0].start_node()
        return workspaces[0]

    try:
        yield make
    finally:
        for w in workspaces:
            w.stop()
        for queue in queues:
            queue.stop()


@pytest.fixture
def ws(make_ws: Callable[..., Workspace]) -> Workspace:
    return make_ws()


def history_data(event: dict[str, Any], to: str) -> list[dict[str, Any]]:
    return [h.get("data") or {} for h in event["history"] if h.get("to") == to]


def get(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return 0


# -- a node whose proposals go to a fake forge as pull requests
TOKEN_ENV = "HEALLOOP_TEST_FORGE_TOKEN"
REPOSITORY = {"github": GITHUB_REPO, "gitlab": GITLAB_PROJECT, "gitea": GITEA_REPO}
Made = tuple[Workspace, FakeForge, Path]


@pytest.fixture
def forge_ws(make_ws: Callable[..., Workspace], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[Callable[..., Made]]:
    """A workspace whose node opens pull requests on a fake forge of ``kind``, with a bare remote the
    forge sees (``extra`` goes into [node.git]); returns (workspace, forge, remote)."""
    with contextlib.ExitStack() as stack:

        def make(kind: str, extra: str = "") -> Made:
            ws: Workspace = make_ws("--forge-secret", SECRET)
            remote = tmp_path / "remote.git"
            subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
            git(ws.repo, "remote", "add", "origin", str(remote))
            forge = stack.enter_context(FakeForge(remote=remote))
            monkeypatch.setenv(TOKEN_ENV, forge.token)  # the node's environment holds the token
            ws.restart_node(f"""
                [node.git]
                remote = "origin"
                branch = "main"
                forge = "{kind}"
                pull_requests = true
                api_url = "{forge.api(kind)}"
                repository = "{REPOSITORY[kind]}"
                token_env = "{TOKEN_ENV}"
                {extra}

                [node.policy]
                approve = ["edit"]
                """)
            git(ws.repo, "push", "-q", "origin", "main")
            return ws, forge, remote

        yield make


def rename(ws: Workspace, fruit: str) -> None:
    """A UI change the selector playbook heals: the fruit's data-cy renamed, committed and pushed."""
    html = (ws.repo / "app/index.html").read_text().replace(f'data-cy="{fruit}"', f'data-cy="{fruit}-item"')
    ws.commit(f"app: rename the {fruit} button", {"app/index.html": html})
    git(ws.repo, "push", "-q", "origin", "main")


def proposed(ws: Workspace, *fruits: str) -> list[str]:
    """Each fruit's test reported failing after its rename; waits until every one is proposed."""
    ids = [ws.report_failure(f"tests/many/test_{f}.py", f"test_{f}",
                             artifacts=[{"name": "dom", "content_type": "text/html",
                                         "path": f"dom/test_{f}.html"}]) for f in fruits]
    if not any("agent" in p.args for p in ws.procs if p.poll() is None):
        ws.start_agent()
    with ws.client() as q:
        for event_id in ids:
            wait_until(lambda e=event_id: q.get(e)["status"] in ("proposed", "resolved", "escalated"),
                       timeout=90, what=f"the agent to propose {event_id}")
            event = q.get(event_id)
            assert event["status"] == "proposed", [(h["to"], h.get("note")) for h in event["history"]]
    return ids


def last_step(ws: Workspace, event_id: str) -> dict[str, Any]:
    with ws.client() as q:
        event = q.get(event_id)
    return {"status": event["status"], **event["history"][-1]}
