"""One renamed button breaks five tests in four files: one agent heals every use, commits once with a
trailer per event, and resolves all five events, each pointing to that commit. Real queue, node, git
workspace and agent processes."""

from __future__ import annotations

from tests.agent.conftest import git, history_data

USES = {  # spec -> tests in it; each uses the submit button once, test_ui.py's two tests twice
    "tests/test_ui.py": ["test_submit", "test_submit_again"],
    "tests/checkout/test_pay.py": ["test_pay"],
    "tests/checkout/test_confirm.py": ["test_confirm"],
    "tests/test_order.py": ["test_order"],
}


def _spec(tests: list[str]) -> str:
    body = "from dom import find, page\n"
    for name in tests:
        body += f'\n\ndef {name}():\n    assert find(page(), "[data-cy=submit]", "{name}")\n'
    return body


def test_one_renamed_button_is_one_commit_for_every_test_it_broke(ws):
    files = {path: _spec(t) for path, t in USES.items()}
    # A spec that uses the button but reported nothing (not run here): named, never edited by guess.
    files["tests/test_later.py"] = _spec(["test_later"])
    ws.commit("tests: more tests that submit the order", files)
    ws.rename_submit_button()
    events = {}
    for path, tests in USES.items():
        for name in tests:
            dom = [{"name": "dom", "content_type": "text/html", "path": f"dom/{name}.html"}]
            events[(path, name)] = ws.report_failure(path, name, artifacts=dom)
    head_before = git(ws.repo, "rev-parse", "HEAD").strip()
    ws.start_agent()
    finished = {key: ws.wait_final(eid, timeout=180) for key, eid in events.items()}
    assert {e["status"] for e in finished.values()} == {"resolved"}, [e["history"] for e in finished.values()]

    # One commit on top, with every event's trailer and every spec healed.
    [sha] = git(ws.repo, "rev-list", f"{head_before}..HEAD").split()
    message = git(ws.repo, "show", "-s", "--format=%B", sha)
    assert sorted(line for line in message.splitlines() if line.startswith("Healloop-Event: ")) == sorted(
        f"Healloop-Event: {eid}" for eid in events.values())
    assert sorted(git(ws.repo, "show", "--format=", "--name-only", sha).split()) == sorted(USES)
    for path in USES:
        text = (ws.repo / path).read_text()
        assert "[data-cy=submit]" not in text and text.count("[data-cy=submit-order]") == len(USES[path])
    assert git(ws.repo, "status", "--porcelain") == ""

    # The event the agent took first resolved with its siblings; the siblings point to the commit.
    primaries = [e for e in finished.values() if history_data(e, "resolved")[0].get("siblings")]
    assert len(primaries) == 1
    assert history_data(primaries[0], "resolved")[0]["also_used_in"] == ["tests/test_later.py"]
    assert "[data-cy=submit]" in (ws.repo / "tests/test_later.py").read_text()
    assert len(history_data(primaries[0], "resolved")[0]["siblings"]) == len(events) - 1
    for event in finished.values():
        resolved = history_data(event, "resolved")[0]
        assert resolved["commit"]["sha"] == sha
        if event is not primaries[0]:
            assert resolved["resolved_with"] == primaries[0]["id"]
            assert sha[:10] in event["history"][-1]["note"]
            assert resolved["run"]["status"] == "passed"
    for path, tests in USES.items():
        for name in tests:
            passed, message = ws.run_test(path, name)
            assert passed, message
