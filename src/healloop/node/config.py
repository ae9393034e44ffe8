"""Node configuration: the ``[node]`` tables of healloop.toml, read once at start into typed dataclasses.

Every problem is reported as a ``ConfigError`` whose message names the key (``node.services.web.health``)
and the bad value, so a typo is fixed from the error alone. Relative paths are resolved against the
directory of the TOML file (the workspace itself is the default), never against the process cwd.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healloop.errors import ConfigError
from healloop.forge import FORGES
from healloop.forge.model import ForgeSettings
from healloop.node.files import SEARCH_TIMEOUT_S

RUNNER_KINDS = ("pytest", "playwright", "cypress", "command")
SERVICE_BACKENDS = ("command", "systemd", "docker")
# The addresses the `docker` package connects to (docker.utils.parse_host).
DOCKER_HOST_SCHEMES = ("unix://", "tcp://", "http://", "https://", "ssh://", "npipe://")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# How GitHub's and GitLab's tokens begin: a token_env that starts so is a token pasted in by mistake.
_TOKEN_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-")


@dataclass(frozen=True)
class RunnerConfig:
    kind: str = "pytest"
    # argv prefix (pytest/playwright/cypress) or full template with {spec} and {test} (command)
    command: tuple[str, ...] = ()
    timeout: float = 300.0
    python: Path | None = None      # pytest: the project's interpreter (its venv), not healloop's
    cwd: Path | None = None         # where reruns run (a monorepo package); default: the workspace
    env: dict[str, str] = field(default_factory=dict)  # set for every rerun, over the node's own


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    backend: str
    start: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    health_url: str | None = None
    health_command: tuple[str, ...] = ()
    log_file: Path | None = None
    restart_timeout: float = 30.0
    cwd: Path | None = None
    unit: str | None = None
    container: str | None = None
    # docker: the engine's address (unix:///run/docker.sock, tcp://host:2375); default DOCKER_HOST
    docker_host: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # set for the service, over the node's own
    autostart: bool = False         # `healloop up` starts it before the node and stops it on exit


@dataclass(frozen=True)
class DiagnosticConfig:
    name: str
    command: tuple[str, ...]
    timeout: float = 60.0


DEFAULT_TEST_PATHS = (
    "tests/**", "test/**", "e2e/**", "cypress/**", "spec/**", "**/*.spec.*", "**/*.test.*", "**/*.cy.*",
    "**/test_*.py", "**/*_test.py",
)


# What `[node.policy] approve` may list: an edit or a revert is made and verified on a healloop/ branch
# and proposed with its diff; a restart or a rerun is proposed as a plan before it is carried out.
APPROVAL_CLASSES = ("edit", "revert", "restart", "rerun")


@dataclass(frozen=True)
class PolicyConfig:
    """What agents may do on this node. The node publishes it (``node_info``); agents enforce it."""

    test_paths: tuple[str, ...] = DEFAULT_TEST_PATHS   # globs an agent may edit
    app_edits: bool = False          # may agents edit files outside test_paths?
    revert: bool = False             # may agents revert a suspect commit (verified) for a regression?
    push: bool = False               # push after a verified commit (needs [node.git])
    pull: bool = False               # fast-forward from [node.git] before analysing and verifying
    max_timeout_s: float = 30.0      # a patch may not raise a test timeout above this
    restarts_per_event: int = 2      # service restarts one event may ask for
    reverts_per_event: int = 1
    # Classes of action a person approves first (APPROVAL_CLASSES): an approved edit is verified and
    # committed on a healloop/<event id> branch, and the event waits in `proposed`.
    approve: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeConfig:
    workspace: Path
    state_dir: Path
    artifacts: Path
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    services: dict[str, ServiceConfig] = field(default_factory=dict)
    diagnostics: dict[str, DiagnosticConfig] = field(default_factory=dict)
    git_remote: str | None = None
    git_branch: str | None = None
    restarts_per_hour: int = 3
    max_file_bytes: int = 1_000_000
    search_timeout: float = SEARCH_TIMEOUT_S  # seconds one search_text call may take
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    forge: ForgeSettings | None = None   # [node.git] forge: where pull requests and issues go
    pull_requests: bool = False          # [node.git] pull_requests: proposals become pull requests
    issues: bool = False                 # [node.git] issues: escalations naming a suspect commit open one
    public_url: str | None = None        # [queue] public_url: pull requests and issues link to their event


def default_state_dir(workspace: Path) -> Path:
    """Outside the repository, so audit logs, locks and pid files never show up in ``git status``."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(str(workspace).encode()).hexdigest()[:16]
    return base / "healloop" / f"{workspace.name}-{digest}"


