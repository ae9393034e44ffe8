"""`[node.policy] approve = ["edit"]` end to end with a real queue, node, agent and git workspace: a
verified heal waits on healloop/<event id> with the followed branch untouched; `healloop approve` lands
exactly one commit; `healloop reject` leaves the branch as it was and is remembered (issue 12)."""

from __future__ import annotations

import subprocess
from typing import Any

from tests.agent.conftest import NODE_TOKEN, PY, Workspace, get, git, history_data
from tests.support import wait_until

APPROVE = """
    [node.policy]
    approve = ["edit"]
    """
DOM = [{"name": "dom", "content_type": "text/html", "path": "dom/test_submit.html"}]


def _wait_proposed(ws: Workspace, event_id: str) -> dict[str, Any]:
    with ws.client() as q:
        wait_until(lambda: q.get(event_id)["status"] in ("proposed", "resolved", "escalated"), timeout=90,
                   what="the agent to finish")
        event = q.get(event_id)
    assert event["status"] == "proposed", [(h["to"], h.get("note")) for h in event["history"]]
    return event


def _proposed(ws: Workspace) -> tuple[str, dict[str, Any], str]:
    """A renamed button healed under approval: (event id, the proposed event, HEAD before the agent)."""
    ws.restart_node(APPROVE)
    ws.rename_submit_button()
    head = git(ws.repo, "rev-parse", "HEAD").strip()
    event_id = ws.report_failure("tests/test_ui.py", "test_submit", artifacts=DOM)
    ws.start_agent()
    with ws.client() as q:
        wait_until(lambda: q.get(event_id)["status"] in ("proposed", "resolved", "escalated"), timeout=90,
                   what="the agent to finish")
        event = q.get(event_id)
    assert event["status"] == "proposed", [(h["to"], h.get("note")) for h in event["history"]]
    return event_id, event, head


def _cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "healloop", *args, "--queue", ws.queue.url, "--node-token", NODE_TOKEN],
                          capture_output=True, text=True, timeout=60)


