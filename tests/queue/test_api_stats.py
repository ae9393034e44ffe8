"""GET /v1/stats on a real queue process whose events went through real moves (tests/queue/
stats_history.py): each figure against what was put in, the window and node filters, and bad input
named."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from healloop.queue.openapi import openapi_document
from tests.queue.stats_history import SUSPECT_A, SUSPECT_B, History, make_history, notify_config, receiver
from tests.queue.stats_history import stats as _stats
from tests.queue.stats_history import told as _told
from tests.queue.stats_history import us as _us
from tests.support import QueueServer, wait_until


@pytest.fixture(scope="module")
def queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[QueueServer, History]]:
    tmp = tmp_path_factory.mktemp("stats")
    with receiver() as port:
        server = QueueServer(tmp / "events.db", "--config", str(notify_config(tmp, port))).start()
        try:
            with server.client() as c:
                history = make_history(c)
                assert c.post("/v1/nodes", json={"name": "node-c", "mcp_url": "http://127.0.0.1:1/mcp"}
                              ).status_code == 200
                # Four escalations told to each channel: wait until the two that answer have answered.
                wait_until(lambda: _told(c) == {"ok": 4, "no": 4}, timeout=20, what="the deliveries")
            yield server, history
        finally:
            server.stop()



def test_every_figure_is_what_the_history_holds(queue) -> None:
    server, h = queue
    st = _stats(server)
    jsonschema.validate(st, openapi_document()["paths"]["/v1/stats"]["get"]["responses"]["200"]["content"]
                        ["application/json"]["schema"])
    with server.client() as c:
        events = {name: c.get(f"/v1/events/{eid}").json() for name, eid in h.ids.items()}
    assert st["events"] == 12 and len(st["failures_per_day"]) in (8, 9)  # 7 days back: 8 UTC days, or 9

    want_days: dict[str, Counter[str]] = {}
    for name, ev in events.items():
        want_days.setdefault(ev["created_at"][:10], Counter())[h.classes[name]] += 1
    got_days = {d["day"]: d for d in st["failures_per_day"] if d["events"]}
    assert {day: d["classes"] for day, d in got_days.items()} == {d: dict(c) for d, c in want_days.items()}
    assert sum(d["events"] for d in st["failures_per_day"]) == 12

    want = {"healed": 4, "approved": 1, "closed": 1, "proposed": 1, "escalated": 3, "reverted": 1, "open": 1}
    assert {o: v["events"] for o, v in st["outcomes"].items()} == want
    assert st["outcomes"]["healed"]["share"] == round(4 / 12, 4)

    took: dict[str, list[float]] = {}
    for name, ev in events.items():
        if ev["status"] == "resolved":
            seconds = (_us(ev["resolved_at"]) - _us(ev["created_at"])) / 1e6
            took.setdefault(h.classes[name], []).append(seconds)
    got = {r["class"]: r for r in st["time_to_repair"]}
    assert set(got) == {"selector_not_found", "timeout", "unknown"} == set(took)
    for cls, times in took.items():
        times.sort()
        p90 = times[math.ceil(0.9 * len(times)) - 1]
        assert got[cls]["events"] == len(times)
        # The event's times on the wire are in milliseconds, the store's in microseconds.
        assert abs(got[cls]["mean_s"] - sum(times) / len(times)) <= 0.003, (cls, got[cls], times)
        assert abs(got[cls]["p90_s"] - p90) <= 0.003, (cls, got[cls], times)

    assert [(f["spec"], f["test"], f["times"]) for f in st["flaky_tests"]] == [
        ("cypress/e2e/spec2.cy.js", "checkout > pays 2", 2),
        ("cypress/e2e/spec3.cy.js", "checkout > pays 3", 1)]
    assert [(s["sha"], s["subject"], s["events"]) for s in st["suspect_commits"]] == [
        (SUSPECT_A["sha"], SUSPECT_A["subject"], 2), (SUSPECT_B["sha"], SUSPECT_B["subject"], 1)]

    nodes = {n["node"]: n for n in st["nodes"]}
    assert set(nodes) == {"node-a", "node-b", "node-c"}
    assert (nodes["node-a"]["events"], nodes["node-a"]["resolved"]) == (11, 6)
    assert nodes["node-a"]["share_resolved"] == round(6 / 11, 4)
    assert nodes["node-a"]["last_report"] == events["e12"]["created_at"]
    assert (nodes["node-b"]["events"], nodes["node-b"]["resolved"]) == (2, 0)
    assert nodes["node-b"]["last_report"] == events["e8"]["created_at"]  # e12 it only joined
    assert nodes["node-c"]["events"] == 0 and nodes["node-c"]["last_seen"]
    assert nodes["node-a"]["last_seen"] is None  # no tool node registered under that name

    channels = {ch["channel"]: ch for ch in st["notifications"]}
    assert {name: (ch["delivered"], ch["failed"], ch["pending"]) for name, ch in channels.items()} == {
        "ok": (4, 0, 0), "no": (0, 4, 0), "down": (0, 0, 4)}
    assert "401" in channels["no"]["last_error"] and channels["ok"]["last_error"] is None
    assert channels["down"]["last_error"]  # the connection refused, kept while it waits to retry


def test_a_node_and_a_window_narrow_every_figure(queue) -> None:
    server, h = queue
    b = _stats(server, node="node-b")
    assert b["events"] == 2 and b["window"]["node"] == "node-b"
    assert {o: v["events"] for o, v in b["outcomes"].items() if v["events"]} == {"proposed": 1, "open": 1}
    assert b["outcomes"]["open"]["share"] == 0.5
    assert [n["node"] for n in b["nodes"]] == ["node-b"] and b["nodes"][0]["events"] == 2
    assert b["time_to_repair"] == b["flaky_tests"] == b["suspect_commits"] == b["notifications"] == []

    assert _stats(server, node="node-z")["events"] == 0
    with server.client() as c:
        last = c.get(f"/v1/events/{h.ids['e12']}").json()["created_at"]
    after = _stats(server, since="2099-01-01T00:00:00Z", until="2099-01-02T00:00:00Z")
    assert after["events"] == 0 and after["nodes"][0]["events"] == 0  # node-c is registered, nothing else
    assert [d["day"] for d in after["failures_per_day"]] == ["2099-01-01"]
    assert all(v == {"events": 0, "share": 0.0} for v in after["outcomes"].values())
    assert after["notifications"] == [] and after["flaky_tests"] == []
    # An RFC 3339 window ending at the last event's creation leaves it out (until is exclusive).
    before = _stats(server, since="1d", until=last)
    assert before["events"] == 11 and before["outcomes"]["open"]["events"] == 0


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"since": "yesterday"}, "since", "RFC 3339 time such as"),
    ({"since": "2026-11-25T08:30:00"}, "since", "time zone offset"),
    ({"until": "7x"}, "until", "back from now such as 7d"),
    ({"since": "1d", "until": "2d"}, "until", "must be after `since`"),
    ({"since": "400d"}, "since", "at most 366 days"),
    ({"since": "2026-01-01T00:00:00Z", "until": "2027-06-01T00:00:00Z"}, "since", "at most 366 days"),
    ({"node": " "}, "node", "node's name"),
    ({"node": "a\x00b"}, "node", "no NUL"),
    ({"status": "resolved"}, "status", "use since, until or node"),
])
def test_bad_input_is_a_400_naming_the_field(queue, params: dict[str, str], field: str, words: str) -> None:
    server, _ = queue
    with server.client() as c:
        r = c.get("/v1/stats", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and words in r.json()["message"], r.json()


def test_reading_the_stats_needs_a_role_that_reads_events(make_server, tmp_path: Path) -> None:
    from tests.queue.test_api_auth import give

    s = make_server(token="admin-secret")
    reporter, operator = give(s.db, "ci", "reporter"), give(s.db, "qa", "operator")
    with s.client(token=operator) as c:
        wait_until(lambda: c.get("/v1/stats").status_code == 200, what="the operator token to count")
    with s.client(token=reporter) as c:
        r = c.get("/v1/stats")
    assert r.status_code == 403 and "operator" in r.json()["message"]