class _Reader:
    """Typed getters over one TOML table that name the full key in every error."""

    def __init__(self, table: dict[str, Any], prefix: str, base: Path) -> None:
        self.table, self.prefix, self.base = table, prefix, base

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def fail(self, name: str, want: str) -> ConfigError:
        return ConfigError(
            f"`{self.key(name)}` must be {want}, got {self.table.get(name)!r}", field=self.key(name)
        )

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.table.get(name, default)
        if value is not None and (not isinstance(value, str) or not value):
            raise self.fail(name, "a non-empty string")
        return value

    def number(self, name: str, default: float, *, integer: bool = False) -> Any:
        value = self.table.get(name, default)
        kind = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
            raise self.fail(name, "a positive integer" if integer else "a positive number")
        return value

    def argv(self, name: str) -> tuple[str, ...]:
        value = self.table.get(name)
        if value is None:
            return ()
        if isinstance(value, str):
            try:
                parts = shlex.split(value)
            except ValueError as exc:
                raise self.fail(name, f"a command line that shlex can split ({exc})") from None
        elif isinstance(value, list) and all(isinstance(p, str) for p in value):
            parts = list(value)
        else:
            raise self.fail(name, "a command: a string or a list of strings")
        if not parts:
            raise self.fail(name, "a non-empty command")
        return tuple(parts)

    def path(self, name: str, default: Path | None = None) -> Path | None:
        value = self.str(name)
        if value is None:
            return default
        return (self.base / os.path.expanduser(value)).resolve()

    def env(self, name: str) -> dict[str, str]:
        value = self.table_of(name)
        for key, item in value.items():
            if not _ENV_NAME.match(key) or not isinstance(item, str) or "\x00" in item:
                raise ConfigError(
                    f"`{self.key(name)}.{key}` must be an environment variable (letters, digits, '_')"
                    f" set to a string, got {key!r} = {item!r}",
                    field=f"{self.key(name)}.{key}",
                )
        return dict(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self.table.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, "true or false")
        return value

    def table_of(self, name: str) -> dict[str, Any]:
        value = self.table.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, "a table")
        return value

    def only(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.table) - allowed)
        if unknown:
            raise ConfigError(
                f"unknown key `{self.key(unknown[0])}`; allowed keys in [{self.prefix}]: "
                + ", ".join(sorted(allowed)),
                field=self.key(unknown[0]),
            )


def _runner(r: _Reader) -> RunnerConfig:
    r.only({"kind", "command", "timeout", "python", "cwd", "env"})
    kind = r.str("kind", "pytest")
    if kind not in RUNNER_KINDS:
        raise r.fail("kind", "one of " + ", ".join(RUNNER_KINDS))
    command = r.argv("command")
    if kind == "command":
        if not command:
            raise ConfigError(
                f"`{r.key('command')}` is required when kind = 'command'", field=r.key("command")
            )
        if not any("{spec}" in p or "{test}" in p for p in command):
            raise r.fail("command", "a template that uses {spec} and/or {test}")
    # Joined, never resolved: a venv's bin/python is a symlink to the base interpreter, and what makes
    # it the venv's is the path (its bin/ and pyvenv.cfg next to it), not the file it points to.
    raw = r.str("python")
    python = Path(os.path.normpath(r.base / os.path.expanduser(raw))) if raw else None
    if python is not None and not (python.is_file() and os.access(python, os.X_OK)):
        raise ConfigError(
            f"`{r.key('python')}` must be the project's Python interpreter, e.g. \".venv/bin/python\";"
            f" {str(python)!r} is not an executable file (create the venv or fix the path)",
            field=r.key("python"),
        )
    cwd = r.path("cwd")
    if cwd is not None and not cwd.is_dir():
        raise ConfigError(f"`{r.key('cwd')}` must be a folder in the workspace; {str(cwd)!r} is not one",
                          field=r.key("cwd"))
    return RunnerConfig(kind=kind, command=command, timeout=float(r.number("timeout", 300)),
                        python=python, cwd=cwd, env=r.env("env"))


