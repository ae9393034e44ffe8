"""Several agent processes at once, and an agent killed with kill -9 in the middle of a fix."""

from __future__ import annotations

import signal

from tests.agent.conftest import FRUITS, git, history_data
from tests.support import wait_until


def _rename(ws, names):
    html = (ws.repo / "app/index.html").read_text()
    for name in names:
        html = html.replace(f'data-cy="{name}"', f'data-cy="{name}-button"')
    ws.commit("app: rename buttons", {"app/index.html": html})


def test_four_agents_twenty_events_each_processed_once(ws):
    _rename(ws, FRUITS)
    ids = {}
    for fruit in FRUITS:
        spec = f"tests/many/test_{fruit}.py"
        ids[fruit] = ws.report_failure(
            spec,
            f"test_{fruit}",
            artifacts=[{"name": "dom", "content_type": "text/html", "path": f"dom/test_{fruit}.html"}],
        )
    for _ in range(4):
        ws.start_agent()
    events = {fruit: ws.wait_final(event_id, timeout=150) for fruit, event_id in ids.items()}
    workers = set()
    for fruit, event in events.items():
        assert event["status"] == "resolved", (fruit, event["history"])
        claims = [h for h in event["history"] if h.get("to") == "processing"]
        assert len(claims) == 1, (fruit, event["history"])  # claimed once, never lapsed or released
        workers.add(claims[0]["worker"])
        assert len(ws.commits_for(event["id"])) == 1
        sha = ws.commits_for(event["id"])[0]
        # Each fix commit holds exactly its own spec: no agent swept another's edit into its commit.
        assert git(ws.repo, "show", "--format=", "--name-only", sha).split() == [
            f"tests/many/test_{fruit}.py"
        ]
        assert f'"[data-cy={fruit}-button]"' in (ws.repo / f"tests/many/test_{fruit}.py").read_text()
    assert len(workers) > 1  # the work was shared
    assert git(ws.repo, "status", "--porcelain") == ""


def test_agent_killed_mid_fix_is_finished_by_another_without_a_second_fix(ws):
    _rename(ws, ["submit"])
    event_id = ws.report_failure(
        "tests/test_ui.py",
        "test_submit",
        artifacts=[{"name": "dom", "content_type": "text/html", "path": "dom/test_submit.html"}],
    )
    first = ws.start_agent("--lease", "2", env={"HEALLOOP_AGENT_FAILPOINT": "after_fix"})
    wait_until(lambda: "failpoint after_fix reached" in ws.logs(), timeout=60, what="the first agent's fix")
    spec = (ws.repo / "tests/test_ui.py").read_text()
    assert '"[data-cy=submit-button]"' in spec  # the fix is on disk, not committed, not verified
    assert ws.commits_for(event_id) == []
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    ws.start_agent("--lease", "10")
    event = ws.wait_final(event_id)
    assert event["status"] == "resolved", [(h["to"], h.get("note")) for h in event["history"]][4:]
    assert any(h.get("to") == "queued" for h in event["history"])  # the first lease lapsed
    assert len(ws.commits_for(event_id)) == 1
    assert (ws.repo / "tests/test_ui.py").read_text() == spec
    assert spec.count("data-cy=submit-button") == 1
    second_fix = history_data(event, "verifying")[-1]["actions"][0]
    assert second_fix["tool"] == "edit_file" and second_fix["result"]["changed"] is False
    assert second_fix["result"]["already_applied"] == 1
