"""Several machines on one queue, on this machine: six nodes, each with its own clone of one shared git
remote, its own app server, tool node and test runner (the pytest plugin reporting as that node), and
agents on one queue. Where the machine allows it (root and iproute2), each node is a host of its own: a
network namespace on a bridge, where its app and tool node use the same ports as on every other node
and the queue is reached over the bridge. Elsewhere the nodes share loopback on ports of their own.

One module, one cluster, scenarios in order (each leaves the cluster as the next expects):
1. the same failure on all six nodes is one event (count 6) and one fix, pushed and pulled by the other
   five before they rerun the test; then every node's rerun passes and nothing new is reported;
2. an app server down on two nodes is a local failure: two events, each repaired on its own node;
3. an agent killed mid-repair: another finishes it, with one commit;
4. a tool node killed mid-repair: the agent goes on on another node of the event; when the killed node
   comes back and still fails, it pulls the fix instead of repairing it again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from healloop.client import QueueClient
from tests.agent.conftest import APP_SERVER, DOM_HELPER, NODE_TOKEN, PY, history_data, node_config, page
from tests.node.conftest import free_port, git
from tests.support import QueueServer, wait_final, wait_until

NODES = [f"node-{i}" for i in range(1, 7)]
BUTTONS = {"submit": "Submit order", "cancel": "Cancel", "help": "Help"}

# The suite's own conftest: attach the DOM snapshot the failing test saved, as a user would with
# record_property, so the pytest plugin uploads it with the report.
CONFTEST = """
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
SNAPSHOTS = pathlib.Path(__file__).parents[1] / "artifacts" / "dom"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    snapshot = SNAPSHOTS / f"{item.name}.html"
    if report.failed and report.when == "call" and snapshot.exists():
        report.user_properties.append(("healloop_artifact", str(snapshot)))
"""

SERVICE_TEST = """
import pathlib
import urllib.request

PORT = (pathlib.Path(__file__).parents[1] / ".web-port").read_text().strip()


def test_health():
    assert urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=5).read() == b"ok"
