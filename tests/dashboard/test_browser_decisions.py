"""Approve, reject and revert pressed in Chromium, against a real queue, tool node, agent and git
repository (the agent tests' workspace): each changes the event and the repository as `healloop approve`,
`healloop reject` and `healloop revert` do (tests/agent/test_approval.py, test_rules_agent.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.agent.conftest import NODE_TOKEN, git
from tests.agent.test_approval import _proposed

pytestmark = pytest.mark.timeout(300)
WAIT_MS = 60_000  # landing and reverting go through the node and git


def _event_page(chromium: Any, url: str) -> Any:
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    return page


def test_approve_then_revert_from_the_page_land_and_undo_the_fix(make_ws, chromium, shots) -> None:
    # The queue reaches the node as the CLI does: its registered URL (loopback) and the node token.
    ws = make_ws("--node-token", NODE_TOKEN)
    event_id, event, head = _proposed(ws)
    tip = git(ws.repo, "rev-parse", f"healloop/{event_id}").strip()
    # The DOM snapshot the failing run wrote, uploaded as a reporter uploads it (the agent read it by path).
    snapshot = next(ws.repo.rglob("test_submit.html"))
    # And a screenshot of that page, taken as a reporter takes one.
    shooter = chromium.new_page(viewport={"width": 640, "height": 240})
    shooter.set_content(snapshot.read_text())
    shot = shooter.screenshot()
    shooter.close()
    files = [("file", ("dom-before.html", snapshot.read_bytes(), "text/html")),
             ("file", ("screenshot.png", shot, "image/png"))]
    httpx.post(f"{ws.queue.url}/v1/events/{event_id}/artifacts", files=files, timeout=10).raise_for_status()
    page = _event_page(chromium, f"{ws.queue.url}/events/{event_id}")
    assert "+    assert find(page(), \"[data-cy=submit-order]\"" in page.inner_text(".diff")
    # The heal's element, outlined in the snapshot the page frames.
    healed = page.frame_locator("iframe").locator("[data-healloop-healed]")
    healed.first.wait_for(state="attached")
    assert healed.count() == 1 and healed.get_attribute("data-cy") == "submit-order"
    assert page.inner_text(".heal code.new") and page.locator("img[alt='screenshot.png']").count() == 1
    shots(page, "event-proposed")
    page.fill("#reason-approve", "the button was renamed on purpose")
    page.click("#do-approve")
    page.wait_for_selector("#done")
    # Landed exactly as `healloop approve` lands it: main fast-forwarded to the proposal, branch gone.
    assert git(ws.repo, "rev-parse", "main").strip() == tip
    assert git(ws.repo, "rev-list", "--count", f"{head}..main").strip() == "1"
    assert git(ws.repo, "branch", "--list", f"healloop/{event_id}").strip() == ""
    assert git(ws.repo, "status", "--porcelain") == ""
    with ws.client() as q:
        event = q.get(event_id)
    assert event["status"] == "resolved"
    last = event["history"][-1]
    assert last["note"] == "fix approved by dashboard (open queue): the button was renamed on purpose"
    assert last["data"]["commit"] == {"sha": tip}
    # Now undone from the same page, as `healloop revert` undoes it.
    page.wait_for_selector("#do-revert")
    page.fill("#reason-revert", "it clicks the wrong button")
    page.click("#do-revert")
    page.wait_for_selector("#done")
    assert '"[data-cy=submit]"' in (ws.repo / "tests/test_ui.py").read_text()
    assert len(ws.commits_for(event_id)) == 2  # the fix and its revert, both with the event's trailer
    assert git(ws.repo, "status", "--porcelain") == ""
    with ws.client() as q:
        event = q.get(event_id)
    assert event["status"] == "escalated"
    note = "heal reverted by dashboard (open queue): it clicks the wrong button"
    assert event["history"][-1]["note"] == note
    assert event["history"][-1]["data"]["reverted"] == [tip]
    page.context.close()


def test_reject_from_the_page_needs_a_reason_and_deletes_the_branch(make_ws, chromium, shots) -> None:
    ws = make_ws("--node-token", NODE_TOKEN)
    event_id, _, head = _proposed(ws)
    page = _event_page(chromium, f"{ws.queue.url}/events/{event_id}")
    page.click("#do-reject")  # no reason: the browser keeps the form (the field is required)
    assert page.evaluate("document.getElementById('reason-reject').validity.valueMissing") is True
    with ws.client() as q:
        assert q.get(event_id)["status"] == "proposed"
    page.fill("#reason-reject", "wrong button")
    page.click("#do-reject")
    page.wait_for_selector("#done")
    assert git(ws.repo, "rev-parse", "HEAD").strip() == head
    assert git(ws.repo, "branch", "--list", f"healloop/{event_id}").strip() == ""
    with ws.client() as q:
        event = q.get(event_id)
    assert event["status"] == "escalated"
    assert event["history"][-1]["note"] == "fix rejected by dashboard (open queue): wrong button"
    shots(page, "event-rejected")
    page.context.close()


def test_without_the_node_token_approve_says_why_and_changes_nothing(make_ws, chromium) -> None:
    ws = make_ws()  # no --node-token: the node refuses the queue's call
    event_id, _, head = _proposed(ws)
    tip = git(ws.repo, "rev-parse", f"healloop/{event_id}").strip()
    page = _event_page(chromium, f"{ws.queue.url}/events/{event_id}")
    page.click("#do-approve")
    failed = page.inner_text("#failed")
    assert "Approve" in failed and "node" in failed.lower()
    assert git(ws.repo, "rev-parse", "main").strip() == head
    assert git(ws.repo, "rev-parse", f"healloop/{event_id}").strip() == tip
    with ws.client() as q:
        assert q.get(event_id)["status"] == "proposed"
    page.context.close()
