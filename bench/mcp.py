"""Benchmark of the MCP tool node over streamable HTTP on loopback.

Measures, with the SDK's client against a real `healloop mcp serve` process:
  * read_file and edit_file calls per second (one client, sequential calls; median of several rounds);
  * the latency the node adds to run_test: median wall time of run_test through MCP minus the median
    wall time of running the same pytest command directly (same argv, same cwd), over N runs each.

Usage: .venv/bin/python bench/mcp.py [--rounds 5] [--calls 200] [--runs 10]
Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

# This file is named mcp.py (the issue asks for bench/mcp.py), and running it puts bench/ first on
# sys.path, where it would shadow the mcp SDK; drop that entry before importing the SDK.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import anyio
from mcp import Client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_workspace(root: Path) -> tuple[Path, Path]:
    repo = root / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "test_bench.py").write_text("def test_ok():\n    assert True\n")
    (repo / "data.txt").write_text("".join(f"line {i}\n" for i in range(200)))
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    config = root / "healloop.toml"
    config.write_text(
        textwrap.dedent(f"""
        [node]
        workspace = "{repo}"
        [node.runner]
        kind = "pytest"
        command = ["{sys.executable}", "-m", "pytest"]
    """)
    )
    return repo, config


async def calls_per_second(client: Client, tool: str, make_args, calls: int) -> float:
    started = time.perf_counter()
    for i in range(calls):
        result = await client.call_tool(tool, make_args(i))
        assert not result.is_error, result.content
    return calls / (time.perf_counter() - started)


async def bench(url: str, repo: Path, rounds: int, calls: int, runs: int) -> None:
    async with Client(url) as client:
        read = [
            await calls_per_second(client, "read_file", lambda i: {"path": "data.txt"}, calls)
            for _ in range(rounds)
        ]

        def flip(i: int) -> dict:
            # Alternates a real change back and forth so every call rewrites the file.
            old, new = ("line 7\n", "LINE 7\n") if i % 2 == 0 else ("LINE 7\n", "line 7\n")
            return {"path": "data.txt", "edits": [{"old_text": old, "new_text": new}]}

        edit = [await calls_per_second(client, "edit_file", flip, calls) for _ in range(rounds)]
        print(f"read_file: {statistics.median(read):.0f} calls/s (median of {rounds} rounds x {calls} calls)")
        print(f"edit_file: {statistics.median(edit):.0f} calls/s (median of {rounds} rounds x {calls} calls)")

        argv = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_bench.py::test_ok",
        ]
        direct, via_mcp = [], []
        for _ in range(runs):  # interleaved, so drift in machine load hits both sides alike
            t0 = time.perf_counter()
            subprocess.run(argv, cwd=repo, capture_output=True, check=True)
            direct.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = await client.call_tool("run_test", {"spec": "tests/test_bench.py", "test": "test_ok"})
            via_mcp.append(time.perf_counter() - t0)
            assert result.structured_content["passed"], result.content
        d, m = statistics.median(direct), statistics.median(via_mcp)
        print(
            f"run_test direct: {d * 1000:.0f} ms, through the node: {m * 1000:.0f} ms "
            f"(medians of {runs}); added {1000 * (m - d):.0f} ms, ratio {m / d:.2f} (target: < 100 ms added)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo, config = make_workspace(Path(tmp))
        port = free_port()
        node = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "healloop",
                "mcp",
                "serve",
                "--config",
                str(config),
                "--state-dir",
                str(Path(tmp) / "state"),
                "--port",
                str(port),
            ],
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
                if time.monotonic() > deadline or node.poll() is not None:
                    sys.exit("the node did not start")
                time.sleep(0.05)
            anyio.run(bench, f"http://127.0.0.1:{port}/mcp", repo, args.rounds, args.calls, args.runs)
        finally:
            node.terminate()
            node.wait(10)


if __name__ == "__main__":
    main()
