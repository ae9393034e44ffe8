"""The processes one machine needs, started and stopped together: queue, tool node and agent.

``healloop up``, ``healloop demo``, the tests and ``bench/heal.py`` use it. Each part runs as its own
``python -m healloop ...`` subprocess on a loopback port (a free one unless configured), is waited on
until it is ready (the queue's "listening on" line, the node listed in ``GET /v1/nodes``, the agent
parked on a claim long-poll) and is stopped agent first, then node, then queue: SIGTERM, a bounded
wait, then SIGKILL. Each part's output goes to ``<data dir>/logs/<part>.log``. The ``[node.services]``
marked ``autostart`` are started (and healthy) before the node and stopped after it
(``healloop.node.autostart``).

The settings come from the ``[queue]``, ``[mcp]`` and ``[agent]`` tables of ``healloop.toml`` (the
``[node]`` tables are the node's own, read by ``healloop.node.config``). On the other machines of a
team, ``[queue] url`` joins the team's queue instead of starting one, ``[mcp] host`` and
``public_url`` make the node reachable from the agents, and ``[agent] enabled = false`` leaves the
agents to other machines.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from healloop.agent.nodetrust import check_pattern
from healloop.errors import ConfigError, HealloopError
from healloop.node.autostart import Autostart
from healloop.node.proc import die_with_parent

T = TypeVar("T")
PARTS = ("queue", "node", "agent")
STOP_WAIT_S = 10.0


class StackError(HealloopError):
    """A part of the stack did not start."""


@dataclass(frozen=True)
class StackSettings:
    config: Path                    # healloop.toml with the [node] tables
    data_dir: Path                  # events.db, artifacts, logs, the node's state
    host: str = "127.0.0.1"
    queue_port: int = 0             # 0: a free port
    join: str | None = None         # the URL of a queue on another machine: none is started here
    node_host: str | None = None    # default: the queue's host
    public_url: str | None = None   # the node's MCP URL as agents elsewhere reach it
    agent: bool = True              # start an agent on this machine
    node_port: int = 0
    node_name: str = field(default_factory=socket.gethostname)
    planner: str = "rules"
    concurrency: int = 1
    token: str | None = None        # the queue's bearer token
    node_token: str | None = None   # the node's bearer token
    # Each part's own queue token, from [queue] <part>_token_env: (part, variable, secret) for node,
    # agent or reporter; a part not named here sends `token`.
    part_tokens: tuple[tuple[str, str, str], ...] = ()

    def part_token(self, part: str) -> tuple[str, str] | None:
        """(variable, secret) of the part's own token, when [queue] <part>_token_env names one."""
        return next(((var, secret) for p, var, secret in self.part_tokens if p == part), None)
    node_env: dict[str, str] = field(default_factory=dict)  # extra environment of the node (its runs)
    queue_args: tuple[str, ...] = ()  # extra `healloop serve` options
    agent_args: tuple[str, ...] = ()  # extra `healloop agent` options
    start_timeout: float = 60.0


def _table(data: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"`{name}` must be a table ([{name}])", field=name)
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown key `{name}.{unknown[0]}`; allowed keys in [{name}]: " + ", ".join(sorted(allowed)),
            field=f"{name}.{unknown[0]}",
        )
    return table


def _typed(table: dict[str, Any], prefix: str, key: str, kind: type, default: Any, want: str) -> Any:
    value = table.get(key, default)
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise ConfigError(f"`{prefix}.{key}` must be {want}, got {value!r}", field=f"{prefix}.{key}")


def _port(table: dict[str, Any], prefix: str) -> int:
    port = _typed(table, prefix, "port", int, 0, "a port number (0 picks a free one)")
    if not 0 <= port <= 65535:
        raise ConfigError(f"`{prefix}.port` must be 0..65535, got {port}", field=f"{prefix}.port")
    return port


