"""healloop.toml validation, and registration with the queue.

The queue's real /v1/nodes routes are built and tested on main; here a tiny Starlette app on a loopback
port stands in for it and records what the node sends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from healloop.errors import ConfigError
from healloop.node.config import load_config
from tests.node.conftest import make_node, port_open, wait_for
from tests.node.helpers import ok

pytestmark = pytest.mark.anyio


def _config(tmp_path: Path, body: str) -> Path:
    (tmp_path / "ws").mkdir(exist_ok=True)
    path = tmp_path / "healloop.toml"
    path.write_text(f'[node]\nworkspace = "ws"\n{body}')
    return path


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (
            '[node.runner]\nkind = "jest"',
            "`node.runner.kind` must be one of pytest, playwright, cypress, command",
        ),
        ('[node.runner]\nkind = "command"\ncommand = "run-it"', "`node.runner.command` must be a template"),
        ('[node.services.web]\nstart = "python -m http.server"', "`node.services.web.health` is required"),
        ('[node.services.web]\nbackend = "k8s"', "`node.services.web.backend` must be one of"),
        ('[node.services.db]\nbackend = "systemd"', "`node.services.db.unit` is required"),
        ('[node.services.db]\nbackend = "docker"\ncontainer = "db"\ndocker_host = "/run/docker.sock"',
         "`node.services.db.docker_host` must be a Docker Engine address starting unix://, tcp://"),
        ('[node.services.db]\nbackend = "systemd"\nunit = "db"\ndocker_host = "unix:///run/docker.sock"',
         "`node.services.db.docker_host` is only for a docker service"),
        ("restarts_per_hour = 0", "`node.restarts_per_hour` must be a positive integer, got 0"),
        ("restart_per_hour = 3", "unknown key `node.restart_per_hour`"),
        ("search_timeout = 0", "`node.search_timeout` must be a positive number, got 0"),
        (
            '[node.diagnostics.disk]\ncommand = "df \'unclosed"',
            "`node.diagnostics.disk.command` must be a command",
        ),
        ("[node.git]\nremote = 7", "`node.git.remote` must be a non-empty string, got 7"),
        ("max_file_bytes = [", "is not valid TOML"),
        ("[node.policy]\nrevert = \"yes\"", "`node.policy.revert` must be true or false, got 'yes'"),
        ("[node.policy]\napp_edits = 1", "`node.policy.app_edits` must be true or false, got 1"),
        ("[node.policy]\npush = \"true\"", "`node.policy.push` must be true or false"),
        ("[node.policy]\ntest_paths = []", "`node.policy.test_paths` must be a non-empty list of glob"),
        ('[node.policy]\ntest_paths = "tests/**"', "`node.policy.test_paths` must be a non-empty list"),
        ('[node.policy]\ntest_paths = ["tests/**", ""]', "`node.policy.test_paths` must be a non-empty list"),
        ("[node.policy]\nmax_timeout_s = 0", "`node.policy.max_timeout_s` must be a positive number, got 0"),
        ("[node.policy]\nrestarts_per_event = 1.5", "`node.policy.restarts_per_event` must be a positive"),
        ("[node.policy]\nreverts_per_event = true", "`node.policy.reverts_per_event` must be a positive"),
        ("[node.policy]\nrevrt = true", "unknown key `node.policy.revrt`; allowed keys in [node.policy]"),
        ('[node.policy]\napprove = "edit"', "`node.policy.approve` must be a list of action classes"),
        ('[node.policy]\napprove = ["edits"]', "`node.policy.approve` has 'edits'; the classes are edit, "
         "revert, restart, rerun"),
        ('policy = "strict"', "`node.policy` must be a table"),
        ('[node.runner]\npython = ".venv/bin/python"', "`node.runner.python` must be the project's Python"),
        ('[node.runner]\ncwd = "apps/web"', "`node.runner.cwd` must be a folder in the workspace"),
        ('[node.runner.env]\nCI = 1', "`node.runner.env.CI` must be an environment variable"),
        ('[node.runner]\nenv = { "A-B" = "x" }', "`node.runner.env.A-B` must be an environment variable"),
        ('[node.services.web]\nstart = "x"\nhealth = "x"\nenv = "PORT=1"',
         "`node.services.web.env` must be a table"),
        ('[node.services.web]\nstart = "x"\nhealth = "x"\nautostart = "yes"',
         "`node.services.web.autostart` must be true or false"),
    ],
)
def test_config_errors_name_the_key(tmp_path, body, names):
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, body))
    assert names in caught.value.message


def test_policy_is_parsed_with_defaults_for_what_is_left_out(tmp_path):
    default = load_config(_config(tmp_path, "")).policy
    assert (default.app_edits, default.revert, default.push) == (False, False, False)
    assert default.max_timeout_s == 30 and default.restarts_per_event == 2 and default.reverts_per_event == 1
    assert "**/test_*.py" in default.test_paths
    body = """[node.policy]