"""


def ui_test(name: str) -> str:
    return (
        f"from dom import find, page\n\n\ndef test_{name}():\n"
        f'    assert find(page(), "[data-cy={name}]", "test_{name}")\n'
    )


def _open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


class Network:
    """A bridge with one network namespace per node, each with one address on it."""

    def __init__(self, names: list[str]) -> None:
        tag = os.getpid() % 100_000
        self.bridge = f"hlbr{tag}"
        # A subnet no interface uses yet: one left behind by a killed run must not take the routes.
        used = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
        third = next(n for n in ((os.getpid() + k) % 250 for k in range(250)) if f" 10.231.{n}." not in used)
        self.subnet = f"10.231.{third}"
        self.gateway = f"{self.subnet}.1"
        self.namespaces = {name: f"hl{tag}-{i}" for i, name in enumerate(names, 1)}
        self.addresses = {name: f"{self.subnet}.{10 + i}" for i, name in enumerate(names, 1)}

    @classmethod
    def create(cls, names: list[str]) -> Network | None:
        """The network, or None where this machine does not allow namespaces (not root, no iproute2)."""
        if os.geteuid() != 0 or shutil.which("ip") is None:
            return None
        net = cls(names)
        try:
            net._ip("link", "add", net.bridge, "type", "bridge")
            net._ip("addr", "add", f"{net.gateway}/24", "dev", net.bridge)
            net._ip("link", "set", net.bridge, "up")
            for i, (name, ns) in enumerate(net.namespaces.items(), 1):
                veth = f"{net.bridge}v{i}"
                net._ip("netns", "add", ns)
                net._ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
                net._ip("link", "set", veth, "master", net.bridge)
                net._ip("link", "set", veth, "up")
                net._ip("-n", ns, "addr", "add", f"{net.addresses[name]}/24", "dev", "eth0")
                net._ip("-n", ns, "link", "set", "eth0", "up")
                net._ip("-n", ns, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as exc:
            net.remove()
            warnings.warn(f"no network namespaces here ({exc.stderr.strip()}): nodes use loopback ports",
                          stacklevel=2)
            return None
        return net

    @staticmethod
    def _ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)

    def inside(self, name: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[name]]

    def remove(self) -> None:
        for ns in self.namespaces.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=30)


@dataclass
class Machine:
    name: str
    root: Path
    repo: Path
    web_port: int
    node_port: int
    queue_url: str
    host: str = "127.0.0.1"  # where its tool node listens
    inside: list[str] = field(default_factory=list)  # runs a command on this machine (its namespace)
    node: subprocess.Popen[bytes] | None = None
    web: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.root / "healloop.toml"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def write_config(self) -> None:
        self.config.write_text(node_config(self.repo, self.web_port, self.root, """
            [node.git]
            remote = "origin"
            branch = "main"

            [node.policy]
            push = true
            pull = true
            """))

    def start_web(self) -> None:
        self.web = subprocess.Popen(
            [*self.inside, PY, "app/server.py", str(self.web_port)], cwd=self.repo, start_new_session=True
        )
        connect = f"import socket; socket.create_connection(('127.0.0.1', {self.web_port}), 1)"
        probe = [*self.inside, PY, "-c", connect]
        wait_until(lambda: subprocess.run(probe, capture_output=True).returncode == 0, interval=0.1,
                   what=f"{self.name}'s app to listen")

    def start_node(self) -> None:
        log = open(self.root / "node.log", "ab")  # noqa: SIM115 - closed with the process
        self.node = subprocess.Popen(
            [*self.inside, PY, "-m", "healloop", "mcp", "serve", "--config", str(self.config),
             "--state-dir", str(self.state_dir), "--host", self.host, "--port", str(self.node_port),
             "--token", NODE_TOKEN,
             "--queue", self.queue_url, "--node", self.name],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_without_healloop_env(),
        )

    def wait_node(self) -> None:
        proc = self.node
        assert proc is not None
        wait_until(lambda: _open(self.host, self.node_port) or proc.poll() is not None, timeout=60,
                   what=f"{self.name}'s tool node to listen")
        assert proc.poll() is None, (self.root / "node.log").read_text()

    def checkout(self) -> None:
        """What CI does on this machine before a run: a clean checkout of the shared branch."""
        git(self.repo, "fetch", "-q", "origin", "main")
        git(self.repo, "reset", "-q", "--hard", "origin/main")

    def run(self, spec: str) -> subprocess.CompletedProcess[str]:
        """This machine's runner: the suite with the healloop pytest plugin reporting as this node."""
        env = _without_healloop_env() | {
            "HEALLOOP_URL": self.queue_url,
            "HEALLOOP_NODE": self.name,
            "HEALLOOP_SPOOL": str(self.root / "spool"),
            "HEALLOOP_REPORT_BUDGET": "60",  # a loaded machine is not an outage
        }
        return subprocess.run(
            [*self.inside, PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", spec],
            cwd=self.repo, env=env, capture_output=True, text=True, timeout=180,
        )

    def head(self) -> str:
        return git(self.repo, "rev-parse", "HEAD").strip()

    def stop(self) -> None:
        for proc in (self.node, self.web):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        pid_files = (self.state_dir / "services").glob("*.pid") if self.state_dir.exists() else []
        groups = [self.web.pid] if self.web else []
        for pid_file in pid_files:
            with contextlib.suppress(ValueError):
                groups.append(int(pid_file.read_text()))
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)


def _without_healloop_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}


