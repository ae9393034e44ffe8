"""Spool claims name their flusher by pid and start time: a dead flusher's claim is taken back even when
its pid now belongs to another live process; older `.sending-<pid>` claims are still read; and a claim
made by the JavaScript core, by a node process still alive, is left alone until that process ends."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from healloop.sources.claims import STALE_AFTER_S, holder, start_time
from healloop.sources.reporter import Reporter
from healloop.sources.settings import SourceSettings
from healloop.sources.spool import Spool, SpoolEntry
from tests.support import QueueServer

REPO = Path(__file__).resolve().parents[2]
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def spooled(spool: Spool, n: int = 1) -> Path:
    report = {"node": "node-a", "source": "pytest", "spec": f"tests/test_{n}.py", "test": f"test_{n}",
              "message": "AssertionError", "idempotency_key": f"key-{n}"}
    return spool.put(SpoolEntry(report=report))


def claimed_as(entry: Path, held_by: str) -> Path:
    claim = entry.with_name(f"{entry.name}.sending-{held_by}")
    os.rename(entry, claim)
    return claim


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@needs_proc
def test_a_claim_whose_pid_was_reused_is_taken_back_and_delivered(server: QueueServer, tmp_path: Path):
    spool = Spool(tmp_path / "spool")
    parent = os.getppid()  # alive, and not the flusher that made the claim: its start time differs
    real = start_time(parent)
    assert real is not None
    claim = claimed_as(spooled(spool), f"{parent}-{int(real) + 1}")
    assert spool.pending() == [claim]
    r = Reporter(SourceSettings(url=server.url, node="node-a", spool_dir=spool.dir, budget_s=5))
    assert r.flush()["flushed"] == 1
    assert list(spool.dir.iterdir()) == []
    with server.client() as c:
        [event] = c.get("/v1/events").json()["events"]
    assert event["spec"] == "tests/test_1.py"


@needs_proc
def test_a_live_flushers_claim_is_left_alone(tmp_path: Path):
    spool = Spool(tmp_path / "spool")
    entry = spool.claim(spooled(spool))
    assert entry is not None and entry.path is not None
    assert entry.path.name.endswith(f".sending-{os.getpid()}-{start_time(os.getpid())}")
    assert holder() == f"{os.getpid()}-{start_time(os.getpid())}"
    assert spool.pending() == []


def test_older_pid_only_claims_are_still_read(tmp_path: Path):
    spool = Spool(tmp_path / "spool")
    dead = claimed_as(spooled(spool, 1), str(dead_pid()))
    live_fresh = claimed_as(spooled(spool, 2), str(os.getppid()))
    live_old = claimed_as(spooled(spool, 3), str(os.getppid()))
    hours_ago = time.time() - STALE_AFTER_S - 60
    os.utime(live_old, (hours_ago, hours_ago))
    plain = spooled(spool, 4)
    (spool.dir / "x.json.sending-abc").write_text("{}")  # no claim of ours: never taken
    # The pid alone cannot tell a reused pid from the flusher: a live one's claim waits out its age.
    assert set(spool.pending()) == {dead, live_old, plain}
    assert live_fresh not in spool.pending()


@needs_proc
@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_a_claim_of_the_javascript_core_is_judged_the_same_way(tmp_path: Path):
    spool = Spool(tmp_path / "spool")
    entry = spooled(spool)
    script = ("const { Spool } = require(process.argv[1]); const s = new Spool(process.argv[2]);"
              "const e = s.claim(process.argv[3]); console.log(require('node:path').basename(e.claimed));"
              "process.stdin.resume(); process.stdin.on('end', () => process.exit(0));")
    core = str(REPO / "integrations/core")
    node = subprocess.Popen(["node", "-e", script, core, str(spool.dir), str(entry)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert node.stdout is not None
        name = node.stdout.readline().strip()
        assert name == f"{entry.name}.sending-{node.pid}-{start_time(node.pid)}"
        assert spool.pending() == []  # its flusher is alive
    finally:
        assert node.stdin is not None
        node.stdin.close()
        node.wait(10)
    assert spool.pending() == [spool.dir / name]