def _policy(r: _Reader) -> PolicyConfig:
    r.only({"test_paths", "app_edits", "revert", "push", "pull", "max_timeout_s",
            "restarts_per_event", "reverts_per_event", "approve"})
    approve = r.table.get("approve", [])
    if not isinstance(approve, list) or not all(isinstance(a, str) for a in approve):
        raise r.fail("approve", "a list of action classes, e.g. [\"edit\"]")
    for a in approve:
        if a not in APPROVAL_CLASSES:
            raise ConfigError(f"`{r.key('approve')}` has {a!r}; the classes are "
                              + ", ".join(APPROVAL_CLASSES), field=r.key("approve"))
    paths = r.table.get("test_paths", list(DEFAULT_TEST_PATHS))
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
        raise r.fail("test_paths", "a non-empty list of glob strings")
    flags = {name: r.flag(name, False) for name in ("app_edits", "revert", "push", "pull")}
    return PolicyConfig(
        test_paths=tuple(paths),
        max_timeout_s=float(r.number("max_timeout_s", 30)),
        restarts_per_event=int(r.number("restarts_per_event", 2, integer=True)),
        reverts_per_event=int(r.number("reverts_per_event", 1, integer=True)),
        approve=tuple(dict.fromkeys(approve)),
        **flags,
    )


def _service(name: str, r: _Reader, workspace: Path) -> ServiceConfig:
    r.only({"backend", "start", "stop", "health", "log_file", "restart_timeout", "cwd", "unit", "container",
            "docker_host", "env", "autostart"})
    if not _NAME.match(name):
        raise ConfigError(f"service name {name!r} must be letters, digits, '_', '.', '-'", field=r.prefix)
    backend = r.str("backend", "command")
    if backend not in SERVICE_BACKENDS:
        raise r.fail("backend", "one of " + ", ".join(SERVICE_BACKENDS))
    health = r.table.get("health")
    health_url, health_cmd = None, ()
    if isinstance(health, str) and health.startswith(("http://", "https://")):
        health_url = health
    elif health is not None:
        health_cmd = r.argv("health")
    start = r.argv("start")
    if backend == "command" and not start:
        raise ConfigError(f"`{r.key('start')}` is required for a command service", field=r.key("start"))
    if backend == "command" and not (health_url or health_cmd):
        raise ConfigError(
            f"`{r.key('health')}` is required for a command service: an http:// URL or a command",
            field=r.key("health"),
        )
    if backend == "systemd" and not r.str("unit"):
        raise ConfigError(f"`{r.key('unit')}` is required for a systemd service", field=r.key("unit"))
    if backend == "docker" and not r.str("container"):
        raise ConfigError(
            f"`{r.key('container')}` is required for a docker service", field=r.key("container")
        )
    docker_host = r.str("docker_host")
    if docker_host is not None and backend != "docker":
        raise ConfigError(
            f"`{r.key('docker_host')}` is only for a docker service (backend = \"docker\")",
            field=r.key("docker_host"),
        )
    if docker_host is not None and not docker_host.startswith(DOCKER_HOST_SCHEMES):
        raise r.fail("docker_host", "a Docker Engine address starting " + ", ".join(DOCKER_HOST_SCHEMES))
    return ServiceConfig(
        name=name,
        backend=backend,
        start=start,
        stop=r.argv("stop"),
        health_url=health_url,
        health_command=health_cmd,
        log_file=r.path("log_file"),
        restart_timeout=float(r.number("restart_timeout", 30)),
        cwd=r.path("cwd", workspace),
        unit=r.str("unit"),
        container=r.str("container"),
        docker_host=docker_host,
        env=r.env("env"),
        autostart=r.flag("autostart", False),
    )


