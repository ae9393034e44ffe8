"""Every attempt is a transaction: on each exit path that does not end in a commit, the workspace after
the event ends is the workspace before the agent touched it (HEAD, branches, `git status`, the bytes of
every file). Real queue, node, git repository and agent processes. Where a second holder (or a second
analysis) must make the same fix again, the llm planner talks to a scripted model over the real
chat-completions protocol, so the test is about undoing and not about how a healer chooses."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agent.conftest import git, history_data
from tests.agent.test_llm_agent import ScriptedModel, call
from tests.support import wait_until

DOM_ARTIFACT = [{"name": "dom", "content_type": "text/html", "path": "dom/test_submit.html"}]
SPEC_RESTORED = [{"path": "tests/test_ui.py", "action": "restored"}]
HARMLESS_EDIT = {  # a comment above the test: passes every guardrail, repairs nothing
    "path": "tests/test_pricing.py",
    "edits": [{"old_text": "def test_total():", "new_text": "# checked by the model\ndef test_total():"}],
}
SELECTOR_FIX = {  # what healing the renamed button writes
    "path": "tests/test_ui.py",
    "edits": [{"old_text": '"[data-cy=submit]"', "new_text": '"[data-cy=submit-order]"'}],
}


def discarded_files(data: dict[str, Any], event_id: str) -> list[dict[str, str]]:
    return [f for d in data.get("discarded") or [] if d["event_id"] == event_id for f in d["files"]]


def scripted(ws, model: ScriptedModel, *args: str, env: dict[str, str] | None = None):
    return ws.start_agent("--planner", "llm", "--llm-base-url", model.url, "--llm-model", "scripted", *args,
                          env=env)


@pytest.fixture
def model_editing_each_attempt() -> Iterator[ScriptedModel]:
    steps: list[dict[str, Any]] = []
    for attempt in range(3):
        steps += [
            {"role": "assistant", "content": None, "tool_calls": [call(attempt, "edit_file", HARMLESS_EDIT)]},
            {"role": "assistant", "content": "added a comment"},
        ]
    m = ScriptedModel(steps)
    yield m
    m.server.shutdown()


def test_verification_failing_on_every_attempt_undoes_each_one_and_escalates(ws, model_editing_each_attempt):
    ws.break_pricing()
    event_id = ws.report_failure("tests/test_pricing.py", "test_total")
    before = ws.snapshot()
    scripted(ws, model_editing_each_attempt)
    event = ws.wait_final(event_id)
    assert event["status"] == "escalated", event["history"]
    assert ws.snapshot() == before
    # Each attempt found the test as it was: its edit applied afresh, never "already in place".
    edits = [d["actions"][0] for d in history_data(event, "verifying")]
    assert len(edits) == 3
    assert all(e["result"]["changed"] and e["result"]["applied"] == 1 for e in edits), edits
    restored = [{"path": "tests/test_pricing.py", "action": "restored"}]
    retries = [h["data"] for h in event["history"] if h.get("from") == "verifying" and h["to"] == "analyzing"]
    assert [discarded_files(d, event_id) for d in retries] == [restored, restored]
    assert discarded_files(history_data(event, "escalated")[0], event_id) == restored
    assert ws.node_call("pending_changes")["events"] == []


@pytest.fixture
def model_fixing_the_selector() -> Iterator[ScriptedModel]:
    """The same fix, proposed by every planning (this event's two holders, or two analyses)."""
    steps: list[dict[str, Any]] = []
    for planning in range(2):
        steps += [
            {"role": "assistant", "content": None, "tool_calls": [call(planning, "edit_file", SELECTOR_FIX)]},
            {"role": "assistant", "content": "the submit button is data-cy=submit-order now"},
        ]
    m = ScriptedModel(steps)
    yield m
    m.server.shutdown()


def assert_healed_once(ws, event_id: str, before: dict[str, Any]) -> None:
    """One commit on top of where the workspace was, holding exactly the selector fix."""
    [sha] = ws.commits_for(event_id)
    assert git(ws.repo, "rev-parse", "HEAD").strip() == sha
    assert git(ws.repo, "rev-parse", "HEAD~1").strip() == before["head"]
    assert git(ws.repo, "show", "--format=", "--name-only", sha).split() == ["tests/test_ui.py"]
    spec = before["files"]["tests/test_ui.py"].decode().replace("[data-cy=submit]", "[data-cy=submit-order]")
    assert (ws.repo / "tests/test_ui.py").read_text() == spec
    assert git(ws.repo, "status", "--porcelain") == ""
    assert ws.node_call("pending_changes")["events"] == []


@pytest.fixture
def model_restarting_twice() -> Iterator[ScriptedModel]:
    m = ScriptedModel([
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                call(1, "edit_file", HARMLESS_EDIT),
                call(2, "service_restart", {"name": "web"}),
                call(3, "service_restart", {"name": "web"}),
            ],
        },
        {"role": "assistant", "content": "edited, and restarted web twice to be sure"},
    ])
    yield m
    m.server.shutdown()


