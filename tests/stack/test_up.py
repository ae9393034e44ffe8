"""`healloop up` as a user runs it: starts the stack, serves reports, and Ctrl-C stops every child."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from tests.support import wait_until


def _children(pid: int) -> set[int]:
    """Processes started by ``pid`` (any depth), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _up(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    (tmp_path / "healloop.toml").write_text(textwrap.dedent("""
        [queue]
        port = 0
        [mcp]
        name = "up-test"
        [node]
        workspace = "."
    """))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    proc = subprocess.Popen([sys.executable, "-m", "healloop", "up"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"queue (http://\S+),", line)
    assert m, line + proc.stdout.read() if proc.poll() is not None else line
    return proc, m.group(1)


def test_a_killed_up_leaves_no_process_behind(tmp_path: Path) -> None:
    proc, _ = _up(tmp_path)
    children = _children(proc.pid)
    assert len(children) >= 3, children
    proc.kill()
    proc.wait(10)
    wait_until(lambda: not [p for p in children if _alive(p)], timeout=30, interval=0.1,
               what="queue, node and agent to exit after `healloop up` was killed")
    if proc.stdout:
        proc.stdout.close()


def test_up_serves_and_sigint_stops_every_child(tmp_path: Path) -> None:
    proc, url = _up(tmp_path)
    try:
        children = _children(proc.pid)
        assert len(children) >= 3, children
        body = {"node": "up-test", "source": "pytest", "spec": "tests/test_a.py", "test": "test_a",
                "message": "assert 1 == 2"}
        event_id = httpx.post(f"{url}/v1/events", json=body, timeout=10).json()["id"]
        event = wait_until(
            lambda: (e := httpx.get(f"{url}/v1/events/{event_id}", timeout=10).json())["status"]
            in ("resolved", "escalated") and e,
            timeout=60, interval=0.2, what="the agent to take the event to a final state",
        )
        assert event["status"] == "escalated"  # no such test here: the agent escalates, never guesses
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert not [p for p in children if _alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
