"""Benchmark of the queue MCP server (`healloop mcp queue`): what a read through it costs an IDE.

Against real processes on loopback (a `healloop serve` queue on a temporary SQLite file, a
`healloop mcp serve` node registered with it, the queue MCP server started over stdio by the SDK's
client, as VS Code starts it), with one event claimed:
  * node_call read_file through the queue MCP server, sequential calls: median and p90 latency;
  * the same read_file straight to the node on one open MCP session (the baseline: what the agent
    pays per call once its session is open);
  * the same straight to the node opening a new session per call (what the queue server does per
    step, so that no session to a node outlives a call).
Each figure is a median of --rounds rounds of --calls calls; the ratios compare runs of the same process.

Usage: .venv/bin/python bench/ide.py [--rounds 3] [--calls 50]
Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

# Running this file puts bench/ first on sys.path, where bench/mcp.py would shadow the mcp SDK.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import anyio
import httpx
from mcp import Client, StdioServerParameters

from healloop.agent.mcpclient import NodeSession

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not answer at {url} within 60 s")


def setup(root: Path) -> tuple[list[subprocess.Popen[bytes]], str, str, str]:
    repo = root / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "test_ui.py").write_text("def test_submit():\n    assert False, 'no submit'\n")
    (repo / "data.txt").write_text("".join(f"line {i}\n" for i in range(200)))
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    who = ["-c", "user.email=bench@test.invalid", "-c", "user.name=bench"]
    subprocess.run(["git", "-C", str(repo), *who, "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), *who, "commit", "-qm", "x"], check=True)
    (root / "healloop.toml").write_text(textwrap.dedent(f"""
        [node]
        workspace = "{repo}"
        [node.runner]
        kind = "pytest"
        command = ["{PY}", "-m", "pytest", "-p", "no:cacheprovider"]
        """))
    qport, nport = free_port(), free_port()
    queue_url, node_url = f"http://127.0.0.1:{qport}", f"http://127.0.0.1:{nport}/mcp"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    log = open(root / "procs.log", "ab")  # noqa: SIM115 - lives as long as the processes
    queue = subprocess.Popen([PY, "-m", "healloop", "serve", "--db", str(root / "events.db"), "--port",
                              str(qport)], env=env, stdout=log, stderr=log)
    wait_for(f"{queue_url}/healthz", "the queue", queue)
    node = subprocess.Popen([PY, "-m", "healloop", "mcp", "serve", "--config", str(root / "healloop.toml"),
                             "--state-dir", str(root / "state"), "--port", str(nport), "--queue", queue_url,
                             "--node", "node-a"], env=env, stdout=log, stderr=log)
    wait_for(node_url, "the node", node)
    with httpx.Client(base_url=queue_url) as q:
        deadline = time.monotonic() + 30
        while not any(n["name"] == "node-a" for n in q.get("/v1/nodes").json()["nodes"]):
            if time.monotonic() > deadline:
                raise SystemExit("the node did not register")
            time.sleep(0.1)
        failure = {"node": "node-a", "source": "pytest", "spec": "tests/test_ui.py", "test": "test_submit",
                   "message": "no submit"}
        event_id = q.post("/v1/events", json=failure).json()["id"]
    return [queue, node], queue_url, node_url, event_id


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.9)] * 1000


async def timed(n: int, fn) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - started)
    return out


async def measure(queue_url: str, node_url: str, event_id: str, rounds: int, calls: int
                  ) -> dict[str, list[float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    params = StdioServerParameters(command=PY, args=["-m", "healloop", "mcp", "queue", "--queue", queue_url],
                                   env=env)
    medians: dict[str, list[float]] = {"queue MCP server": [], "node, one session": [],
                                       "node, a session per call": []}
    async with Client(params) as ide, NodeSession(node_url) as node:
        claimed = await ide.call_tool("claim_event", {"event_id": event_id})
        if claimed.is_error:
            raise SystemExit(f"claim_event failed: {claimed.content}")

        async def through_queue() -> None:
            r = await ide.call_tool("node_call", {"tool": "read_file", "arguments": {"path": "data.txt"}})
            assert not r.is_error, r.content

        async def direct() -> None:
            await node.call("read_file", path="data.txt")

        async def fresh() -> None:
            async with NodeSession(node_url) as one:
                await one.call("read_file", path="data.txt")

        for _ in range(rounds):
            for name, fn in (("queue MCP server", through_queue), ("node, one session", direct),
                             ("node, a session per call", fresh)):
                medians[name].append(statistics.median(await timed(calls, fn)))
        await ide.call_tool("release_event", {"note": "bench/ide.py done"})
    return medians


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        procs, queue_url, node_url, event_id = setup(Path(tmp))
        try:
            medians = anyio.run(measure, queue_url, node_url, event_id, args.rounds, args.calls)
        finally:
            for p in procs:
                p.terminate()
                p.wait(20)
    base = statistics.median(medians["node, one session"])
    print(f"read_file of a 200-line file, {args.rounds} rounds x {args.calls} sequential calls, loopback; "
          f"median of the rounds' medians (load average {os.getloadavg()[0]:.1f})")
    for name, values in medians.items():
        m = statistics.median(values)
        print(f"  {name:<26} {m * 1000:7.1f} ms   x{m / base:5.1f} of one open session   "
              f"(rounds: {', '.join(f'{v * 1000:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