def load_settings(config: Path) -> StackSettings:
    """Read ``[queue]``, ``[mcp]`` and ``[agent]`` from ``config``; relative paths are against its folder."""
    try:
        with open(config, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {str(config)!r} does not exist; `healloop init` writes one", field="config"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(config)!r} is not valid TOML: {exc}", field="config") from None
    base = config.resolve().parent
    queue = _table(data, "queue", {"host", "port", "data_dir", "token", "url", "public_url", "storm_events",
                                   "storm_minutes", "storm_hold_s", "notify_retry_s", "allowed_hosts",
                                   "cors_origins", "tokens", "node_token_env", "agent_token_env",
                                   "reporter_token_env", "quarantine_after", "quarantine_window",
                                   "quarantine_for", "release_after"})
    mcp = _table(data, "mcp", {"host", "port", "name", "token", "public_url"})
    agent = _table(data, "agent", {"planner", "concurrency", "enabled", "heal_threshold", "heal_margin",
                                   "node_setup_timeout", "node_hosts", "metrics_port", "metrics_host"})
    join = _typed(queue, "queue", "url", str, None, "the team queue's URL")
    public_url = _typed(mcp, "mcp", "public_url", str, None, "the node's MCP URL")
    for key, url in (("queue.url", join), ("mcp.public_url", public_url)):
        if url is not None and not url.startswith(("http://", "https://")):
            raise ConfigError(f"`{key}` must be an http(s) URL, got {url!r}", field=key)
    enabled = agent.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"`agent.enabled` must be true or false, got {enabled!r}", field="agent.enabled")
    planner = _typed(agent, "agent", "planner", str, "rules", "'rules' or 'llm'")
    if planner not in ("rules", "llm"):
        raise ConfigError(f"`agent.planner` must be 'rules' or 'llm', got {planner!r}", field="agent.planner")
    concurrency = _typed(agent, "agent", "concurrency", int, 1, "a positive integer")
    if concurrency < 1:
        raise ConfigError(f"`agent.concurrency` must be a positive integer, got {concurrency}",
                          field="agent.concurrency")
    agent_args: list[str] = []
    for key in ("heal_threshold", "heal_margin"):
        value = agent.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ConfigError(f"`agent.{key}` must be a number from 0 to 1, got {value!r}",
                              field=f"agent.{key}")
        agent_args += [f"--{key.replace('_', '-')}", str(value)]
    setup = agent.get("node_setup_timeout")
    if setup is not None:
        if isinstance(setup, bool) or not isinstance(setup, int | float) or not 0.1 <= setup <= 600:
            raise ConfigError(f"`agent.node_setup_timeout` must be a number of seconds from 0.1 to 600, got"
                              f" {setup!r}", field="agent.node_setup_timeout")
        agent_args += ["--node-setup-timeout", str(setup)]
    agent_args += _metrics_args(agent)
    node_hosts = agent.get("node_hosts", [])
    if not isinstance(node_hosts, list) or not all(isinstance(h, str) for h in node_hosts):
        raise ConfigError(f"`agent.node_hosts` must be a list of host names, got {node_hosts!r}",
                          field="agent.node_hosts")
    # The agent sends the node token to loopback and these hosts only: the ones named here, and this
    # machine's node as [mcp] public_url names it.
    if public_url and urlsplit(public_url).hostname:
        node_hosts = [*node_hosts, str(urlsplit(public_url).hostname)]
    for host in node_hosts:
        agent_args += ["--node-host", check_pattern(host)]
    data_dir = _typed(queue, "queue", "data_dir", str, "data", "a folder path")
    part_tokens = _part_tokens(queue)
    return StackSettings(
        config=config.resolve(),
        data_dir=(base / os.path.expanduser(data_dir)).resolve(),
        host=_typed(queue, "queue", "host", str, "127.0.0.1", "a host address"),
        queue_port=_port(queue, "queue"),
        join=join.rstrip("/") if join else None,
        node_host=_typed(mcp, "mcp", "host", str, None, "a host address"),
        public_url=public_url,
        agent=enabled,
        node_port=_port(mcp, "mcp"),
        node_name=_typed(mcp, "mcp", "name", str, socket.gethostname(), "a node name"),
        planner=planner,
        concurrency=concurrency,
        token=_typed(queue, "queue", "token", str, None, "a string") or os.environ.get("HEALLOOP_TOKEN"),
        node_token=_typed(mcp, "mcp", "token", str, None, "a string"),
        agent_args=tuple(agent_args),
        part_tokens=part_tokens,
    )