@dataclass
class Cluster:
    root: Path
    queue: QueueServer
    remote: Path
    dev: Path
    machines: list[Machine]
    network: Network | None
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)
    agent_logs: list[Path] = field(default_factory=list)

    def client(self) -> QueueClient:
        return QueueClient(self.queue.url)

    def machine(self, name: str) -> Machine:
        return next(m for m in self.machines if m.name == name)

    def push_change(self, message: str, path: str, old: str, new: str) -> str:
        """A developer pushes a change to the shared remote."""
        git(self.dev, "pull", "-q", "--ff-only", "origin", "main")
        target = self.dev / path
        target.write_text(target.read_text().replace(old, new))
        git(self.dev, "commit", "-qam", message)
        git(self.dev, "push", "-q", "origin", "main")
        return git(self.dev, "rev-parse", "HEAD").strip()

    def remote_head(self) -> str:
        return git(self.remote, "rev-parse", "refs/heads/main").strip()

    def commits_for(self, event_id: str) -> list[str]:
        return git(self.remote, "log", "--format=%H", "-E", f"--grep=^Healloop-Event: {event_id}$",
                   "main").split()

    def everywhere(self, spec: str, machines: list[Machine] | None = None) -> list[bool]:
        """Every machine checks out the shared branch and runs ``spec``; True where it passed."""
        machines = machines or self.machines
        with ThreadPoolExecutor(len(machines)) as pool:
            runs = list(pool.map(lambda m: (m.checkout(), m.run(spec))[1], machines))
        return [r.returncode == 0 for r in runs]

    def start_agent(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        path = self.root / f"agent-{len(self.agent_logs)}.log"
        self.agent_logs.append(path)
        log = open(path, "ab")  # noqa: SIM115 - closed with the process
        # The nodes' own hosts on the bridge: an agent sends the node token to no other (loopback aside).
        trust = ["--node-host", f"{self.network.subnet}.0/24"] if self.network else []
        proc = subprocess.Popen(
            [PY, "-m", "healloop", "-v", "agent", "--queue", self.queue.url, "--node-token", NODE_TOKEN,
             "--wait", "1", *trust, *args],
            stdout=log, stderr=subprocess.STDOUT, env=_without_healloop_env() | (env or {}),
        )
        self.agents.append(proc)
        return proc

    def stop_agents(self) -> None:
        for proc in self.agents:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.agents:
            proc.wait(30)
        self.agents.clear()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.agent_logs if p.exists())

    def events(self, **query: Any) -> list[dict[str, Any]]:
        with self.client() as q:
            return q.list(**query)

    def only_event(self, spec: str, test: str) -> dict[str, Any]:
        events = [e for e in self.events(limit=1000) if e["spec"] == spec and e["test"] == test]
        assert len(events) == 1, events
        with self.client() as q:
            return q.get(events[0]["id"])

    def wait_final(self, event_id: str, timeout: float = 120) -> dict[str, Any]:
        with self.client() as q:
            return wait_final(q, event_id, timeout=timeout, logs=self.logs)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    network = Network.create(NODES)
    queue = QueueServer(root / "events.db", *(["--host", network.gateway] if network else [])).start()
    remote = root / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    dev = root / "dev"
    subprocess.run(["git", "init", "-q", "-b", "main", str(dev)], check=True)
    for repo_config in (("user.email", "dev@test.invalid"), ("user.name", "dev")):
        git(dev, "config", *repo_config)
    files = {
        ".gitignore": "artifacts/\n__pycache__/\n.web-port\n",
        "app/index.html": page(BUTTONS),
        "app/server.py": APP_SERVER,
        "tests/conftest.py": CONFTEST,
        "tests/dom.py": DOM_HELPER,
        "tests/test_service.py": SERVICE_TEST,
        **{f"tests/test_{name}.py": ui_test(name) for name in BUTTONS},
    }
    for name, text in files.items():
        (dev / name).parent.mkdir(parents=True, exist_ok=True)
        (dev / name).write_text(text)
    git(dev, "add", "-A")
    git(dev, "commit", "-qm", "the shop and its tests")
    git(dev, "remote", "add", "origin", str(remote))
    git(dev, "push", "-q", "origin", "main")

    machines = []
    for name in NODES:
        home = root / name
        repo = home / "repo"
        home.mkdir()
        subprocess.run(["git", "clone", "-q", "-b", "main", str(remote), str(repo)], check=True)
        git(repo, "config", "user.email", f"{name}@test.invalid")
        git(repo, "config", "user.name", f"healloop on {name}")
        if network:  # a host of its own: the same ports as every other node
            address, inside = network.addresses[name], network.inside(name)
            m = Machine(name, home, repo, 8080, 8790, queue.url, address, inside)
        else:
            m = Machine(name, home, repo, free_port(), free_port(), queue.url)
        (repo / ".web-port").write_text(str(m.web_port))
        m.write_config()
        machines.append(m)
    c = Cluster(root, queue, remote, dev, machines, network)
    try:
        for m in machines:
            m.start_web()
            m.start_node()
        for m in machines:
            m.wait_node()
        with c.client() as q:
            wait_until(lambda: {n["name"] for n in q.nodes()} >= set(NODES), timeout=60,
                       what="all six nodes to register")
        yield c
    finally:
        c.stop_agents()
        for m in machines:
            m.stop()
        queue.stop()
        if network:
            network.remove()


