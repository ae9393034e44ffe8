"""The dashboard in Debian's Chromium against a real `healloop serve` with real events: sign-in and its
refusals, a live update arriving without a reload, filters, the Chinese switch, and the buttons."""

from __future__ import annotations

from typing import Any

from healloop.client import QueueClient
from tests.dashboard.support import signed_queue
from tests.queue.test_api_auth import give
from tests.support import failure

WAIT_MS = 15_000


def _escalate(q: QueueClient, event_id: str) -> None:
    """An agent gives up on the event (as one does after its attempts): it waits for a person."""
    got = q.claim_event(event_id, "agent-1")
    q.transition(event_id, got["lease"]["token"], "escalated", "no playbook matched",
                 data={"class": "app_regression"})


def _page(chromium: Any) -> Any:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def test_sign_in_refuses_a_wrong_token_then_lets_a_reader_look(make_server, chromium, shots) -> None:
    s = make_server(token="the-admin")
    reader = give(s.db, "morning-reader", "reader")
    with QueueClient(s.url, "the-admin") as q:
        ev = q.report(**failure(1, message="Timed out retrying: expected to find [data-cy=pay]"))["id"]
        _escalate(q, ev)
    signed_queue(s.url)
    page = _page(chromium)
    page.goto(f"{s.url}/events/{ev}")
    page.wait_for_url("**/signin?next=*")
    shots(page, "signin")
    page.fill("#token", "hlt_wrong")
    page.click("#signin")
    assert "not one this queue knows" in page.inner_text("#signin-error")
    page.fill("#token", reader)
    page.click("#signin")
    # Back where it was going, signed in as the reader, who may look but not decide.
    page.wait_for_url(f"**/events/{ev}")
    assert page.inner_text("#who") == "morning-reader"
    assert "operator token" in page.inner_text("#decide")
    assert page.locator("#do-requeue").count() == 0
    cookie = next(c for c in page.context.cookies() if c["name"] == "healloop_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["secure"]
    page.click("#signout")
    page.wait_for_url("**/signin")
    page.goto(f"{s.url}/")
    page.wait_for_url("**/signin?next=*")
    page.context.close()


def test_live_rows_filters_and_the_chinese_switch(server, chromium, shots) -> None:
    q = QueueClient(server.url)
    pay = q.report(**failure(1, labels={"branch": "main"}, message="Timed out finding [data-cy=pay]"))["id"]
    cart = q.report(**failure(2, labels={"branch": "dev"}, message="expected 3 items, got 2"))["id"]
    _escalate(q, cart)
    page = _page(chromium)
    page.goto(server.url + "/")
    page.wait_for_selector("#live[data-state=on]")
    # What waits for a person is pinned at the top.
    assert page.locator(f"#pinned tr[data-id={cart}]").count() == 1
    assert page.locator(f"#latest tr[data-id={pay}]").count() == 1
    page.evaluate("window.__notReloaded = true")
    late = q.report(**failure(3, message="login button <b>gone</b>"))["id"]
    page.wait_for_selector(f"#latest tr[data-id={late}]")
    # The row came without a reload, and the reported text is shown, not run as markup.
    assert page.evaluate("window.__notReloaded") is True
    assert "login button <b>gone</b>" in page.inner_text(f"tr[data-id={late}]")
    assert page.inner_text("#counts [data-state=queued] b") == "2"
    shots(page, "events")
    # One search box over names and messages; a label filter; a bad one is said, not crashed on.
    page.fill("#q", "data-cy=pay")
    page.click("#apply")
    page.wait_for_url("**q=data-cy*")
    assert [r.get_attribute("data-id") for r in page.locator("tr[data-id]").all()] == [pay]
    page.goto(server.url + "/?label=branch%3Ddev")
    assert [r.get_attribute("data-id") for r in page.locator("tr[data-id]").all()] == [cart]
    page.goto(server.url + "/?label=branch")
    assert "key=value" in page.inner_text("#filter-error")
    page.goto(server.url + "/?status=escalated")
    assert [r.get_attribute("data-id") for r in page.locator("tr[data-id]").all()] == [cart]
    # The Chinese switch, remembered on the next visit.
    page.goto(server.url + "/")
    page.click("#lang")
    page.wait_for_selector("text=等待人工处理")
    page.goto(server.url + "/")
    assert "等待人工处理" in page.inner_text("main") and page.inner_text("#lang") == "English"
    page.wait_for_selector("#live[data-state=on]")
    shots(page, "events-zh")
    page.click("#lang")
    page.wait_for_selector("text=Waiting for a person")
    page.context.close()


def test_requeue_and_close_from_the_event_page_are_recorded(server, chromium, shots) -> None:
    q = QueueClient(server.url)
    ev = q.report(**failure(1, stack="at checkout.cy.js:12\n<script>alert(1)</script>"))["id"]
    _escalate(q, ev)
    page = _page(chromium)
    page.goto(f"{server.url}/events/{ev}")
    page.wait_for_selector("#live[data-state=on]")
    assert page.get_attribute("#status", "data-status") == "escalated"
    shots(page, "event")
    page.fill("#reason-requeue", "the staging DB is back")
    page.click("#do-requeue")
    page.wait_for_selector("#done")
    event = q.get(ev)
    assert event["status"] == "queued"
    assert event["history"][-1]["note"] == "requeued by dashboard (open queue): the staging DB is back"
    # An agent takes it up while the page is open: the page follows without a reload.
    page.evaluate("window.__notReloaded = true")
    got = q.claim_event(ev, "agent-2")
    page.wait_for_selector("#status[data-status=processing]")
    assert page.evaluate("window.__notReloaded") is True and page.is_visible("#changed")
    q.transition(ev, got["lease"]["token"], "escalated", "gave up again")
    page.wait_for_selector("#do-close")
    # A second person's page, loaded before the first one closes it (no script, so it does not follow).
    stale = chromium.new_context(java_script_enabled=False).new_page()
    stale.goto(f"{server.url}/events/{ev}")
    page.click("#do-close")
    page.wait_for_selector("#done")
    event = q.get(ev)
    assert event["status"] == "resolved"
    assert event["history"][-1]["note"] == "closed by dashboard (open queue)"
    # The stale button is answered with the reason, and nothing changes.
    stale.click("#do-close")
    assert "only an escalated event can be closed" in stale.inner_text("#failed")
    assert len(q.get(ev)["history"]) == len(event["history"])
    stale.context.close()
    page.context.close()