def load_config(
    path: Path | None, *, workspace: Path | None = None, state_dir: Path | None = None
) -> NodeConfig:
    """Read ``[node]`` from ``path`` (optional); ``workspace`` and ``state_dir`` from flags win over it."""
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {str(path)!r} does not exist", field="config") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}", field="config") from None
        base = path.resolve().parent
    node = data.get("node", {})
    if not isinstance(node, dict):
        raise ConfigError("`node` must be a table ([node])", field="node")
    r = _Reader(node, "node", base)
    r.only(
        {
            "workspace",
            "state_dir",
            "artifacts",
            "runner",
            "services",
            "diagnostics",
            "git",
            "restarts_per_hour",
            "max_file_bytes",
            "search_timeout",
            "policy",
        }
    )
    ws = workspace.resolve() if workspace else r.path("workspace")
    if ws is None:
        raise ConfigError(
            "no workspace: pass --workspace DIR or set `node.workspace`", field="node.workspace"
        )
    if not ws.is_dir():
        raise ConfigError(f"workspace {str(ws)!r} is not a directory", field="node.workspace")
    # Paths below are relative to the workspace, which is what users write in the file.
    r.base = ws
    git = _Reader(r.table_of("git"), "node.git", ws)
    git.only({"remote", "branch", "forge", "pull_requests", "issues", "api_url", "repository", "token_env"})
    policy = _policy(_Reader(r.table_of("policy"), "node.policy", ws))
    svc = _Reader(r.table_of("services"), "node.services", ws)
    services = {
        name: _service(name, _Reader(svc.table_of(name), f"node.services.{name}", ws), ws)
        for name in svc.table
    }
    diagnostics = {}
    for name, spec in r.table_of("diagnostics").items():
        d = _Reader(spec if isinstance(spec, dict) else {"command": spec}, f"node.diagnostics.{name}", ws)
        d.only({"command", "timeout"})
        if not d.argv("command"):
            raise ConfigError(f"`{d.key('command')}` is required", field=d.key("command"))
        diagnostics[name] = DiagnosticConfig(name, d.argv("command"), float(d.number("timeout", 60)))
    forge, pull_requests, issues = _forge(git, policy)
    return NodeConfig(
        workspace=ws,
        state_dir=(state_dir.resolve() if state_dir else r.path("state_dir") or default_state_dir(ws)),
        artifacts=r.path("artifacts", ws / "artifacts"),
        runner=_runner(_Reader(r.table_of("runner"), "node.runner", ws)),
        services=services,
        diagnostics=diagnostics,
        git_remote=git.str("remote"),
        git_branch=git.str("branch"),
        restarts_per_hour=int(r.number("restarts_per_hour", 3, integer=True)),
        max_file_bytes=int(r.number("max_file_bytes", 1_000_000, integer=True)),
        search_timeout=float(r.number("search_timeout", SEARCH_TIMEOUT_S)),
        policy=policy,
        forge=forge,
        pull_requests=pull_requests,
        issues=issues,
        public_url=_public_url(data),
    )