test_paths = ["e2e/**", "**/*.cy.ts"]
app_edits = true
revert = true
push = true
max_timeout_s = 12.5
restarts_per_event = 4
"""
    policy = load_config(_config(tmp_path, body)).policy
    assert policy.test_paths == ("e2e/**", "**/*.cy.ts")
    assert (policy.app_edits, policy.revert, policy.push) == (True, True, True)
    assert policy.max_timeout_s == 12.5 and policy.restarts_per_event == 4
    assert policy.reverts_per_event == 1  # left out: the default


def test_config_defaults_and_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    cfg = load_config(
        _config(tmp_path, '[node.diagnostics]\ndisk = "df -h"\n[node.runner]\nkind = "playwright"')
    )
    assert cfg.workspace == (tmp_path / "ws").resolve()
    assert cfg.artifacts == cfg.workspace / "artifacts"
    assert cfg.state_dir.is_relative_to(tmp_path / "xdg" / "healloop")  # outside the repository
    assert cfg.diagnostics["disk"].command == ("df", "-h")
    assert cfg.runner.kind == "playwright" and cfg.restarts_per_hour == 3
    assert cfg.search_timeout == 10
    assert load_config(_config(tmp_path, "search_timeout = 2.5")).search_timeout == 2.5


def test_serve_reports_bad_config(tmp_path):
    config = _config(tmp_path, 'restarts_per_hour = "many"')
    run = subprocess.run(
        [sys.executable, "-m", "healloop", "mcp", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0 and "`node.restarts_per_hour` must be a positive integer" in run.stderr


class FakeQueue:
    def __init__(self) -> None:
        self.posts: list[tuple[dict, str | None]] = []

        async def post_node(request: Request) -> JSONResponse:
            body = await request.json()
            self.posts.append((body, request.headers.get("authorization")))
            return JSONResponse({**body, "last_seen": "2026-01-01T00:00:00.000Z"})

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        app = Starlette(routes=[Route("/v1/nodes", post_node, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> FakeQueue:
        self.thread.start()
        wait_for(lambda: port_open(self.port), "the fake queue to listen")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


async def test_node_registers_and_refreshes(tmp_path):
    with FakeQueue() as queue:
        node = make_node(
            tmp_path,
            token=None,
            extra=[
                "--queue",
                f"http://127.0.0.1:{queue.port}",
                "--queue-token",
                "qt",
                "--node",
                "ci-1",
                "--label",
                "os=linux",
                "--register-every",
                "0.2",
            ],
        )
        node.start()
        try:
            wait_for(lambda: len(queue.posts) >= 2, "two registrations")
        finally:
            node.stop()
    body, auth = queue.posts[0]
    assert body == {"name": "ci-1", "mcp_url": node.url, "labels": {"os": "linux"}}
    assert auth == "Bearer qt"


async def test_node_serves_while_queue_is_down(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # closed again before the node starts: nothing listens there
    node = make_node(
        tmp_path,
        token=None,
        extra=["--queue", f"http://127.0.0.1:{dead}", "--node", "ci-2", "--register-every", "0.1"],
    )
    node.start()
    try:
        async with node.http_client() as c:
            for _ in range(3):
                assert (await ok(c, "read_file", path="README.md"))["content"] == "# sample\n"
        assert node.proc.poll() is None
    finally:
        node.stop()
    warnings = (tmp_path / "node.log").read_text().count("cannot register node")
    assert warnings == 1  # logged once, not once per attempt


def test_check_reports_why_a_part_is_off(tmp_path):
    config = _config(
        tmp_path,
        '[node.runner]\nkind = "cypress"\ncommand = "no-such-cypress run"\n'
        '[node.services.db]\nbackend = "docker"\ncontainer = "app-db"\n'
        f'[node.services.web]\nstart = "{sys.executable} -m http.server"\nhealth = "http://127.0.0.1:1/"\n',
    )
    run = subprocess.run(
        [sys.executable, "-m", "healloop", "mcp", "check", "--config", str(config)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stderr
    assert "OFF  runner: 'no-such-cypress' is not on PATH" in run.stdout
    assert "OFF  service db:" in run.stdout and "docker" in run.stdout
    assert "ok   service web: command" in run.stdout


def test_check_writes_nothing_anywhere(tmp_path, monkeypatch):
    """`healloop mcp check` only looks: no state dir, lock or log appears, in the project or in
    ~/.local/state (issue 11, item 6)."""
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    config = _config(project, f'[node.services.web]\nstart = "{sys.executable} -m http.server"\n'
                              'health = "http://127.0.0.1:1/"\n')
    before = sorted(p for p in tmp_path.rglob("*"))
    env = {k: v for k, v in os.environ.items() if k != "XDG_STATE_HOME"} | {"HOME": str(home)}
    run = subprocess.run([sys.executable, "-m", "healloop", "mcp", "check", "--config", str(config)],
                         capture_output=True, text=True, env=env, cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(p for p in tmp_path.rglob("*")) == before


_GIT = '[node.git]\nremote = "origin"\nbranch = "main"\n'
_APPROVE = '[node.policy]\napprove = ["edit"]\n'
_REPO = 'repository = "a/b"\ntoken_env = "T"\n'


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (_GIT + 'pull_requests = "bitbucket"\n' + _APPROVE,
         "`node.git.pull_requests` must be true, false or, naming the forge as well, one of 'github', "
         "'gitlab', 'gitea', got 'bitbucket'"),
        (_GIT + 'pull_requests = "github"\nrepository = "acme/shop"\ntoken_env = "GH_TOKEN"\n',
         "`node.git.pull_requests` = 'github' needs `node.policy.approve = [\"edit\"]`"),
        ('[node.git]\npull_requests = "github"\nrepository = "acme/shop"\ntoken_env = "T"\n' + _APPROVE,
         "needs `node.git.remote` (where the proposal's branch is pushed)"),
        (_GIT + 'pull_requests = "github"\ntoken_env = "GH_TOKEN"\n' + _APPROVE,
         "`node.git.repository` is required with pull_requests = 'github'"),
        (_GIT + 'pull_requests = "github"\nrepository = "shop"\ntoken_env = "T"\n' + _APPROVE,
         "`node.git.repository` must be owner/name"),
        (_GIT + 'pull_requests = "gitlab"\nrepository = "shop"\ntoken_env = "T"\n' + _APPROVE,
         "`node.git.repository` must be the project's path (group/name, subgroups allowed)"),
        (_GIT + 'pull_requests = "github"\nrepository = "acme/shop"\n' + _APPROVE,
         "`node.git.token_env` is required with pull_requests = 'github': the NAME of the environment"),
        (_GIT + 'pull_requests = "github"\nrepository = "a/b"\ntoken_env = "ghp_abcdef123456"\n' + _APPROVE,
         "the token itself never goes in the file"),
        (_GIT + 'pull_requests = "gitlab"\nrepository = "a/b"\ntoken_env = "glpat-xyz"\n' + _APPROVE,
         "`node.git.token_env` must be the NAME of an environment variable"),
        (_GIT + 'pull_requests = "github"\napi_url = "api.github.com"\nrepository = "a/b"\ntoken_env = "T"\n'
         + _APPROVE, "`node.git.api_url` must be the forge's API as an http(s) URL"),
        (_GIT + 'repository = "acme/shop"\n', "`node.git.repository` is set but `node.git.forge` is not"),
        # `forge` names the forge; pull_requests and issues are switches.
        (_GIT + 'forge = "bitbucket"\nrepository = "a/b"\ntoken_env = "T"\n',
         "`node.git.forge` must be one of 'github', 'gitlab', 'gitea', got 'bitbucket'"),
        (_GIT + 'pull_requests = true\n' + _APPROVE,
         "`node.git.pull_requests` = true needs `node.git.forge`: the forge they go to, 'github' or"),
        (_GIT + 'issues = true\n', "`node.git.issues` = true needs `node.git.forge`"),
        (_GIT + 'issues = "yes"\nforge = "github"\nrepository = "a/b"\ntoken_env = "T"\n',
         "`node.git.issues` must be true or false, got 'yes'"),
        (_GIT + 'pull_requests = 1\nforge = "github"\nrepository = "a/b"\ntoken_env = "T"\n' + _APPROVE,
         "`node.git.pull_requests` must be true or false (or the forge's name"),
        (_GIT + 'forge = "github"\npull_requests = "gitlab"\n' + _REPO + _APPROVE,
         "`node.git.pull_requests` = 'gitlab' names another forge than `node.git.forge` = 'github'"),
        (_GIT + 'forge = "gitea"\npull_requests = true\nrepository = "a/b"\ntoken_env = "T"\n',
         "`node.git.pull_requests` = true needs `node.policy.approve = [\"edit\"]`"),
        ('[node.git]\nforge = "gitea"\npull_requests = true\n' + _REPO + _APPROVE,
         "`node.git.pull_requests` = true needs `node.git.remote`"),
        ('[node.git]\nforge = "gitea"\nissues = true\ntoken_env = "T"\n',
         "`node.git.repository` is required with forge = 'gitea'"),
        ('[node.git]\nforge = "gitlab"\nissues = true\nrepository = "a/b"\n',
         "`node.git.token_env` is required with forge = 'gitlab'"),
        ('[node.git]\nforge = "gitea"\nissues = true\nrepository = "shop"\ntoken_env = "T"\n',
         "`node.git.repository` must be owner/name"),
    ],
)
def test_pull_request_config_errors_say_what_is_needed(tmp_path, body, names):
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, body))
    assert names in caught.value.message
    assert "abcdef123456" not in caught.value.message and "xyz" not in caught.value.message


def test_pull_request_config_is_parsed_with_the_forges_default_api(tmp_path):
    assert load_config(_config(tmp_path, _GIT)).forge is None
    body = _GIT + 'pull_requests = "github"\nrepository = "acme/shop"\ntoken_env = "GH_TOKEN"\n' + _APPROVE
    forge = load_config(_config(tmp_path, body)).forge
    assert forge is not None
    assert (forge.kind, forge.api_url, forge.repository, forge.token_env) == (
        "github", "https://api.github.com", "acme/shop", "GH_TOKEN")
    body = (_GIT + 'pull_requests = "gitlab"\napi_url = "https://gitlab.example.com/api/v4/"\n'
            'repository = "acme/web/shop"\ntoken_env = "GL_TOKEN"\n' + _APPROVE
            + '[queue]\npublic_url = "http://queue.example:8787"\n')
    config = load_config(_config(tmp_path, body))
    assert config.forge is not None and config.forge.api_url == "https://gitlab.example.com/api/v4"
    assert config.public_url == "http://queue.example:8787"
    assert (config.pull_requests, config.issues) == (True, False)


def test_forge_names_the_forge_and_pull_requests_and_issues_are_switches(tmp_path):
    base = 'forge = "gitea"\napi_url = "https://git.example/api/v1"\n' + _REPO
    # Issues need the forge, not approvals, nor a remote to push to.
    config = load_config(_config(tmp_path, "[node.git]\n" + base + "issues = true\n"))
    assert config.forge is not None and (config.forge.kind, config.forge.api_url) == (
        "gitea", "https://git.example/api/v1")
    assert (config.pull_requests, config.issues) == (False, True)
    config = load_config(_config(tmp_path, _GIT + base + "pull_requests = true\nissues = true\n" + _APPROVE))
    assert (config.pull_requests, config.issues) == (True, True)
    # Named with nothing switched on: nothing is opened, open pull requests can still be closed and read.
    config = load_config(_config(tmp_path, _GIT + base))
    assert config.forge is not None and (config.pull_requests, config.issues) == (False, False)
    # The old spelling names the forge and turns pull requests on; the same name twice is no conflict.
    old = _GIT + 'pull_requests = "github"\nforge = "github"\n' + _REPO + _APPROVE
    config = load_config(_config(tmp_path, old))
    assert config.forge is not None and (config.forge.kind, config.pull_requests) == ("github", True)
    assert config.forge.api_url == "https://api.github.com"
