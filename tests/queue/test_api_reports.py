"""Reporting failures to a real server process on a real SQLite file: merging, late reports,
flapping, idempotency, bad input, auth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support import QueueServer, failure


def _resolve(c, event_id: str) -> None:
    """Drive a claimed event through a full repair to resolved."""
    got = c.post("/v1/events/next", json={"worker": "w"}).json()
    assert got["event"]["id"] == event_id
    tok = got["lease"]["token"]
    for to in ("analyzing", "fixing", "verifying", "resolved"):
        r = c.post(f"/v1/events/{event_id}/transition", json={"token": tok, "to": to})
        assert r.status_code == 200, r.text


def test_new_report_then_repeats_from_other_nodes_merge(server: QueueServer) -> None:
    with server.client() as c:
        r = c.post("/v1/events", json=failure(1))
        assert r.status_code == 201
        body = r.json()
        assert body["id"].startswith("evt_") and body == {
            "id": body["id"], "status": "queued", "count": 1, "merged": False}
        r2 = c.post("/v1/events", json=failure(1, node="node-b", message="other text"))
        assert r2.status_code == 200
        assert r2.json() == {"id": body["id"], "status": "queued", "count": 2, "merged": True}
        c.post("/v1/events", json=failure(1, node="node-b"))
        ev = c.get(f"/v1/events/{body['id']}").json()
        assert ev["count"] == 3 and ev["nodes"] == ["node-a", "node-b"]
        assert [h["to"] for h in ev["history"]] == ["queued"]
        other = c.post("/v1/events", json=failure(2)).json()
        assert other["id"] != body["id"] and other["id"] > body["id"]


def test_local_failures_are_one_event_per_node_shared_ones_one_for_all(server: QueueServer) -> None:
    down = {"message": "connect ECONNREFUSED 127.0.0.1:8080", "local": True}
    with server.client() as c:
        a = c.post("/v1/events", json=failure(1, node="node-a", **down)).json()
        b = c.post("/v1/events", json=failure(1, node="node-b", **down)).json()
        a2 = c.post("/v1/events", json=failure(1, node="node-a", **down)).json()
        assert a["id"] != b["id"] and a2 == {**a, "count": 2, "merged": True}
        shared = [c.post("/v1/events", json=failure(2, node=n)).json() for n in ("node-a", "node-b")]
        assert shared[0]["id"] == shared[1]["id"] and shared[1]["count"] == 2
        assert c.post("/v1/events", json=failure(3, local="yes")).json()["field"] == "local"


def test_report_merges_into_held_and_escalated_events(server: QueueServer) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        tok = c.post("/v1/events/next", json={"worker": "w"}).json()["lease"]["token"]
        assert c.post("/v1/events", json=failure(1)).json() == {
            "id": eid, "status": "processing", "count": 2, "merged": True}
        c.post(f"/v1/events/{eid}/transition", json={"token": tok, "to": "escalated"})
        assert c.post("/v1/events", json=failure(1)).json()["id"] == eid


def test_late_report_merges_into_resolved_event_without_reopening(server: QueueServer) -> None:
    with server.client() as c:
        before = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        _resolve(c, eid)
        late = c.post("/v1/events", json=failure(1, node="node-c", occurred_at=before))
        assert late.status_code == 200
        assert late.json() == {"id": eid, "status": "resolved", "count": 2, "merged": True}
        assert c.get(f"/v1/events/{eid}").json()["nodes"] == ["node-a", "node-c"]
        # A failure that happens after the fix is a new event.
        fresh = c.post("/v1/events", json=failure(1))
        assert fresh.status_code == 201 and fresh.json()["id"] != eid


def test_fourth_failure_within_the_hour_is_flapping_and_escalated(make_server) -> None:  # type: ignore[no-untyped-def]
    # Without the cooldown, which would escalate the second failure already (test_api_budgets.py).
    server = make_server("--cooldown", "0")
    with server.client() as c:
        for _ in range(3):
            eid = c.post("/v1/events", json=failure(1)).json()["id"]
            _resolve(c, eid)
        r = c.post("/v1/events", json=failure(1))
        assert r.status_code == 201 and r.json()["status"] == "escalated"
        ev = c.get(f"/v1/events/{r.json()['id']}").json()
        assert "flapping" in ev["history"][0]["note"] and len(ev["history"]) == 1
        assert ev["history"][0]["from"] is None and ev["history"][0]["to"] == "escalated"
        # A plain report's history starts with its report, before and after it is claimed.
        resolved = c.get(f"/v1/events/{eid}").json()
        assert [h["to"] for h in resolved["history"]] == [
            "queued", "processing", "analyzing", "fixing", "verifying", "resolved"
        ]
        first = resolved["history"][0]
        assert first == {"at": resolved["created_at"], "from": None, "to": "queued", "worker": None,
                         "note": "reported by node-a", "data": None}
        assert c.post("/v1/events/next", json={"worker": "w"}).status_code == 204


def test_flap_threshold_is_configurable(make_server) -> None:
    s = make_server("--flap-threshold", "1", "--cooldown", "0")
    with s.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        _resolve(c, eid)
        assert c.post("/v1/events", json=failure(1)).json()["status"] == "escalated"


def test_idempotency_key_answers_same_id_without_counting(server: QueueServer) -> None:
    with server.client() as c:
        first = c.post("/v1/events", json=failure(1, idempotency_key="run1/spec1/t/0"))
        again = c.post("/v1/events", json=failure(1, idempotency_key="run1/spec1/t/0"))
        assert first.status_code == 201 and again.status_code == 200
        assert again.json() == {"id": first.json()["id"], "status": "queued", "count": 1, "merged": True}
        other = c.post("/v1/events", json=failure(1, idempotency_key="run2/spec1/t/0"))
        assert other.json()["count"] == 2


def test_alerts_fingerprint_by_source_and_labels(server: QueueServer) -> None:
    alert = {"node": "n", "source": "alertmanager", "kind": "alert", "message": "down",
             "labels": {"alertname": "AppDown", "instance": "n:80"}}
    with server.client() as c:
        a = c.post("/v1/events", json=alert).json()
        b = c.post("/v1/events", json={**alert, "labels": {"instance": "n:80", "alertname": "AppDown"}})
        assert b.json()["id"] == a["id"]
        ev = c.get(f"/v1/events/{a['id']}").json()
        assert ev["kind"] == "alert" and ev["spec"] is None


def test_explicit_fingerprint_overrides_computed(server: QueueServer) -> None:
    with server.client() as c:
        a = c.post("/v1/events", json=failure(1, fingerprint="mine")).json()
        b = c.post("/v1/events", json=failure(2, fingerprint="mine")).json()
        assert a["id"] == b["id"]
        assert c.get(f"/v1/events/{a['id']}").json()["fingerprint"] == "mine"


def test_any_text_is_stored_and_returned_byte_for_byte(server: QueueServer) -> None:
    weird = "登录页面 > 显示「错误」 \"quoted\" <script>alert('x')</script> \\ \u2028 emoji 🚀 \x00end"
    with server.client() as c:
        # A test's title is a name: no NUL there (test_api_garbage.py).
        title = weird.replace("\x00", "")
        eid = c.post("/v1/events", json=failure(1, test=title, message=weird, stack=weird,
                                                 labels={"说明": weird})).json()["id"]
        ev = c.get(f"/v1/events/{eid}").json()
        assert ev["message"] == ev["stack"] == ev["labels"]["说明"] == weird and ev["test"] == title


def test_full_report_fields_are_kept(server: QueueServer) -> None:
    at = "2026-01-02T03:04:05.678+08:00"
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(
            1, priority=1, occurred_at=at, stack="at x.js:1",
            artifacts=[{"name": "shot", "content_type": "image/png", "path": "s/a.png"},
                       {"name": "dom", "url": "http://q/a"}])).json()["id"]
        ev = c.get(f"/v1/events/{eid}").json()
    assert ev["priority"] == 1 and ev["occurred_at"] == "2026-01-01T19:04:05.678Z"
    assert ev["artifacts"] == [{"name": "shot", "content_type": "image/png", "path": "s/a.png"},
                               {"name": "dom", "content_type": "application/octet-stream",
                                "url": "http://q/a"}]


BAD = [
    ({"source": "x", "spec": "s", "test": "t", "message": "m"}, "node", "`node` is required"),
    (failure(spec=None), "spec", "`spec` is required when `kind` is test_failure"),
    (failure(test=""), "test", "test"),
    (failure(message=""), "message", "message"),
    (failure(priority=0), "priority", ">= 1"),
    (failure(priority=6), "priority", "<= 5"),
    (failure(priority="high"), "priority", "Expected `int`"),
    (failure(priority=2.5), "priority", "must be a whole number"),
    (failure(priority=7.0), "priority", "<= 5"),
    (failure(kind="crash"), "kind", "Invalid enum value 'crash'"),
    (failure(occurred_at="yesterday"), "occurred_at", "RFC 3339"),
    (failure(occurred_at="2026-01-01T00:00:00"), "occurred_at", "time zone"),
    # Valid as a datetime, but year 0 in UTC: it used to be stored and returned as "0-12-31T10:00:00Z".
    (failure(occurred_at="0001-01-01T00:00:00+14:00"), "occurred_at", "outside years 0001 to 9999"),
    (failure(labels={"a": 1}), "labels", "Expected `str`"),
    (failure(labels=["a"]), "labels", "Expected `object`"),
    (failure(artifacts=[{"name": "x"}]), "artifacts[0]", "`url` or a `path`"),
    (failure(artifacts=[{"url": "x"}]), "artifacts[0].name", "required"),
    (failure(colour="red"), "colour", "not a known field"),
    (failure(node="x" * 201), "node", "length"),
]


@pytest.mark.parametrize(("body", "field", "text"), BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_reports_get_400_naming_the_field_and_store_nothing(server, body, field, text) -> None:
    with server.client() as c:
        r = c.post("/v1/events", json=body)
        assert r.status_code == 400, r.text
        err = r.json()
        assert err["error"] == "invalid_input" and err["field"] == field and text in err["message"]
        assert c.get("/v1/events").json() == {"events": []}


def test_a_whole_float_where_an_int_belongs_is_that_int_and_data_keeps_its_floats(server) -> None:
    # JSON Schema (so the OpenAPI document) counts 1.0 an integer; msgspec alone refused it.
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(priority=1.0)).json()["id"]
        assert c.get(f"/v1/events/{eid}").json()["priority"] == 1
        r = c.post("/v1/mutes", json={"spec": "a.js", "test": "t", "seconds": 60.0})
        assert r.status_code in (200, 201), r.text
        token = c.post("/v1/events/next", json={"worker": "w", "lease": 30.0}).json()["lease"]["token"]
        r = c.post(f"/v1/events/{eid}/transition",
                   json={"token": token, "to": "analyzing", "data": {"ratio": 2.0}})
        assert r.status_code == 200, r.text
        history = c.get(f"/v1/events/{eid}").json()["history"]
    assert history[-1]["data"] == {"ratio": 2.0} and isinstance(history[-1]["data"]["ratio"], float)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"node": "a",}'])
def test_malformed_json_gets_400(server, raw: bytes) -> None:
    with server.client() as c:
        r = c.post("/v1/events", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["message"]


def test_body_over_one_mebibyte_is_413_and_nothing_stored(server) -> None:
    with server.client() as c:
        r = c.post("/v1/events", json=failure(message="x" * (1024 * 1024)))
        assert r.status_code == 413 and "1 MiB" in r.json()["message"]

        def chunks():
            for _ in range(20):
                yield b"x" * 65536
        r = c.post("/v1/events", content=chunks(),  # chunked: no content-length to check
                   headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert c.get("/v1/events").json() == {"events": []}


def test_list_filters_and_limits(server) -> None:
    with server.client() as c:
        ids = [c.post("/v1/events", json=failure(i, node=f"n{i % 2}")).json()["id"] for i in range(5)]
        c.post("/v1/events/next", json={"worker": "w"})
        all_ = c.get("/v1/events").json()["events"]
        assert [e["id"] for e in all_] == ids[::-1]
        assert [e["id"] for e in c.get("/v1/events", params={"node": "n1"}).json()["events"]] == [
            ids[3], ids[1]]
        assert [e["id"] for e in c.get("/v1/events", params={"status": "processing"}).json()[
            "events"]] == [ids[0]]
        fp = all_[0]["fingerprint"]
        assert [e["id"] for e in c.get("/v1/events", params={"fingerprint": fp}).json()[
            "events"]] == [ids[4]]
        assert len(c.get("/v1/events", params={"limit": 2}).json()["events"]) == 2
        for params, field in (({"limit": 1001}, "limit"), ({"limit": 0}, "limit"),
                              ({"limit": "x"}, "limit"), ({"status": "done"}, "status"),
                              ({"colour": "red"}, "colour")):
            r = c.get("/v1/events", params=params)
            assert r.status_code == 400 and r.json()["field"] == field


def test_unknown_event_is_404_and_unknown_route_is_json(server) -> None:
    with server.client() as c:
        r = c.get("/v1/events/evt_nope")
        assert r.status_code == 404 and "evt_nope" in r.json()["message"]
        assert c.post("/v1/events/evt_nope/heartbeat", json={"token": "t"}).status_code == 404
        r = c.get("/v1/nothing")
        assert r.status_code == 404 and "/docs" in r.json()["message"]
        assert c.delete("/v1/events").status_code == 405


def test_token_guards_v1_but_not_health_docs_or_metrics(make_server) -> None:
    s = make_server(token="s3cret")
    with s.client(token="") as anon, s.client(token="wrong") as bad, s.client() as good:
        for c in (anon, bad):
            r = c.post("/v1/events", json=failure(1))
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert c.get("/v1/events").status_code == 401
            assert c.post("/v1/events/next", json={"worker": "w"}).status_code == 401
            assert c.get("/v1/nodes").status_code == 401
        assert good.post("/v1/events", json=failure(1)).status_code == 201
        for path in ("/healthz", "/metrics", "/docs", "/openapi.json"):
            assert anon.get(path).status_code == 200
        assert anon.get("/v1/events").status_code == 401


def test_docs_openapi_and_metrics(server) -> None:
    with server.client() as c:
        doc = c.get("/openapi.json").json()
        assert "/v1/events/next" in doc["paths"] and "ReportIn" in doc["components"]["schemas"]
        assert "ClaimOneIn" in doc["components"]["schemas"] and "/v1/events/{event_id}/claim" in doc["paths"]
        assert "swagger-ui" in c.get("/docs").text
        assert c.get("/docs/static/swagger-ui-bundle.js").status_code == 200
        c.post("/v1/events", json=failure(1))
        c.post("/v1/events", json=failure(1))
        c.post("/v1/events/next", json={"worker": "w"})
        m = c.get("/metrics").text
    assert 'healloop_events{status="processing"} 1' in m
    assert "healloop_reports_total 2" in m and "healloop_merges_total 1" in m
    assert "healloop_claims_total 1" in m and "healloop_claim_wait_seconds_count 1" in m


def test_nodes_register_refresh_and_list(server) -> None:
    with server.client() as c:
        r = c.post("/v1/nodes", json={"name": "ci-1", "mcp_url": "http://10.0.0.5:8788/mcp",
                                      "labels": {"os": "linux"}})
        assert r.status_code == 200 and r.json()["last_seen"].endswith("Z")
        first_seen = r.json()["last_seen"]
        c.post("/v1/nodes", json={"name": "ci-1", "mcp_url": "http://10.0.0.6:8788/mcp"})
        nodes = c.get("/v1/nodes").json()["nodes"]
        assert [(n["name"], n["mcp_url"]) for n in nodes] == [("ci-1", "http://10.0.0.6:8788/mcp")]
        assert nodes[0]["last_seen"] >= first_seen
        bad = c.post("/v1/nodes", json={"name": "x", "mcp_url": "ftp://x"})
        assert bad.status_code == 400 and bad.json()["field"] == "mcp_url"
        assert c.post("/v1/nodes", json={"mcp_url": "http://x"}).json()["field"] == "name"


def test_json_nested_thousands_deep_or_with_invalid_utf8_in_a_string_gets_400(server) -> None:
    deep = b'{"token": "t", "to": "analyzing", "data": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        r = c.post(f"/v1/events/{eid}/transition", content=deep, headers={"content-type": "application/json"})
        assert r.status_code == 400 and "nests arrays or objects too deeply" in r.json()["message"], r.text
        r = c.post("/v1/events", content=b'{"node": "a\xff", "source": "x", "spec": "s", "test": "t", '
                   b'"message": "m"}', headers={"content-type": "application/json"})
        assert r.status_code == 400 and "UTF-8" in r.json()["message"], r.text
        assert [e["id"] for e in c.get("/v1/events").json()["events"]] == [eid]