def test_an_approved_proposal_lands_exactly_one_commit_on_the_followed_branch(ws: Workspace) -> None:
    event_id, event, head = _proposed(ws)
    branch = f"healloop/{event_id}"
    # Proposed: the followed branch and the working tree are as they were; the fix waits on its branch.
    assert git(ws.repo, "rev-parse", "HEAD").strip() == head
    assert git(ws.repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(ws.repo, "status", "--porcelain") == ""
    assert '"[data-cy=submit]"' in (ws.repo / "tests/test_ui.py").read_text()
    tip = git(ws.repo, "rev-parse", branch).strip()
    assert git(ws.repo, "rev-parse", f"{tip}^").strip() == head
    assert f"Healloop-Event: {event_id}" in git(ws.repo, "show", "-s", "--format=%B", tip)
    step = event["history"][-1]
    assert step["from"] == "verifying" and f"healloop approve {event_id}" in step["note"]
    proposal = step["data"]["proposal"]
    assert (proposal["branch"], proposal["sha"], proposal["files"]) == (branch, tip, ["tests/test_ui.py"])
    assert '+    assert find(page(), "[data-cy=submit-order]"' in proposal["diff"]
    assert event["proposal_expires_at"]

    run = _cli(ws, "approve", event_id, "--by", "qa-lead")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"landed {branch} on node" in run.stdout and "fast-forwarded" in run.stdout
    assert git(ws.repo, "rev-list", "--count", f"{head}..main").strip() == "1"
    assert git(ws.repo, "rev-parse", "main").strip() == tip
    assert '"[data-cy=submit-order]"' in (ws.repo / "tests/test_ui.py").read_text()
    assert git(ws.repo, "branch", "--list", branch).strip() == ""
    assert git(ws.repo, "status", "--porcelain") == ""
    with ws.client() as q:
        event = q.get(event_id)
    assert event["status"] == "resolved"
    last = event["history"][-1]
    assert last["note"] == "fix approved by qa-lead" and last["data"]["commit"] == {"sha": tip}
    again = _cli(ws, "approve", event_id)
    assert again.returncode != 0 and "only a proposed fix can be approved or rejected" in again.stderr
    assert git(ws.repo, "rev-list", "--count", f"{head}..main").strip() == "1"


def test_a_rejected_proposal_leaves_the_branch_untouched_and_is_not_proposed_again(ws: Workspace) -> None:
    event_id, _, head = _proposed(ws)
    run = _cli(ws, "reject", event_id, "--by", "qa-lead", "--reason", "wrong button")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"healloop/{event_id} on node" in run.stdout and "deleted" in run.stdout
    assert git(ws.repo, "rev-parse", "HEAD").strip() == head
    assert git(ws.repo, "branch", "--list", f"healloop/{event_id}").strip() == ""
    assert git(ws.repo, "status", "--porcelain") == ""
    with ws.client() as q:
        event = q.get(event_id)
        assert event["status"] == "escalated"
        assert event["history"][-1]["note"] == "fix rejected by qa-lead: wrong button"
        q.requeue(event_id, "try again")
    event = ws.wait_final(event_id)
    # The rejected element is set aside: with nothing else that fits, the agent escalates.
    assert event["status"] == "escalated", [(h["to"], h.get("note")) for h in event["history"]]
    assert git(ws.repo, "rev-parse", "HEAD").strip() == head
    assert git(ws.repo, "branch", "--list", "healloop/*").strip() == ""
    assert git(ws.repo, "status", "--porcelain") == ""


def test_an_approved_restart_waits_for_a_person_then_is_carried_out_and_verified(ws: Workspace) -> None:
    ws.restart_node("""
        [node.policy]
        approve = ["restart"]
        """)
    server = ws.start_web()
    server.kill()
    server.wait(10)
    health = f"http://127.0.0.1:{ws.web_port}/health"
    event_id = ws.report_failure("tests/test_service.py", "test_health")
    ws.start_agent()
    event = _wait_proposed(ws, event_id)
    step = event["history"][-1]
    assert step["from"] == "analyzing" and "planned service_restart name=web on " in step["note"]
    assert f"healloop approve {event_id}" in step["note"]
    assert step["data"]["proposal"]["kind"] == "plan" and step["data"]["proposal"]["classes"] == ["restart"]
    assert history_data(event, "fixing") == [] and get(health) == 0  # nothing was restarted

    run = _cli(ws, "approve", event_id, "--by", "ops")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "plan approved (service_restart(name=web) on node" in run.stdout
    assert f"{event_id} is back in the queue" in run.stdout
    event = ws.wait_final(event_id)  # the running agent claims it again and carries the plan out
    assert event["status"] == "resolved", [(h["to"], h.get("note")) for h in event["history"]]
    [approved] = [h for h in event["history"] if (h["data"] or {}).get("decision") == "approved"]
    assert approved["note"].startswith("plan approved by ops") and approved["to"] == "queued"
    [actions] = [d["actions"] for d in history_data(event, "verifying") if "actions" in d]
    assert [(a["tool"], a["args"], a["ok"]) for a in actions] == [("service_restart", {"name": "web"}, True)]
    assert get(health) == 200
    assert [h["to"] for h in event["history"]].count("proposed") == 1  # approved once, not proposed again


def test_a_rejected_rerun_is_never_run_and_the_event_is_escalated(ws: Workspace) -> None:
    ws.restart_node("""
        [node.policy]
        approve = ["rerun"]
        """)
    event_id = ws.report_failure("tests/test_flaky.py", "test_eventually")
    ws.start_agent()
    event = _wait_proposed(ws, event_id)
    step = event["history"][-1]
    assert "planned rerun tests/test_flaky.py::test_eventually unchanged" in step["note"]
    assert step["data"]["proposal"]["classes"] == ["rerun"]
    assert [h["to"] for h in event["history"]] == ["queued", "processing", "analyzing", "proposed"]

    run = _cli(ws, "reject", event_id, "--by", "qa", "--reason", "it books real flights")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "plan rejected (a rerun on node" in run.stdout and f"{event_id} is escalated" in run.stdout
    with ws.client() as q:
        event = q.get(event_id)
    assert event["status"] == "escalated"
    assert event["history"][-1]["note"] == "plan rejected by qa: it books real flights"
    assert history_data(event, "verifying") == []  # never rerun


def test_an_approved_revert_is_verified_on_its_branch_then_lands_on_main(ws: Workspace) -> None:
    ws.restart_node("""
        [node.policy]
        revert = true
        approve = ["revert"]
        """)
    suspect = ws.break_pricing()
    event_id = ws.report_failure("tests/test_pricing.py", "test_total")
    ws.start_agent()
    event = _wait_proposed(ws, event_id)
    branch = f"healloop/revert-{event_id}"
    # Verified on its branch; the node is back on main, untouched, and the branch waits.
    assert git(ws.repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(ws.repo, "rev-parse", "HEAD").strip() == suspect
    assert git(ws.repo, "status", "--porcelain") == ""
    tip = git(ws.repo, "rev-parse", branch).strip()
    assert git(ws.repo, "rev-parse", f"{tip}~1").strip() == suspect
    step = event["history"][-1]
    assert step["from"] == "verifying" and f"proposed on {branch}" in step["note"]
    proposal = step["data"]["proposal"]
    assert (proposal["kind"], proposal["branch"], proposal["sha"], proposal["reverts"]) == (
        "branch", branch, tip, suspect)
    assert "-    return sum(prices) + 1" in proposal["diff"] and proposal["files"] == ["app/pricing.py"]

    run = _cli(ws, "approve", event_id, "--by", "qa-lead")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "fast-forwarded" in run.stdout
    assert git(ws.repo, "rev-parse", "main").strip() == tip
    assert git(ws.repo, "branch", "--list", branch).strip() == ""
    passed, message = ws.run_test("tests/test_pricing.py", "test_total")
    assert passed, message
    with ws.client() as q:
        event = q.get(event_id)
    assert event["status"] == "resolved" and event["history"][-1]["data"]["commit"] == {"sha": tip}
