"""/openapi.json against the routes and a real server process (issue 13, item 9): every route and
method is in it, it refuses what the server refuses, it lists the statuses the server answers, and
OPTIONS and 405 name each path's methods."""

from __future__ import annotations

from typing import Any

import jsonschema
from starlette.routing import Route

from healloop.queue.api import routes
from healloop.queue.openapi import openapi_document
from healloop.queue.roles import DASHBOARD
from tests.support import QueueServer, failure

DOC = openapi_document()


def test_every_route_and_method_is_in_the_document_and_nothing_else() -> None:
    # The dashboard's pages are HTML for browsers, not the API (healloop/dashboard).
    served = {(r.path, m.lower()) for r in routes() if isinstance(r, Route)
              for m in r.methods or () if m != "HEAD" and (m, r.path) not in DASHBOARD}
    documented = {(path, method) for path, ops in DOC["paths"].items() for method in ops}
    assert served - documented == set(), "routes missing from /openapi.json"
    assert documented - served == set(), "documented routes the server does not have"


def _valid(schema_name: str, body: Any) -> bool:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": DOC["components"]}
    return jsonschema.Draft202012Validator(schema).is_valid(body)


REPORTS = [
    failure(1),
    failure(2, spec=None),
    failure(3, test=None),
    {k: v for k, v in failure(4).items() if k != "spec"},
    {"node": "n", "source": "alertmanager", "kind": "alert", "message": "down"},
    {"node": "n", "source": "alertmanager", "kind": "alert", "message": "down", "spec": None},
    failure(5, kind="test_failure", test=None),
    failure(6, spec="../../etc/passwd"),
    failure(7, spec="e2e\\login.spec.ts"),
    failure(8, node="\x00"),
    failure(9, test="   "),
    failure(10, artifacts=[{"name": "a"}]),
    failure(11, artifacts=[{"name": "a", "url": ""}]),
    failure(12, artifacts=[{"name": "a", "url": "", "path": "a.png"}]),
    failure(13, artifacts=[{"name": "a", "path": "a.png"}]),
]


def test_the_document_refuses_exactly_what_the_server_refuses(server: QueueServer) -> None:
    with server.client() as c:
        for body in REPORTS:
            r = c.post("/v1/events", json=body)
            assert r.status_code in (200, 201, 400), r.text
            assert _valid("ReportIn", body) == (r.status_code < 400), (body, r.text)
        got = c.post("/v1/events/next", json={"worker": "w"}).json()
        eid, tok = got["event"]["id"], got["lease"]["token"]
        for to, want in (("done", 400), ("queued", 409), ("analyzing", 200)):
            body = {"token": tok, "to": to}
            r = c.post(f"/v1/events/{eid}/transition", json=body)
            assert r.status_code == want, r.text
            assert _valid("TransitionIn", body) == (want != 400)
        for url in ("ftp://x", "host:8788", "http://x:8788/mcp", "stdio:node"):
            body = {"name": "n", "mcp_url": url}
            r = c.post("/v1/nodes", json=body)
            assert _valid("NodeIn", body) == (r.status_code == 200), (url, r.text)


def _listed(path: str, method: str, status: int) -> bool:
    return str(status) in DOC["paths"][path][method]["responses"]


def test_the_document_lists_the_statuses_the_server_answers(server: QueueServer) -> None:
    v1 = "/v1/events/{event_id}"
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        big = b'{"note": "' + b"x" * (1024 * 1024) + b'"}'
        as_json = {"content-type": "application/json"}
        for action in ("requeue", "close"):
            seen = {c.post(f"/v1/events/{eid}/{action}", content=b"[1]", headers=as_json).status_code,
                    c.post(f"/v1/events/{eid}/{action}").status_code,                 # not escalated
                    c.post(f"/v1/events/evt_nope/{action}").status_code,
                    c.post(f"/v1/events/{eid}/{action}", content=big, headers=as_json).status_code,
                    c.post(f"/v1/events/{eid}/{action}", content=b"[1]").status_code}  # not JSON
            assert seen == {400, 409, 404, 413, 415}
            assert all(_listed(f"{v1}/{action}", "post", s) for s in seen), (action, seen)
        seen = {c.post("/v1/ingest/alertmanager", json={"version": "4"}).status_code,
                c.post("/v1/ingest/alertmanager", json={"version": "4", "status": "firing", "alerts": []}
                       ).status_code}
        assert seen == {400, 200} and all(_listed("/v1/ingest/alertmanager", "post", s) for s in seen)
        up = c.post(f"/v1/events/{eid}/artifacts", files=[("file", ("a.png", b"png", "image/png"))])
        assert up.status_code == 201 and _listed(f"{v1}/artifacts", "post", 201)
        got = c.get(up.json()["artifacts"][0]["url"])
        assert got.status_code == 200 and _listed("/v1/artifacts/{digest}", "get", 200)
        bad = c.get("/v1/artifacts/md5:x")
        assert bad.status_code == 400 and _listed("/v1/artifacts/{digest}", "get", 400)


def test_options_answers_the_methods_and_every_405_lists_them(server: QueueServer) -> None:
    def allow(r: Any) -> set[str]:
        return {m.strip() for m in r.headers["allow"].split(",")}

    with server.client() as c:
        for path, methods in (("/v1/events", {"GET", "HEAD", "POST", "OPTIONS"}),
                              ("/v1/nodes", {"GET", "HEAD", "POST", "OPTIONS"}),
                              ("/v1/mutes", {"GET", "HEAD", "POST", "DELETE", "OPTIONS"}),
                              ("/v1/events/evt_x/transition", {"POST", "OPTIONS"}),
                              ("/healthz", {"GET", "HEAD", "OPTIONS"})):
            r = c.options(path)
            assert r.status_code == 204 and allow(r) == methods, (path, r.status_code, r.headers)
            assert not [h for h in r.headers if h.lower().startswith("access-control-")], "no CORS here"
        for method, path in (("DELETE", "/v1/nodes"), ("GET", "/v1/events/evt_x/transition"),
                             ("PUT", "/v1/events"), ("POST", "/healthz")):
            r = c.request(method, path)
            assert r.status_code == 405 and "OPTIONS" in allow(r), r.text
            assert method not in allow(r) and method in r.json()["message"]
        assert c.options("/v1/nothing").status_code == 404
