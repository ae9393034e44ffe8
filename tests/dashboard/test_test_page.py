"""The test page and the quarantine buttons against a real `healloop serve` with role tokens, without a
browser (tests/dashboard/test_browser_pages.py has them in Chromium): what a reader sees and may not
press, what an operator's set and lift change in `GET /v1/quarantines` and the test view, bad input
answered with the reason and nothing lost or changed, and reported names escaped."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from tests.dashboard.support import Person
from tests.queue.test_api_auth import give
from tests.support import QueueServer, failure, wait_until

SPEC, TEST = "cypress/e2e/spec1.cy.js", "checkout > pays 1"
PAGE = "/tests?" + urlencode({"spec": SPEC, "test": TEST})
HOSTILE = '<img src=x onerror=alert(1)> & "quotes"'


def _history(c: httpx.Client) -> str:
    """The test run on two nodes: node-a passes twice, node-b passes once and fails once."""
    for node, run in (("node-a", "r1"), ("node-a", "r2"), ("node-b", "r1")):
        r = c.post("/v1/runs", json={"node": node, "run_id": run, "passed": [{"spec": SPEC, "test": TEST}]})
        assert r.status_code == 200, r.text
    r = c.post("/v1/events", json=failure(1, node="node-b"))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _people(s: QueueServer) -> dict[str, Person]:
    secrets = {"reader": give(s.db, "morning-reader", "reader"), "operator": give(s.db, "alice", "operator")}
    with httpx.Client(base_url=s.url, timeout=30) as c:
        wait_until(lambda: c.get("/v1/events", headers={"Authorization": f"Bearer {secrets['reader']}"})
                   .status_code == 200, what="the new tokens to count")
    people = {}
    for role, secret in secrets.items():
        p = Person(s.url)
        assert p.sign_in(secret).status_code == 303
        people[role] = p
    return people


def _quarantines(s: QueueServer) -> list[dict[str, Any]]:
    with s.client("the-admin") as c:
        r = c.get("/v1/quarantines")
    assert r.status_code == 200, r.text
    return r.json()["quarantines"]


def test_a_reader_sees_the_history_and_may_not_quarantine(make_server) -> None:
    s = make_server(token="the-admin")
    with s.client("the-admin") as c:
        event_id = _history(c)
    people = _people(s)
    reader = people["reader"]
    try:
        page = reader.get(PAGE)
        assert page.status_code == 200, page.text
        html = page.text
        # Both nodes' rows, with their counts: 4 runs, 3 passed, 1 failed.
        assert 'data-node="node-a"' in html and 'data-node="node-b"' in html
        assert '<b id="runs-total">4</b>' in html and "3 passed" in html and "1 failed" in html
        assert '<b id="failure-rate">25.0%</b>' in html
        assert f'href="/events/{event_id}"' in html
        assert "quarantining needs an operator token" in html and 'id="set-form"' not in html
        # Pressing anyway is refused, and nothing is set.
        r = reader.post("/quarantines", {"spec": SPEC, "test": TEST, "owner": "me", "for": "7d"},
                        csrf_from=PAGE)
        assert r.status_code == 403 and "operator or admin" in r.text
        assert _quarantines(s) == []
        # The events list and the event page link the test name to its page.
        assert PAGE.replace("&", "&amp;") in reader.get("/").text
        assert PAGE.replace("&", "&amp;") in reader.get(f"/events/{event_id}").text
    finally:
        for p in people.values():
            p.close()


def test_an_operator_quarantines_and_lifts_as_the_cli_does(make_server) -> None:
    s = make_server(token="the-admin")
    with s.client("the-admin") as c:
        _history(c)
    people = _people(s)
    op = people["operator"]
    try:
        page = op.get(PAGE).text
        assert 'id="set-form"' in page and 'value="alice"' in page  # the owner is whoever signed in
        r = op.post("/quarantines", {"spec": SPEC, "test": TEST, "owner": "alice", "for": "7d",
                                     "reason": "races the payment mock"}, csrf_from=PAGE)
        assert r.status_code == 303 and r.headers["location"].endswith("done=quarantined"), r.text
        [q] = _quarantines(s)
        assert (q["spec"], q["test"], q["owner"]) == (SPEC, TEST, "alice")
        assert q["reason"] == "races the payment mock"
        assert not q["automatic"]
        page = op.get(r.headers["location"]).text
        assert 'id="q-state" data-state="quarantined"' in page and 'id="do-lift"' in page
        listed = op.get("/quarantines").text
        assert "races the payment mock" in listed and PAGE.replace("&", "&amp;") in listed
        # A failure reported now is kept from the agents.
        with s.client("the-admin") as c:
            got = c.post("/v1/events", json=failure(1, node="node-a", message="again")).json()
            assert c.get(f"/v1/events/{got['id']}").json()["status"] == "quarantined"
        r = op.post("/quarantines/lift", {"spec": SPEC, "test": TEST, "reason": "mock fixed"}, csrf_from=PAGE)
        assert r.status_code == 303 and r.headers["location"].endswith("done=lifted"), r.text
        assert _quarantines(s) == []
        with s.client("the-admin") as c:
            view = c.get("/v1/test", params={"spec": SPEC, "test": TEST}).json()
            # Recorded with who pressed it, and its failure is back in the queue, as `quarantine remove`.
            assert view["quarantines"][0]["lift_note"] == "lifted by alice (operator, dashboard): mock fixed"
            assert c.get(f"/v1/events/{got['id']}").json()["status"] == "queued"
        assert 'data-ended="lifted"' in op.get(PAGE).text
        # Lifting again: nothing in force, said so.
        r = op.post("/quarantines/lift", {"spec": SPEC, "test": TEST}, csrf_from=PAGE)
        assert r.status_code == 404 and "no quarantine in force" in r.text
    finally:
        for p in people.values():
            p.close()


def test_bad_input_is_named_and_what_was_typed_is_kept(make_server) -> None:
    s = make_server(token="the-admin")
    people = _people(s)
    op = people["operator"]
    try:
        form = {"spec": SPEC, "test": TEST, "owner": "alice", "reason": "kept text"}
        r = op.post("/quarantines", {**form, "for": "120d"}, csrf_from=PAGE)
        assert r.status_code == 400 and "over 90 days" in r.text
        assert 'value="120d"' in r.text and 'value="kept text"' in r.text
        r = op.post("/quarantines", {**form, "for": "soon"}, csrf_from=PAGE)
        assert r.status_code == 400 and "`for` must be a duration such as 7d" in r.text
        r = op.post("/quarantines", {**form, "owner": " ", "for": "7d"}, csrf_from=PAGE)
        assert r.status_code == 400 and "`owner` is empty" in r.text
        r = op.post("/quarantines", {"test": TEST, "owner": "alice", "for": "7d"}, csrf_from=PAGE)
        assert r.status_code == 400 and "`spec` is missing" in r.text
        # A stale or foreign form: no CSRF token.
        r = op.request("POST", "/quarantines", data={**form, "for": "7d"})
        assert r.status_code == 403 and "CSRF" in r.text
        assert _quarantines(s) == []
        r = op.get("/tests?spec=" + SPEC)
        assert r.status_code == 400 and "`test` is missing" in r.text
        assert op.get("/tests").status_code == 200  # the form to name one
    finally:
        for p in people.values():
            p.close()


def test_reported_names_are_escaped_on_the_test_page_and_the_list(server) -> None:
    with server.client() as c:
        c.post("/v1/events", json=failure(1, spec=HOSTILE, test=HOSTILE))
        r = c.post("/v1/quarantines", json={"spec": HOSTILE, "test": HOSTILE, "owner": HOSTILE,
                                            "seconds": 3600, "reason": HOSTILE})
        assert r.status_code == 201, r.text
    p = Person(server.url)
    try:
        url = "/tests?" + urlencode({"spec": HOSTILE, "test": HOSTILE})
        for path in (url, "/quarantines", "/"):
            html = p.get(path).text
            assert "<img src=x" not in html, path
            assert "&lt;img src=x onerror=alert(1)&gt;" in html, path
    finally:
        p.close()
