"""`healloop forge sync` end to end, for a forge that cannot reach the queue's webhook: with a real queue,
node, agent, bare remote and fake forge, pull requests merged or closed on the forge decide their events
as the webhook would, the node's branches of decided proposals are deleted (the webhook's too), and what
cannot be checked is said with a non-zero exit; `--every` passes again until SIGTERM (issue 12)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.agent.conftest import NODE_TOKEN, PY, Made, git, last_step, proposed, rename
from tests.node.conftest import free_port
from tests.queue.test_api_forge_hooks import github_closed, send_github
from tests.support import wait_until


def sync(queue_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "healloop", "forge", "sync", "--queue", queue_url, "--node-token",
                           NODE_TOKEN, *args], capture_output=True, text=True, timeout=120)


def test_sync_decides_merged_and_closed_pull_requests_and_deletes_decided_branches(
    forge_ws: Callable[..., Made]
) -> None:
    ws, forge, _ = forge_ws("github")
    fruits = ("apple", "banana", "cherry", "damson")
    for fruit in fruits:
        rename(ws, fruit)
    merged, closed, hooked, still_open = proposed(ws, *fruits)
    number = {p["head"]["ref"].removeprefix("healloop/"): p["number"] for p in forge.pulls["github"]}
    tip = git(ws.repo, "rev-parse", f"healloop/{merged}").strip()
    # On the forge: one merged, one closed; one closed while the webhook could still reach the queue.
    forge.merge("github", number[merged], by="octocat", sha=tip)
    forge.close("github", number[closed], by="qa-lead")
    forge.close("github", number[hooked], by="lee")
    with httpx.Client(base_url=ws.queue.url, timeout=30) as hook:
        r = send_github(hook, github_closed(f"healloop/{hooked}", merged=False, number=number[hooked],
                                            by="lee"))
        assert r.status_code == 200 and r.json()["status"] == "escalated", r.text
    assert git(ws.repo, "branch", "--list", f"healloop/{hooked}").strip()  # the webhook leaves it there

    run = sync(ws.queue.url)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert sorted(lines) == sorted([
        f"{merged}: pull request #{number[merged]} merged on github by octocat: resolved; "
        f"deleted healloop/{merged} on node node-a (the event is resolved)",
        f"{closed}: pull request #{number[closed]} closed on github without merging by qa-lead: escalated; "
        f"deleted healloop/{closed} on node node-a (the event is escalated)",
        f"{hooked}: deleted healloop/{hooked} on node node-a (the event is escalated)",
    ]), run.stdout
    assert "forge sync: 3 pull request(s) checked, 3 event(s) acted on, 0 could not be checked" in run.stderr
    # Decided as the webhook decides: the same notes, who, the merge commit.
    step = last_step(ws, merged)
    assert step["note"] == f"fix approved by octocat: pull request #{number[merged]} merged on github"
    assert step["data"]["commit"] == {"sha": tip} and step["data"]["via"] == "healloop forge sync"
    assert step["data"]["pull_request"]["number"] == number[merged] and step["data"]["merged"] is True
    step = last_step(ws, closed)
    assert step["note"] == "fix rejected by qa-lead: pull request closed without merging"
    assert (step["status"], last_step(ws, still_open)["status"]) == ("escalated", "proposed")
    # Only the open proposal's branch is left; the followed branch did not move.
    assert git(ws.repo, "branch", "--list", "healloop/*").split() == [f"healloop/{still_open}"]
    again = sync(ws.queue.url)
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr
    assert "1 pull request(s) checked, 0 event(s) acted on" in again.stderr


def test_sync_says_what_it_could_not_check_and_passes_again_until_sigterm(
    forge_ws: Callable[..., Made], tmp_path: Path
) -> None:
    ws, forge, _ = forge_ws("gitea")
    rename(ws, "apple")
    [event_id] = proposed(ws, "apple")
    forge.stop()
    with ws.client() as q:
        q.register_node("node-gone", f"http://127.0.0.1:{free_port()}/mcp")
    run = sync(ws.queue.url)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout == ""
    assert f"could not check: {event_id}: pull request #1: forge_pull_request_status: cannot reach gitea at" \
        in run.stderr
    assert "could not check: node node-gone: cannot open an MCP session to the node at" in run.stderr
    assert last_step(ws, event_id)["status"] == "proposed"
    assert git(ws.repo, "branch", "--list", f"healloop/{event_id}").strip()

    log = tmp_path / "sync.log"
    with open(log, "w") as err:
        argv = [PY, "-m", "healloop", "forge", "sync", "--queue", ws.queue.url, "--node-token", NODE_TOKEN]
        proc = subprocess.Popen([*argv, "--every", "1"], stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until(lambda: log.read_text().count("forge sync: ") >= 2, timeout=60,
                   what="two passes of forge sync --every")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 1  # the last pass could not check everything
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
