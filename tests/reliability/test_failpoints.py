"""Seeded fault injection at every named failpoint of a repair (agent/worker.py's FAILPOINT_ENV list and
node/journal.py's), on real queue, node, git and agent processes. A seed picks the order of the
failpoints and, where either could die there, whether the agent, the node or both are killed (kill -9).
After each fault the system recovers as it would in production (a lease lapses, a person requeues an
escalated event, the node is started again) and the repair finishes. Then: the fix was applied once
(one commit carries the event id), and the workspace is clean (`git status` empty, nothing pending).

The seed is printed; HEALLOOP_RELIABILITY_SEED=N repeats a run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import httpx
import pytest

from healloop.agent.worker import FAILPOINT_ENV as AGENT_FAILPOINT
from healloop.node.journal import FAILPOINT_ENV as NODE_FAILPOINT
from tests.agent.conftest import FRUITS, git, make_ws, ws  # noqa: F401 - fixtures of the agent tests
from tests.node.conftest import port_open
from tests.support import wait_until

SEED = int(os.environ.get("HEALLOOP_RELIABILITY_SEED", random.randrange(1 << 30)))
# failpoint -> who may be killed there. The agent sleeps forever at after_fix and after_commit, so it
# is always killed there (and the node with it when the seed says "both"); raise_* are bugs, not kills.
FAILPOINTS: dict[str, tuple[str, ...]] = {
    "pause_after_claim": ("agent", "node"),
    "after_fix": ("agent", "both"),
    "pause_after_fix": ("agent", "node"),
    "after_commit": ("agent", "both"),
    "raise_in_analysis": ("bug",),
    "raise_after_fix": ("bug",),
    "after_journal": ("node",),  # the node kills itself between journaling an edit and writing it
}


@pytest.mark.timeout(420)
def test_every_failpoint_in_a_seeded_order_leaves_one_fix_and_a_clean_workspace(
        ws, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    rng = random.Random(SEED)
    plan = [(point, rng.choice(victims)) for point, victims in rng.sample(list(FAILPOINTS.items()),
                                                                           len(FAILPOINTS))]
    print(f"seed {SEED}: {plan} (HEALLOOP_RELIABILITY_SEED={SEED} repeats it)")
    for n, (point, victim) in enumerate(plan):
        fruit = FRUITS[n]
        started = time.monotonic()
        try:
            fault(ws, tmp_path, monkeypatch, fruit, point, victim)
            print(f"{point} killing {victim}: recovered in {time.monotonic() - started:.1f} s")
        except AssertionError as exc:
            raise AssertionError(f"seed {SEED}, {point} killing {victim}: {exc}") from None


def fault(ws, tmp_path, monkeypatch, fruit: str, point: str, victim: str) -> None:  # noqa: F811
    html = (ws.repo / "app/index.html").read_text().replace(f'data-cy="{fruit}"', f'data-cy="{fruit}-item"')
    ws.commit(f"app: rename the {fruit} button", {"app/index.html": html})
    event_id = ws.report_failure(f"tests/many/test_{fruit}.py", f"test_{fruit}", artifacts=[
        {"name": "dom", "content_type": "text/html", "path": f"dom/test_{fruit}.html"}])
    gate = tmp_path / f"go-on-{fruit}"
    value = f"{point}:{gate}" if point.startswith("pause_") else point
    if point == "after_journal":
        kill_node(ws)
        monkeypatch.setenv(NODE_FAILPOINT, "after_journal")
        start_node(ws)
        monkeypatch.delenv(NODE_FAILPOINT)
        faulty = ws.start_agent("--lease", "2")
    else:
        faulty = ws.start_agent("--lease", "2", env={AGENT_FAILPOINT: value})

    if victim == "bug":
        with ws.client() as q:
            wait_until(lambda: q.get(event_id)["status"] == "escalated", timeout=60,
                       what="the bug to escalate")
    elif point == "after_journal":
        node = [p for p in ws.procs if "mcp" in p.args and "serve" in p.args][-1]
        assert node.wait(60) == -signal.SIGKILL, "the node did not die at after_journal"
    else:
        wait_until(lambda: f"failpoint {point} reached" in ws.logs(), timeout=60, what=f"failpoint {point}")
        if victim in ("agent", "both"):
            faulty.send_signal(signal.SIGKILL)
            faulty.wait(10)
        if victim in ("node", "both"):
            kill_node(ws)
        gate.touch()  # a paused agent that was not killed goes on, and finds its node gone
    stop(faulty)
    if not node_alive(ws):
        start_node(ws)

    with ws.client() as q:
        # A lapsed lease puts the event back by itself; an escalated one waits for a person.
        wait_until(lambda: q.get(event_id)["status"] in ("queued", "escalated"), timeout=30,
                   what="the event to be free again")
        if q.get(event_id)["status"] == "escalated":
            r = httpx.post(f"{ws.queue.url}/v1/events/{event_id}/requeue", json={"note": "fault injected"})
            assert r.status_code == 200, r.text
    healer = ws.start_agent("--lease", "10")
    event = ws.wait_final(event_id, timeout=90)
    stop(healer)
    steps = "\n".join(f"  -> {h['to']}: {h.get('note')}" for h in event["history"])
    assert event["status"] == "resolved", f"{event_id} ended {event['status']}:\n{steps}\n{ws.logs()[-3000:]}"
    assert len(ws.commits_for(event_id)) == 1, f"the fix was committed {len(ws.commits_for(event_id))} times"
    assert git(ws.repo, "status", "--porcelain") == "", git(ws.repo, "status")
    assert ws.node_call("pending_changes")["events"] == []
    assert f'"[data-cy={fruit}-item]"' in (ws.repo / f"tests/many/test_{fruit}.py").read_text()


def node_alive(ws) -> bool:  # noqa: F811
    return any("mcp" in p.args and "serve" in p.args and p.poll() is None for p in ws.procs)


def start_node(ws) -> None:  # noqa: F811
    ws.start_node()
    # The queue still lists the node from before, so registering proves nothing: wait for its port.
    wait_until(lambda: port_open(ws.node_port), timeout=30, what="the node to listen again")


def kill_node(ws) -> None:  # noqa: F811
    for p in ws.procs:
        if "mcp" in p.args and "serve" in p.args and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(10)
    wait_until(lambda: not port_open(ws.node_port), what="the node's port to close")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