def test_same_failure_on_six_nodes_is_one_event_one_fix_pulled_everywhere(cluster: Cluster) -> None:
    cluster.push_change("app: rename the submit button", "app/index.html",
                        'data-cy="submit"', 'data-cy="submit-order"')
    assert cluster.everywhere("tests/test_submit.py") == [False] * 6
    event = cluster.only_event("tests/test_submit.py", "test_submit")
    assert event["count"] == 6 and sorted(event["nodes"]) == NODES and event["status"] == "queued"
    with cluster.client() as q:
        urls = {n["name"]: n["mcp_url"] for n in q.nodes()}
    assert urls == {m.name: f"http://{m.host}:{m.node_port}/mcp" for m in cluster.machines}
    if cluster.network:  # six hosts: one address each, the same ports everywhere
        assert len({m.host for m in cluster.machines}) == 6
        assert len({m.node_port for m in cluster.machines}) == 1

    for _ in range(3):
        cluster.start_agent("--lease", "15")
    event = cluster.wait_final(event["id"])
    assert event["status"] == "resolved", [(h["to"], h.get("note")) for h in event["history"]]

    [sha] = cluster.commits_for(event["id"])
    assert sha == cluster.remote_head()
    resolved = history_data(event, "resolved")[0]
    fixed_on = event["history"][-1]["data"]["worker"]
    assert fixed_on  # one agent did it
    others = resolved["other_nodes"]
    assert len(others) == 5 and event["node"] not in others
    for name, seen in others.items():
        assert seen["passed"] and seen["pulled"] == sha, (name, seen)
        assert cluster.machine(name).head() == sha  # pulled before rerunning
    assert cluster.machine(event["node"]).head() == sha
    assert "pulled and passing on" in event["history"][-1]["note"]

    # Every machine's next run passes and nothing new is reported.
    assert cluster.everywhere("tests/test_submit.py") == [True] * 6
    assert len([e for e in cluster.events(limit=1000) if e["test"] == "test_submit"]) == 1


def test_a_service_down_on_two_nodes_is_each_nodes_own_event_repaired_there(cluster: Cluster) -> None:
    down = [cluster.machine("node-2"), cluster.machine("node-4")]
    up = [m for m in cluster.machines if m not in down]
    for m in down:
        assert m.web is not None
        os.killpg(m.web.pid, signal.SIGKILL)
        m.web.wait(10)
    assert cluster.everywhere("tests/test_service.py", down) == [False, False]

    events = [e for e in cluster.events(limit=1000) if e["test"] == "test_health"]
    assert sorted(e["node"] for e in events) == ["node-2", "node-4"]
    assert len({e["fingerprint"] for e in events}) == 2
    for e in events:
        final = cluster.wait_final(e["id"])
        assert final["status"] == "resolved", final["history"]
        assert final["nodes"] == [e["node"]] and final["count"] == 1
        [actions] = [d["actions"] for d in history_data(final, "verifying")]
        assert [(a["tool"], a["args"]) for a in actions] == [("service_restart", {"name": "web"})]
        assert "other_nodes" not in history_data(final, "resolved")[0]
    for m in down:
        assert (m.state_dir / "services" / "web.pid").exists()  # restarted by its own node
    for m in up:
        assert m.web is not None and m.web.poll() is None  # untouched
        assert not (m.state_dir / "services" / "web.pid").exists()
    assert cluster.everywhere("tests/test_service.py") == [True] * 6