def test_a_guardrail_refusing_an_action_after_an_edit_was_applied_undoes_the_edit(ws, model_restarting_twice):
    # Proposed together, both restarts pass the check at planning time; when they run, the second one
    # is over the node's cap of one restart per event, after the edit and the first restart are done.
    ws.restart_node("""
        [node.policy]
        restarts_per_event = 1
        """)
    ws.break_pricing()
    event_id = ws.report_failure("tests/test_pricing.py", "test_total")
    before = ws.snapshot()
    scripted(ws, model_restarting_twice)
    event = ws.wait_final(event_id)
    assert event["status"] == "escalated", event["history"]
    data = history_data(event, "escalated")[0]
    assert data["patch"]["tool"] == "service_restart" and data["refused"]
    assert [(a["tool"], a["ok"]) for a in data["actions"]] == [
        ("edit_file", True), ("service_restart", True), ("service_restart", False)
    ]
    assert discarded_files(data, event_id) == [{"path": "tests/test_pricing.py", "action": "restored"}]
    assert ws.snapshot() == before


def test_an_unexpected_error_after_the_fix_undoes_it_and_escalates(ws):
    ws.rename_submit_button()
    event_id = ws.report_failure("tests/test_ui.py", "test_submit", artifacts=DOM_ARTIFACT)
    before = ws.snapshot()
    ws.start_agent(env={"HEALLOOP_AGENT_FAILPOINT": "raise_after_fix"})
    event = ws.wait_final(event_id)
    assert event["status"] == "escalated", event["history"]
    escalated = event["history"][-1]
    assert escalated["note"] == (
        "agent error: AttributeError: 'Plan' object has no attribute 'injected' (failpoint)"
    )
    assert discarded_files(escalated["data"], event_id) == SPEC_RESTORED
    assert ws.snapshot() == before
    assert ws.commits_for(event_id) == []


def test_sigterm_after_the_fix_undoes_it_releases_and_the_next_holder_finishes(
    ws, tmp_path, model_fixing_the_selector
):
    ws.rename_submit_button()
    event_id = ws.report_failure("tests/test_ui.py", "test_submit", artifacts=DOM_ARTIFACT)
    before = ws.snapshot()
    gate = tmp_path / "go-on"
    agent = scripted(ws, model_fixing_the_selector, "--lease", "30",
                     env={"HEALLOOP_AGENT_FAILPOINT": f"pause_after_fix:{gate}"})
    wait_until(lambda: "failpoint pause_after_fix reached" in ws.logs(), timeout=60, what="the fix")
    assert "[data-cy=submit-order]" in (ws.repo / "tests/test_ui.py").read_text()
    agent.send_signal(signal.SIGTERM)
    wait_until(lambda: "stopping" in ws.logs(), timeout=30, what="the signal")
    gate.touch()
    assert agent.wait(30) == 0
    with ws.client() as q:
        event = q.get(event_id)
    assert event["status"] == "queued", event["history"]
    release = event["history"][-1]["note"]
    assert release.startswith("agent stopping (SIGTERM) after finishing the fixing step"), release
    assert f"undid {event_id}'s changes on node-a: tests/test_ui.py restored" in release
    assert ws.snapshot() == before

    scripted(ws, model_fixing_the_selector)
    event = ws.wait_final(event_id)
    assert event["status"] == "resolved", event["history"]
    assert_healed_once(ws, event_id, before)