def _metrics_args(agent: dict[str, Any]) -> list[str]:
    """``[agent] metrics_port`` (and ``metrics_host``): the agent's ``GET /metrics``, off when unset."""
    port = agent.get("metrics_port")
    host = _typed(agent, "agent", "metrics_host", str, None, "a host address, e.g. '0.0.0.0'")
    if port is None:
        if host is not None:
            raise ConfigError("`agent.metrics_host` needs `agent.metrics_port`: set the port to serve "
                              "metrics on, or remove metrics_host", field="agent.metrics_host")
        return []
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"`agent.metrics_port` must be a port number from 1 to 65535, got {port!r}",
                          field="agent.metrics_port")
    return ["--metrics-port", str(port)] + (["--metrics-host", host] if host else [])


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _part_tokens(queue: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """``[queue] node_token_env`` (and agent_, reporter_): the NAME of a variable holding that part's
    own role token, for a machine that joins a team's queue with role tokens (a node token, an agent
    token, a reporter token), so no part holds more than its role. Never the secret in the file."""
    out = []
    for part in ("node", "agent", "reporter"):
        key = f"{part}_token_env"
        var = _typed(queue, "queue", key, str, None, "the NAME of an environment variable")
        if var is None:
            continue
        if not _ENV_NAME.match(var):
            raise ConfigError(f"`queue.{key}` must be the NAME of an environment variable (letters, digits, "
                              f"'_'), got {var!r}; the secret itself never goes in the file",
                              field=f"queue.{key}")
        secret = os.environ.get(var)
        if not secret:
            raise ConfigError(f"`queue.{key}` names ${var}, which is not set; export it with the {part}'s "
                              f"token (`healloop token create --role {part} ...` on the queue's machine)",
                              field=f"queue.{key}")
        out.append((part, var, secret))
    return tuple(out)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``cond`` until it returns something truthy; ``StackError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def peak_rss_bytes(pid: int) -> int | None:
    """The process's peak resident set size (``VmHWM``), or None when it is gone or not Linux."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(m.group(1)) * 1024 if m else None



class Stack:
    """``with Stack(settings) as stack:`` starts queue, node and agent; leaving stops them all."""

    def __init__(self, settings: StackSettings, say: Callable[[str], None] = lambda _: None) -> None:
        self.settings = settings
        self.say = say
        self.services: Autostart | None = None  # the [node.services] with autostart = true
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.queue_url = ""
        self.node_url = ""
        self.log_dir = settings.data_dir / "logs"
        # The queue token each part sends: the one [queue] token, or one of its own role (see _tokens).
        self.tokens: dict[str, str | None] = dict.fromkeys(("node", "agent", "reporter"), settings.token)
        self.tokens.update((part, secret) for part, _, secret in settings.part_tokens)
        self.reporter_token_file = settings.data_dir / "reporter.token"

    # -- lifecycle
    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Stack:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.settings.join:
                self._join_queue()
            else:
                self._make_tokens()
                self._start_queue()
            self._start_services()
            self._start_node()
            if self.settings.agent:
                self._start_agent()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Agent first (it releases the event in hand), then node, then the services, then queue."""
        for name in reversed(PARTS):
            if name == "queue" and self.services is not None:
                self.services.stop()
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_WAIT_S)

    def peak_rss(self) -> dict[str, int | None]:
        """Peak RSS in bytes of each running part; read it before ``stop()``."""
        return {name: peak_rss_bytes(proc.pid) for name, proc in self.procs.items()}

    def log(self, part: str) -> Path:
        return self.log_dir / f"{part}.log"

    def reporter_env(self) -> dict[str, str]:
        """What the reporters of a suite run on this machine need: the queue, this node's name and the
        node's artifacts folder (``[node] artifacts``), so the node's read_artifact reads the files
        they report (and the queue's token, when it has one)."""
        from healloop.node.config import artifacts_folder

        env = {"HEALLOOP_URL": self.queue_url, "HEALLOOP_NODE": self.settings.node_name}
        artifacts = artifacts_folder(self.settings.config)
        if artifacts is not None:
            env["HEALLOOP_ARTIFACTS"] = str(artifacts)
        if self.tokens["reporter"]:
            env["HEALLOOP_TOKEN"] = self.tokens["reporter"]
        return env

    def client(self) -> httpx.Client:
        """A client of the queue that may read events and nodes (the agent's token)."""
        tok = self.tokens["agent"]
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        return httpx.Client(base_url=self.queue_url, headers=headers, timeout=10)

    # -- the parts
    def _make_tokens(self) -> None:
        """When this machine's queue uses role tokens (made by `healloop token create` or declared in
        [queue.tokens]) and [queue] token sets no admin token, each part gets a token of its own role,
        made now and replaced at every start: the node one named after the node, up-agent, and
        up-reporter, whose secret is written to ``reporter.token`` in the data folder (mode 0600) for
        the suite's reporters. With no token of any kind the queue stays open, as before."""
        from healloop.queue.roles import AGENT, NODE, REPORTER
        from healloop.queue.store.sqlite import token_admin
        from healloop.queue.tokenconfig import declared_tokens
        from healloop.queue.tokens import issue

        s = self.settings
        self.reporter_token_file.unlink(missing_ok=True)
        if s.token:
            return
        declared = declared_tokens(s.config)
        tx = token_admin(s.data_dir / "events.db")
        try:
            if not declared and not tx.list_tokens():
                return
            with tx.c:
                for part, role, name in (("node", NODE, s.node_name), ("agent", AGENT, "up-agent"),
                                         ("reporter", REPORTER, "up-reporter")):
                    if not s.part_token(part):  # one given by [queue] <part>_token_env stays
                        self.tokens[part] = issue(tx, name, role, replace=True)
        finally:
            tx.c.close()
        fd = os.open(self.reporter_token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{self.tokens['reporter']}\n")

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        # Each part gets its settings as flags; HEALLOOP_* from the caller's shell could only contradict
        # them (a reporter's HEALLOOP_URL in the node would make every rerun report again).
        keep = {"HEALLOOP_LLM_BASE_URL", "HEALLOOP_LLM_MODEL", "HEALLOOP_LLM_API_KEY", "HEALLOOP_LLM_TOOLS"}
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_") or k in keep}
        return env | (extra or {})

    def _spawn(self, part: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(self.log(part), "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "healloop", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                # Own session: a Ctrl-C in the terminal reaches `healloop up`, which stops the parts
                # in order, instead of reaching all of them at once.
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.procs[part] = proc
        return proc

    def _alive(self, part: str) -> None:
        proc = self.procs[part]
        if proc.poll() is not None:
            tail = self.log(part).read_text(errors="replace")[-2000:]
            raise StackError(f"the {part} exited with code {proc.returncode} at start; "
                             f"its log ({self.log(part)}) ends with:\n{tail}")

    def _start_queue(self) -> None:
        s = self.settings
        self.log("queue").write_bytes(b"")  # the URL is read from this run's first line
        args = ["serve", "--db", str(s.data_dir / "events.db"), "--host", s.host, "--port", str(s.queue_port),
                "--config", str(s.config), *s.queue_args]
        env = self._env({"HEALLOOP_TOKEN": s.token} if s.token else None)
        self._spawn("queue", args, env)

        def listening() -> str | None:
            self._alive("queue")
            m = re.search(r"listening on (http://\S+)", self.log("queue").read_text(errors="replace"))
            return m.group(1) if m else None

        self.queue_url = wait_for(listening, timeout=s.start_timeout, what="the queue to listen")

    def _join_queue(self) -> None:
        url = self.settings.join
        assert url is not None
        try:
            with httpx.Client(timeout=10) as http:
                http.get(f"{url}/healthz").raise_for_status()
        except httpx.HTTPError as exc:
            raise StackError(
                f"cannot reach the queue at {url} (`queue.url`): {exc}; start it there with "
                "`healloop serve --host 0.0.0.0` or `healloop up`, or fix the URL"
            ) from None
        self.queue_url = url

    def _start_services(self) -> None:
        """The services marked ``autostart``, each healthy before the node and agent start, with the
        node's own state dir, so the node and ``stop`` find the same pid files."""
        from healloop.node.config import load_config
        from healloop.node.services import Services
        from healloop.node.workspace import Workspace

        config = load_config(self.settings.config, state_dir=self.settings.data_dir / "node")
        ws = Workspace(config.workspace, config.state_dir, max_file_bytes=config.max_file_bytes)
        self.services = Autostart(Services(ws, config.services, config.restarts_per_hour))
        self.services.start(self.say)

    def service_status(self) -> dict[str, str]:
        """Each autostart service's state for the live view: healthy, or why not."""
        if self.services is None:
            return {}
        out = {}
        for name in self.services.names():
            status = self.services.services.status(name)
            out[name] = "healthy" if status["healthy"] else status["detail"]
        return out

    def _start_node(self) -> None:
        s = self.settings
        host = s.node_host or s.host
        port = s.node_port or free_port(host)
        args = ["mcp", "serve", "--config", str(s.config), "--state-dir", str(s.data_dir / "node"),
                "--host", host, "--port", str(port), "--queue", self.queue_url, "--node", s.node_name,
                "--register-every", "10"]
        if s.public_url:
            args += ["--public-url", s.public_url]
        env = self._env(s.node_env)
        if s.node_token:
            env["HEALLOOP_NODE_TOKEN"] = s.node_token
        if self.tokens["node"]:
            env["HEALLOOP_TOKEN"] = self.tokens["node"]
        self._spawn("node", args, env)
        self.node_url = s.public_url or f"http://{host}:{port}/mcp"
        with self.client() as q:

            def registered() -> bool:
                self._alive("node")
                with contextlib.suppress(httpx.HTTPError):
                    nodes = q.get("/v1/nodes").json()["nodes"]
                    return any(n["name"] == s.node_name and n["mcp_url"] == self.node_url for n in nodes)
                return False

            wait_for(registered, timeout=s.start_timeout, what=f"node {s.node_name!r} to register")

    def _start_agent(self) -> None:
        s = self.settings
        args = ["agent", "--queue", self.queue_url, "--planner", s.planner,
                "--concurrency", str(s.concurrency), "--wait", "5", *s.agent_args]
        env = self._env()
        if self.tokens["agent"]:
            env["HEALLOOP_TOKEN"] = self.tokens["agent"]
        if s.node_token:
            env["HEALLOOP_AGENT_NODE_TOKEN"] = s.node_token
        self._spawn("agent", args, env)
        with self.client() as q:

            def waiting() -> bool:
                self._alive("agent")
                with contextlib.suppress(httpx.HTTPError):
                    text = q.get("/metrics").text
                    m = re.search(r"^healloop_claim_waiters (\d+)", text, re.MULTILINE)
                    return bool(m and int(m.group(1)) >= 1)
                return False

            wait_for(waiting, timeout=s.start_timeout, what="the agent to ask the queue for work")
