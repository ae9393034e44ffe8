"""The agent process itself: a bug while handling one event, SIGTERM mid-work, and --dry-run."""

from __future__ import annotations

import signal

from tests.agent.conftest import git, history_data
from tests.support import wait_until

DOM_ARTIFACT = [{"name": "dom", "content_type": "text/html", "path": "dom/test_submit.html"}]


def test_a_bug_on_one_event_escalates_it_and_the_agent_goes_on(ws):
    head = git(ws.repo, "rev-parse", "HEAD")
    first = ws.report_failure("tests/test_flaky.py", "test_eventually")
    agent = ws.start_agent(env={"HEALLOOP_AGENT_FAILPOINT": "raise_in_analysis"})
    event = ws.wait_final(first)
    assert event["status"] == "escalated", event["history"]
    escalated = event["history"][-1]
    assert escalated["note"] == (
        "agent error: AttributeError: 'Context' object has no attribute 'injected' (failpoint)"
    )
    assert escalated["data"]["error"] == {"type": "AttributeError", "state": "analyzing"}
    assert "Traceback (most recent call last)" in ws.logs()
    assert git(ws.repo, "rev-parse", "HEAD") == head

    ws.rename_submit_button()
    second = ws.report_failure("tests/test_ui.py", "test_submit", artifacts=DOM_ARTIFACT)
    event = ws.wait_final(second)
    assert event["status"] == "resolved", event["history"]
    assert agent.poll() is None  # the same process, still claiming
    workers = {h["worker"] for h in event["history"] if h.get("to") == "processing"}
    assert workers and all(f"-{agent.pid}/" in w for w in workers)
    assert len(ws.commits_for(second)) == 1


def test_sigterm_mid_work_releases_the_event_and_exits_cleanly(ws, tmp_path):
    gate = tmp_path / "go-on"
    first = ws.report_failure("tests/test_flaky.py", "test_eventually")
    agent = ws.start_agent("--lease", "30", env={"HEALLOOP_AGENT_FAILPOINT": f"pause_after_claim:{gate}"})
    wait_until(lambda: "failpoint pause_after_claim reached" in ws.logs(), timeout=30, what="the claim")
    with ws.client() as q:
        assert q.get(first)["status"] == "processing"
        second = q.report(node="node-a", source="pytest", spec="tests/test_ui.py", test="test_submit",
                          message="Expected to find element: [data-cy=submit], but never found it.")["id"]
        agent.send_signal(signal.SIGTERM)
        wait_until(lambda: "agent" in ws.logs() and "stopping" in ws.logs(), timeout=30, what="the signal")
        gate.touch()  # the step in hand may now finish
        assert agent.wait(30) == 0
        event = q.get(first)
        assert event["status"] == "queued", event["history"]
        release = event["history"][-1]
        assert release["to"] == "queued"
        assert "agent stopping (SIGTERM)" in release["note"], release
        assert sum(1 for h in event["history"] if h.get("to") == "processing") == 1
        untouched = q.get(second)
        assert untouched["status"] == "queued"
        assert [h["to"] for h in untouched["history"]] == ["queued"]


def test_dry_run_records_the_edit_and_changes_nothing(ws):
    ws.rename_submit_button()
    spec_before = (ws.repo / "tests/test_ui.py").read_text()
    head = git(ws.repo, "rev-parse", "HEAD")
    event_id = ws.report_failure("tests/test_ui.py", "test_submit", artifacts=DOM_ARTIFACT)
    ws.start_agent("--dry-run")
    event = ws.wait_final(event_id)
    assert event["status"] == "escalated", event["history"]
    assert event["history"][-1]["note"].startswith("dry run: planned and checked; nothing was changed")
    data = history_data(event, "escalated")[0]
    assert data["dry_run"] is True
    assert data["plan"]["details"]["new_locator"] == "css=[data-cy=submit-order]"
    [edit] = data["actions"]
    assert edit["tool"] == "edit_file" and edit["ok"]
    assert '+    assert find(page(), "[data-cy=submit-order]"' in edit["diff"]
    assert (ws.repo / "tests/test_ui.py").read_text() == spec_before
    assert git(ws.repo, "rev-parse", "HEAD") == head
    assert git(ws.repo, "status", "--porcelain") == ""
    assert ws.commits_for(event_id) == []
    assert history_data(event, "fixing") == [] and history_data(event, "verifying") == []