def _forge(git: _Reader, policy: PolicyConfig) -> tuple[ForgeSettings | None, bool, bool]:
    """``[node.git]``: the forge (``forge``, how to reach it) and what goes there: ``pull_requests``
    (proposals) and ``issues`` (escalations). ``pull_requests = "<kind>"`` both names the forge and turns
    pull requests on, as before ``forge`` existed."""
    kind, prs, issues = git.str("forge"), git.table.get("pull_requests", False), git.flag("issues", False)
    if isinstance(prs, str):
        if prs not in FORGES:
            raise git.fail("pull_requests", "true, false or, naming the forge as well, one of "
                           + ", ".join(repr(k) for k in FORGES))
        if kind is not None and kind != prs:
            raise ConfigError(f"`{git.key('pull_requests')}` = {prs!r} names another forge than "
                              f"`{git.key('forge')}` = {kind!r}; with forge set, write pull_requests = true",
                              field=git.key("pull_requests"))
        kind, named, prs = prs, f"pull_requests = {prs!r}", True
    elif isinstance(prs, bool):
        named = f"forge = {kind!r}"
    else:
        raise git.fail("pull_requests", "true or false (or the forge's name, e.g. \"github\")")
    choices = " or ".join(repr(k) for k in FORGES)
    if kind is None:
        for key, on in (("pull_requests", prs), ("issues", issues)):
            if on:
                raise ConfigError(f"`{git.key(key)}` = true needs `{git.key('forge')}`: the forge they go "
                                  f"to, {choices} (with repository and token_env)", field=git.key("forge"))
        extra = sorted({"api_url", "repository", "token_env"} & set(git.table))
        if extra:
            raise ConfigError(f"`{git.key(extra[0])}` is set but `{git.key('forge')}` is not; set it to "
                              + choices, field=git.key("forge"))
        return None, False, False
    if kind not in FORGES:
        raise git.fail("forge", "one of " + ", ".join(repr(k) for k in FORGES))
    if prs and "edit" not in policy.approve:
        raise ConfigError(f"`{git.key('pull_requests')}` = {_toml(git.table['pull_requests'])} needs "
                          "`node.policy.approve = [\"edit\"]`: a pull request carries a proposed fix, and "
                          "without approval fixes land at once",
                          field=git.key("pull_requests"))
    if prs and (not git.str("remote") or not git.str("branch")):
        raise ConfigError(f"`{git.key('pull_requests')}` = {_toml(git.table['pull_requests'])} needs "
                          "`node.git.remote` (where the proposal's branch is pushed) and `node.git.branch` "
                          "(the branch the pull request targets)", field=git.key("remote"))
    return _forge_settings(git, kind, named), prs, issues


def _toml(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else repr(value)


def _forge_settings(git: _Reader, kind: str, named: str) -> ForgeSettings:
    """How to reach the forge ``named`` (the key that names it, as the user wrote it): its API, the
    repository and the NAME of the variable holding the token."""
    module = FORGES[kind]
    api_url = git.str("api_url", module.DEFAULT_API_URL) or module.DEFAULT_API_URL
    if not api_url.startswith(("http://", "https://")):
        raise git.fail("api_url", f"the forge's API as an http(s) URL, e.g. {module.DEFAULT_API_URL!r}")
    repository = git.str("repository")
    if repository is None:
        raise ConfigError(f"`{git.key('repository')}` is required with {named}",
                          field=git.key("repository"))
    why = module.check_repository(repository)
    if why:
        raise git.fail("repository", why)
    token_env = git.str("token_env")
    example = f"e.g. \"{kind.upper()}_TOKEN\""
    if token_env is None:
        raise ConfigError(f"`{git.key('token_env')}` is required with {named}: the NAME of "
                          f"the environment variable holding the token, {example}",
                          field=git.key("token_env"))
    if not _ENV_NAME.match(token_env) or token_env.startswith(_TOKEN_PREFIXES):
        # Not echoed: it may be the token itself.
        raise ConfigError(f"`{git.key('token_env')}` must be the NAME of an environment variable (letters, "
                          f"digits, '_'), {example}; the token itself never goes in the file",
                          field=git.key("token_env"))
    return ForgeSettings(kind=kind, api_url=api_url.rstrip("/"), repository=repository, token_env=token_env)


def _public_url(data: dict[str, Any]) -> str | None:
    """``[queue] public_url`` of the same file, when there is one (the notifications' key)."""
    queue = data.get("queue")
    url = queue.get("public_url") if isinstance(queue, dict) else None
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


def artifacts_folder(path: Path) -> Path | None:
    """The ``[node] artifacts`` folder of ``path``, resolved as the node resolves it, for the reporters
    of suites run on this machine (``HEALLOOP_ARTIFACTS``); None when the file has no ``[node]`` table
    (a machine with no tool node, e.g. one that only runs agents)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        data = {"node": {}}  # load_config names the problem
    if "node" not in data:
        return None
    return load_config(path).artifacts