def test_kill_9_after_the_fix_the_next_agent_undoes_it_and_finishes_with_one_commit(
    ws, model_fixing_the_selector
):
    ws.rename_submit_button()
    event_id = ws.report_failure("tests/test_ui.py", "test_submit", artifacts=DOM_ARTIFACT)
    before = ws.snapshot()
    first = scripted(ws, model_fixing_the_selector, "--lease", "2",
                     env={"HEALLOOP_AGENT_FAILPOINT": "after_fix"})
    wait_until(lambda: "failpoint after_fix reached" in ws.logs(), timeout=60, what="the first agent's fix")
    assert '"[data-cy=submit-order]"' in (ws.repo / "tests/test_ui.py").read_text()  # on disk, uncommitted
    [pending] = ws.node_call("pending_changes")["events"]
    assert pending["event_id"] == event_id and pending["files"] == ["tests/test_ui.py"]
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    scripted(ws, model_fixing_the_selector, "--lease", "10")
    event = ws.wait_final(event_id)
    assert event["status"] == "resolved", [(h["to"], h.get("note")) for h in event["history"]]
    assert any(h.get("to") == "queued" for h in event["history"])  # the first lease lapsed
    # The second holder undid the dead one's edit before anything else, then made its own.
    second_start = [h for h in event["history"] if h.get("to") == "analyzing"][-1]
    assert discarded_files(second_start["data"], event_id) == SPEC_RESTORED
    second_fix = history_data(event, "verifying")[-1]["actions"][0]
    assert second_fix["tool"] == "edit_file" and second_fix["result"]["changed"] is True
    assert_healed_once(ws, event_id, before)


def test_an_event_escalated_after_lapses_is_cleaned_up_by_the_next_agent_on_the_node(ws):
    ws.rename_submit_button()
    suspect = ws.break_pricing()
    dead = ws.report_failure("tests/test_ui.py", "test_submit", artifacts=DOM_ARTIFACT)
    before = ws.snapshot()
    first = ws.start_agent("--lease", "2", env={"HEALLOOP_AGENT_FAILPOINT": "after_fix"})
    wait_until(lambda: "failpoint after_fix reached" in ws.logs(), timeout=60, what="the first agent's fix")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    with ws.client() as q:
        # Two more holders die without a word (claims nobody heartbeats): the third lapse escalates.
        for lapses in (1, 2):
            wait_until(lambda n=lapses: q.get(dead)["lapses"] == n, timeout=30, what=f"lapse {lapses}")
            assert q.claim(f"doomed-{lapses}", wait=10, lease=1)["event"]["id"] == dead
        wait_until(lambda: q.get(dead)["status"] == "escalated", timeout=30, what="the third lapse")
    assert '"[data-cy=submit-order]"' in (ws.repo / "tests/test_ui.py").read_text()  # nobody undid it yet

    other = ws.report_failure("tests/test_pricing.py", "test_total")  # any event on this node
    ws.start_agent()
    event = ws.wait_final(other)
    assert event["status"] == "escalated", event["history"]
    assert history_data(event, "escalated")[0]["report"]["suspect_commit"]["sha"] == suspect
    first_move = next(h for h in event["history"] if h.get("to") == "analyzing")
    assert discarded_files(first_move["data"], dead) == SPEC_RESTORED
    assert ws.snapshot() == before
    assert ws.node_call("pending_changes")["events"] == []