def test_an_agent_killed_mid_repair_is_replaced_and_the_fix_made_once(cluster: Cluster) -> None:
    cluster.stop_agents()
    cluster.push_change("app: rename the cancel button", "app/index.html",
                        'data-cy="cancel"', 'data-cy="cancel-order"')
    assert cluster.everywhere("tests/test_cancel.py") == [False] * 6
    event = cluster.only_event("tests/test_cancel.py", "test_cancel")
    assert event["count"] == 6

    doomed = cluster.start_agent("--lease", "2", env={"HEALLOOP_AGENT_FAILPOINT": "after_fix"})
    wait_until(lambda: "failpoint after_fix reached" in cluster.logs(), timeout=90,
               what="the first agent's fix")
    fixed_on = cluster.machine(event["node"])
    assert "cancel-order" in (fixed_on.repo / "tests/test_cancel.py").read_text()  # on disk, not committed
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)
    for _ in range(2):
        cluster.start_agent("--lease", "15")
    event = cluster.wait_final(event["id"])
    assert event["status"] == "resolved", [(h["to"], h.get("note")) for h in event["history"]]
    assert any(h["to"] == "queued" and h.get("from") for h in event["history"])  # the lease lapsed
    [sha] = cluster.commits_for(event["id"])
    assert all(m.head() == sha for m in cluster.machines)
    assert cluster.everywhere("tests/test_cancel.py") == [True] * 6


def test_a_node_killed_mid_repair_hands_over_and_catches_up_without_a_second_fix(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.stop_agents()
    cluster.push_change("app: rename the help button", "app/index.html",
                        'data-cy="help"', 'data-cy="help-link"')
    assert cluster.everywhere("tests/test_help.py") == [False] * 6
    event = cluster.only_event("tests/test_help.py", "test_help")
    first = cluster.machine(event["node"])
    before = first.head()

    go_on = tmp_path / "go-on"
    cluster.start_agent("--lease", "15", env={"HEALLOOP_AGENT_FAILPOINT": f"pause_after_fix:{go_on}"})
    wait_until(lambda: "failpoint pause_after_fix reached" in cluster.logs(), timeout=90,
               what="the agent's fix on the first node")
    assert "help-link" in (first.repo / "tests/test_help.py").read_text()
    assert first.node is not None
    first.node.send_signal(signal.SIGKILL)  # the tool node dies with the fix applied, not verified
    first.node.wait(10)
    go_on.touch()
    event = cluster.wait_final(event["id"])
    assert event["status"] == "resolved", [(h["to"], h.get("note")) for h in event["history"]]
    handed_over = [h for h in event["history"] if "became unreachable" in (h.get("note") or "")]
    assert handed_over and handed_over[0]["data"]["unreachable"].keys() == {first.name}, [
        (h["to"], h.get("note")) for h in event["history"]]
    [sha] = cluster.commits_for(event["id"])
    resolved = history_data(event, "resolved")[0]
    assert "error" in resolved["other_nodes"][first.name]
    assert all(m.head() == sha for m in cluster.machines if m is not first)
    assert first.head() == before  # it was down when the fix was pushed

    # The node comes back without its half-done repair and its next run still fails: that is a new
    # event (the old one is resolved), and an agent pulls the pushed fix instead of making another.
    first.start_node()
    first.wait_node()
    git(first.repo, "checkout", "--", ".")
    assert first.run("tests/test_help.py").returncode != 0
    again = [e for e in cluster.events(limit=1000) if e["test"] == "test_help" and e["id"] != event["id"]]
    assert len(again) == 1 and again[0]["nodes"] == [first.name]
    cluster.start_agent("--lease", "15")
    again_final = cluster.wait_final(again[0]["id"])
    assert again_final["status"] == "resolved", again_final["history"]
    caught_up = history_data(again_final, "resolved")[0]
    assert caught_up["playbook"] == "upstream" and caught_up["pull"]["after"] == sha
    assert history_data(again_final, "fixing") == []
    assert cluster.commits_for(again[0]["id"]) == [] and cluster.commits_for(event["id"]) == [sha]
    assert first.head() == sha and first.run("tests/test_help.py").returncode == 0
