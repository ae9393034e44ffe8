"""The test page, the quarantined tests and the trends page in Debian's Chromium against a real
`healloop serve` with real events and runs: a test's history from two nodes reached from the events
list, quarantining and lifting from the page as an operator (checked in `GET /v1/quarantines`), the
trends page's figures for the hand-made history of tests/queue/stats_history.py, and the Chinese switch
on both pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from tests.dashboard.support import signed_queue
from tests.queue.stats_history import make_history
from tests.queue.test_api_auth import give
from tests.support import failure, wait_until

WAIT_MS = 15_000
SPEC, TEST = "cypress/e2e/spec1.cy.js", "checkout > pays 1"
FIX = "5e1ec70rfix0000000000000000000000000000"


def _page(chromium: Any) -> Any:
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def _two_nodes(c: httpx.Client) -> str:
    """Runs of one test on node-a (2 passes) and node-b (1 pass, then 1 failure), and that failure healed
    by an agent with a commit."""
    for node, run in (("node-a", "r1"), ("node-a", "r2"), ("node-b", "r1")):
        r = c.post("/v1/runs", json={"node": node, "run_id": run, "passed": [{"spec": SPEC, "test": TEST}]})
        assert r.status_code == 200, r.text
    eid = c.post("/v1/events", json=failure(1, node="node-b")).json()["id"]
    tok = c.post(f"/v1/events/{eid}/claim", json={"worker": "agent-1"}).json()["lease"]["token"]
    cls = "selector_not_found"
    for to, data in (("analyzing", {"class": cls}), ("fixing", {"node": "node-b"}), ("verifying", None),
                     ("resolved", {"class": cls, "commit": {"sha": FIX}})):
        r = c.post(f"/v1/events/{eid}/transition", json={"token": tok, "to": to, "data": data})
        assert r.status_code == 200, r.text
    return eid


def _quarantines(c: httpx.Client) -> list[dict[str, Any]]:
    r = c.get("/v1/quarantines")
    assert r.status_code == 200, r.text
    return r.json()["quarantines"]


def test_the_test_page_and_quarantine_from_it(make_server, chromium, shots) -> None:
    s = make_server(token="the-admin")
    alice = give(s.db, "alice", "operator")
    with s.client("the-admin") as c:
        eid = _two_nodes(c)
    signed_queue(s.url)
    with s.client(alice) as c:
        wait_until(lambda: c.get("/v1/events").status_code == 200, what="alice's token to count")
    page = _page(chromium)
    page.goto(s.url + "/")
    page.wait_for_url("**/signin?next=*")
    page.fill("#token", alice)
    page.click("#signin")
    page.wait_for_url(s.url + "/")
    # From the events list to the test's page by the link beside its name.
    page.click(f"tr[data-id={eid}] a.test-link")
    page.wait_for_selector("#per-node")
    assert page.inner_text("#t-test") == TEST and page.inner_text("#t-spec") == SPEC
    rows = {r.get_attribute("data-node"): (r.locator("td.passes").inner_text(),
                                           r.locator("td.failures").inner_text())
            for r in page.locator("#nodes-table tbody tr").all()}
    assert rows == {"node-a": ("2", "0"), "node-b": ("1", "1")}
    assert page.get_attribute("tr[data-node=node-b] td.last-run", "data-passed") == "no"
    assert page.inner_text("#runs-total") == "4" and page.inner_text("#failure-rate") == "25.0%"
    assert page.inner_text(f"#heals-table tr[data-event={eid}] code.commit") == FIX[:12]
    assert page.get_attribute("#q-state", "data-state") == "free"
    shots(page, "test")
    # Quarantine it from the page: the API's list says so, with what was typed.
    page.fill("#q-for", "7d")
    page.fill("#q-reason-in", "races the payment mock")
    page.click("#do-quarantine")
    page.wait_for_selector("#done")
    assert page.get_attribute("#q-state", "data-state") == "quarantined"
    with s.client("the-admin") as c:
        [q] = _quarantines(c)
    assert (q["spec"], q["test"], q["owner"]) == (SPEC, TEST, "alice")
    assert q["reason"] == "races the payment mock"
    # The list of quarantined tests, from the top bar.
    page.click("nav a[href='/quarantines']")
    page.wait_for_selector("#quarantines")
    assert [r.get_attribute("data-test") for r in page.locator("#quarantines tbody tr").all()] == [TEST]
    shots(page, "quarantines")
    page.click("#quarantines tbody a")
    page.wait_for_selector("#do-lift")
    page.fill("#lift-reason", "mock fixed")
    page.click("#do-lift")
    page.wait_for_selector("#done")
    assert page.get_attribute("#q-state", "data-state") == "free"
    with s.client("the-admin") as c:
        assert _quarantines(c) == []
        note = c.get("/v1/test", params={"spec": SPEC, "test": TEST}).json()["quarantines"][0]["lift_note"]
    assert note == "lifted by alice (operator, dashboard): mock fixed"
    # In Chinese, and back.
    page.click("#lang")
    page.wait_for_selector("text=各节点的通过与失败")
    assert page.inner_text("#lang") == "English"
    shots(page, "test-zh")
    page.click("#lang")
    page.wait_for_selector("text=Passes and failures per node")
    page.context.close()


def test_the_trends_page_shows_the_historys_figures(server, chromium, shots) -> None:
    with server.client() as c:
        make_history(c)
        stats = c.get("/v1/stats").json()
    page = _page(chromium)
    page.goto(server.url + "/trends")
    page.wait_for_selector("#trend-per-day")
    # Twelve events (tests/queue/stats_history.py), all reported today.
    assert page.inner_text("#trends strong.events") == "12"
    bars = page.locator("#trend-per-day rect.bar").all()
    assert sum(int(b.get_attribute("data-value")) for b in bars) == 12
    outcomes = {b.get_attribute("data-key"): int(b.get_attribute("data-value"))
                for b in page.locator("#trend-outcomes rect.bar").all()}
    assert outcomes == {"healed": 4, "approved": 1, "closed": 1, "proposed": 1, "escalated": 3,
                        "reverted": 1, "open": 1}
    # The same numbers as GET /v1/stats for the same window.
    assert outcomes == {k: v["events"] for k, v in stats["outcomes"].items() if v["events"]}
    flaky = page.locator("#trend-flaky tbody tr").all()
    assert [r.locator("td").nth(2).inner_text() for r in flaky] == ["2", "1"]
    shots(page, "trends")
    # The most flaky test's name leads to its test page.
    top = flaky[0].locator("td").nth(1).inner_text()
    flaky[0].locator("td a").click()
    page.wait_for_url("**/tests?*")
    assert page.inner_text("#t-test") == top
    page.go_back()
    # The window picker and the node filter: node-b took part in two events (e8 and e12).
    page.select_option("#t-since", "30d")
    page.fill("#t-node", "node-b")
    page.click("#t-apply")
    page.wait_for_url("**since=30d*node=node-b*")
    assert page.inner_text("#trends strong.events") == "2"
    # A bad window is said, in the API's words.
    page.goto(server.url + "/trends?since=yesterday")
    assert "`since` must be an RFC 3339 time" in page.inner_text("#trends-error")
    page.goto(server.url + "/trends")
    page.click("#lang")
    page.wait_for_selector("text=按类别的每日失败数")
    assert page.inner_text("#trends strong.events") == "12"
    shots(page, "trends-zh")
    page.click("#lang")
    page.wait_for_selector("text=Failures per day by class")
    page.context.close()


def test_the_test_page_updates_live_from_runs_and_quarantines(server, chromium) -> None:
    with server.client() as c:
        _two_nodes(c)
    page = _page(chromium)
    page.goto(server.url + "/tests?" + urlencode({"spec": SPEC, "test": TEST}))
    page.wait_for_selector("#live[data-state=on]")
    page.evaluate("window.notReloaded = true")
    assert page.inner_text("#runs-total") == "4"
    page.fill("#q-reason-in", "still typing")  # what a person types is not swept away by an update
    with server.client() as c:
        r = c.post("/v1/runs", json={"node": "node-c", "run_id": "r9",
                                     "passed": [{"spec": SPEC, "test": TEST}]})
        assert r.status_code == 200, r.text
    page.wait_for_selector("#runs-total:text-is('5')")
    assert page.locator("#nodes-table tr[data-node=node-c]").count() == 1
    assert page.input_value("#q-reason-in") == "still typing"
    with server.client() as c:  # another test's quarantine changes nothing here
        r = c.post("/v1/quarantines", json={"spec": SPEC, "test": "another", "owner": "bo", "seconds": 600})
        assert r.status_code in (200, 201), r.text
        r = c.post("/v1/quarantines", json={"spec": SPEC, "test": TEST, "owner": "bo", "seconds": 600})
        assert r.status_code in (200, 201), r.text
    # Held back while the reason field holds what was typed; caught up once it is cleared and left.
    page.fill("#q-reason-in", "")
    page.locator("#q-reason-in").blur()
    page.wait_for_selector("#q-state[data-state=quarantined]")
    assert page.inner_text("#q-owner") == "bo"
    assert page.evaluate("window.notReloaded") is True
    page.context.close()