def test_a_revert_whose_verification_fails_goes_back_to_the_original_branch(ws):
    ws.restart_node("""
        [node.policy]
        revert = true
        """)
    ws.break_pricing()
    worse = ws.commit("pricing: a bigger fee", {
        "app/pricing.py": "def total(prices):\n    return sum(prices) + 2\n"
    })
    event_id = ws.report_failure("tests/test_pricing.py", "test_total")
    before = ws.snapshot()
    ws.start_agent()
    event = ws.wait_final(event_id)
    assert event["status"] == "escalated", event["history"]
    [revert] = history_data(event, "verifying")[0]["actions"]
    branch = f"healloop/revert-{event_id}"
    assert revert["tool"] == "git_revert" and revert["ok"] and revert["args"]["revision"] == worse
    [retry] = [h["data"] for h in event["history"] if h.get("from") == "verifying"]
    [undone] = retry["discarded"]
    assert undone["head"] == {"branch": branch, "back_to": "main", "switched": True, "deleted": True}
    assert ws.snapshot() == before  # main, at the bad commit, and no healloop/ branch left
    assert git(ws.repo, "branch", "--list", branch).strip() == ""
    assert event["history"][-1]["note"].startswith("escalated: assertion_mismatch"), event["history"][-1]


def hold_the_spec(ws) -> None:
    """Another client holds the spec for its own event (an agent on another event, a person in VS Code)."""
    ws.node_call("edit_file", path="tests/test_ui.py", event_id="evt_other", edits=[
        {"old_text": "from dom import find, page\n", "new_text": "from dom import find, page  # wip\n"}
    ])


def test_an_edit_of_a_file_another_event_holds_waits_for_it_then_goes_on(ws, model_fixing_the_selector):
    ws.rename_submit_button()
    event_id = ws.report_failure("tests/test_ui.py", "test_submit", artifacts=DOM_ARTIFACT)
    before = ws.snapshot()
    hold_the_spec(ws)
    scripted(ws, model_fixing_the_selector, "--lease", "10")
    wait_until(lambda: "is held by event evt_other" in ws.logs(), timeout=60, what="the agent to wait")
    with ws.client() as q:
        assert q.get(event_id)["status"] == "fixing"
    assert ws.node_call("discard_changes", event_id="evt_other")["files"][0]["action"] == "restored"
    event = ws.wait_final(event_id)
    assert event["status"] == "resolved", event["history"]
    waited = [h for h in event["history"] if "held by another event" in (h.get("note") or "")]
    assert waited and waited[0]["to"] == "analyzing"
    refused = waited[0]["data"]["actions"][0]
    assert refused["tool"] == "edit_file" and not refused["ok"] and "evt_other" in refused["error"]
    assert_healed_once(ws, event_id, before)


def test_the_rules_planner_heals_to_the_same_element_after_an_unverified_attempt(ws):
    ws.rename_submit_button()
    event_id = ws.report_failure("tests/test_ui.py", "test_submit", artifacts=DOM_ARTIFACT)
    before = ws.snapshot()
    hold_the_spec(ws)
    ws.start_agent("--lease", "10")
    wait_until(lambda: "is held by event evt_other" in ws.logs(), timeout=60, what="the agent to wait")
    ws.node_call("discard_changes", event_id="evt_other")
    event = ws.wait_final(event_id)
    assert event["status"] == "resolved", event["history"]
    assert_healed_once(ws, event_id, before)


def test_an_edit_of_a_file_held_for_too_long_is_escalated_and_the_holder_left_alone(ws):
    ws.rename_submit_button()
    event_id = ws.report_failure("tests/test_ui.py", "test_submit", artifacts=DOM_ARTIFACT)
    hold_the_spec(ws)
    before = ws.snapshot()
    ws.start_agent("--lease", "1")  # waits two leases, heartbeating
    event = ws.wait_final(event_id)
    assert event["status"] == "escalated", event["history"]
    note = event["history"][-1]["note"]
    assert "tests/test_ui.py has uncommitted changes for event evt_other on node node-a" in note, note
    assert "discard_changes" in note
    assert history_data(event, "escalated")[0]["held_by"] == {
        "event_id": "evt_other", "path": "tests/test_ui.py", "node": "node-a"
    }
    assert ws.snapshot() == before  # the holder's change is still there, as it was
    [held] = ws.node_call("pending_changes")["events"]
    assert held["event_id"] == "evt_other"
