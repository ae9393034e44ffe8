"""Role tokens on a real server process and a real SQLite file: each role against each route, the old
single token as admin, revocation seen while serving, node tokens bound to their node's name."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from healloop.queue.roles import ACCESS, ANYONE, DASHBOARD, ROLES
from healloop.queue.store.choose import token_admin
from healloop.queue.tokens import hash_secret, issue, revoke
from tests.pgdb import db_of
from tests.support import QueueServer, failure, wait_until

NODE_URL = "http://127.0.0.1:1/mcp"


def give(db: Path, name: str, role: str, *, replace: bool = False) -> str:
    """A token made as `healloop token create` makes it, on the server's file while it serves."""
    tx = token_admin(db_of(db))
    try:
        with tx.c:
            return issue(tx, name, role, replace=replace)
    finally:
        tx.c.close()


def take_back(db: Path, name: str) -> None:
    tx = token_admin(db_of(db))
    try:
        with tx.c:
            revoke(tx, name)
    finally:
        tx.c.close()


def _call(c: httpx.Client, method: str, template: str, secret: str | None) -> httpx.Response:
    path = (template.replace("{event_id}", "evt_none").replace("{digest}", "sha256:" + "0" * 64)
            .replace("{path}", "swagger-ui.css"))
    body = {"name": "ci-1", "mcp_url": NODE_URL} if path == "/v1/nodes" else {}
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    if method in ("GET", "DELETE"):
        return c.request(method, path, headers=headers)
    return c.request(method, path, json=body, headers=headers)


@pytest.fixture
def guarded(make_server, tmp_path: Path) -> tuple[QueueServer, dict[str, str]]:
    """A queue started with the old single --token, and a token of every other role (the node's for
    ci-1) created while it serves."""
    s = make_server(token="the-old-token")
    secrets = {"admin": "the-old-token"}
    for role in ROLES:
        if role != "admin":
            secrets[role] = give(s.db, "ci-1" if role == "node" else f"my-{role}", role)
    # The server reads new tokens within a second: wait until they count (any valid token gets the
    # router's 404 on a path that does not exist).
    with s.client(token=secrets["node"]) as c:
        wait_until(lambda: c.get("/v1/nowhere").status_code == 404, what="the new tokens to count")
    return s, secrets


def test_each_role_may_call_exactly_the_routes_the_table_gives_it(guarded) -> None:
    s, secrets = guarded
    with httpx.Client(base_url=s.url, timeout=30) as c:
        wrong = []
        for (method, template), allowed in ACCESS.items():
            if (method, template) in DASHBOARD:
                continue  # signed in with a cookie, not a bearer token: tests/dashboard/test_access.py
            for role, secret in secrets.items():
                r = _call(c, method, template, secret)
                may = allowed is ANYONE or role == "admin" or role in allowed
                if may == (r.status_code in (401, 403)):
                    wrong.append(f"{role} {method} {template}: {r.status_code} {r.text[:120]}")
                if not may:
                    body = r.json()
                    assert body["error"] == "forbidden"
                    assert f"has role {role}" in body["message"] and "admin" in body["message"]
        assert wrong == []


def test_no_unknown_or_malformed_token_is_401_with_a_bearer_challenge(guarded) -> None:
    s, secrets = guarded
    with httpx.Client(base_url=s.url, timeout=30) as c:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dTpw"},
                        {"Authorization": "Bearer"}):
            for path in ("/v1/events", "/v1/nowhere"):
                r = c.get(path, headers=headers)
                assert r.status_code == 401, (headers, path, r.text)
                assert r.headers["www-authenticate"] == "Bearer"
                assert r.json()["error"] == "unauthorized" and "token" in r.json()["message"]
        # The hot path is behind the same door.
        assert c.post("/v1/events", json=failure(1)).status_code == 401
        assert c.get("/healthz").status_code == 200 and c.get("/metrics").status_code == 200
        # A valid token on a route that does not exist gets the router's answer.
        r = c.get("/v1/nowhere", headers={"Authorization": f"Bearer {secrets['reporter']}"})
        assert r.status_code == 404


def test_the_scheme_is_case_insensitive(guarded) -> None:
    s, secrets = guarded
    with httpx.Client(base_url=s.url, timeout=30) as c:
        for scheme in ("bearer", "BEARER", "Bearer"):
            r = c.post("/v1/events", json=failure(1),
                       headers={"Authorization": f"{scheme} {secrets['reporter']}"})
            assert r.status_code in (200, 201), (scheme, r.text)


def test_a_revoked_token_is_refused_by_the_running_server_and_says_so(make_server) -> None:
    s = make_server()
    secret = give(s.db, "ci-reporter", "reporter")
    with s.client(token=secret) as c:
        wait_until(lambda: c.post("/v1/events", json=failure(1)).status_code in (200, 201),
                   what="the new token to count")
        take_back(s.db, "ci-reporter")
        r = wait_until(lambda: (r := c.post("/v1/events", json=failure(2))).status_code == 401 and r,
                       what="the revocation to count")
        assert "'ci-reporter' was revoked at" in r.json()["message"]
    # Revoking the last token does not open the queue again.
    with s.client() as c:
        assert c.get("/v1/events").status_code == 401


def test_a_token_created_while_serving_closes_an_open_queue(make_server) -> None:
    s = make_server()
    with s.client() as c:
        assert c.get("/v1/events").status_code == 200  # no token of any kind: open, as before
        secret = give(s.db, "ops", "operator")
        wait_until(lambda: c.get("/v1/events").status_code == 401, what="the queue to need a token")
        assert c.get("/v1/events", headers={"Authorization": f"Bearer {secret}"}).status_code == 200


def test_a_node_token_registers_its_own_node_only(guarded) -> None:
    s, secrets = guarded
    with s.client(token=secrets["node"]) as c:
        assert c.post("/v1/nodes", json={"name": "ci-1", "mcp_url": NODE_URL}).status_code == 200
        r = c.post("/v1/nodes", json={"name": "ci-2", "mcp_url": "http://evil.example/mcp"})
        assert r.status_code == 403
        assert "node token is for node 'ci-1'" in r.json()["message"] and "'ci-2'" in r.json()["message"]
        assert c.get("/v1/nodes").status_code == 403  # a node reads nothing
        assert c.post("/v1/nodes", content=b"{not json",
                      headers={"content-type": "application/json"}).status_code == 400
    with s.client(token=secrets["admin"]) as c:
        nodes = c.get("/v1/nodes").json()["nodes"]
        assert [(n["name"], n["mcp_url"]) for n in nodes] == [("ci-1", NODE_URL)]
        assert c.post("/v1/nodes", json={"name": "ci-2", "mcp_url": NODE_URL}).status_code == 200


def test_tokens_declared_in_healloop_toml_by_hash_or_env(make_server, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "healloop.toml"
    cfg.write_text(f'[queue.tokens.ci]\nrole = "reporter"\nsha256 = "{hash_secret("from-a-hash")}"\n'
                   '[queue.tokens.ops]\nrole = "operator"\nenv = "OPS_QUEUE_TOKEN"\n')
    monkeypatch.setenv("OPS_QUEUE_TOKEN", "from-the-env")  # QueueServer passes non-HEALLOOP_ variables
    s = make_server("--config", str(cfg))
    with s.client() as c:
        assert c.get("/v1/events").status_code == 401
        assert c.post("/v1/events", json=failure(1),
                      headers={"Authorization": "Bearer from-a-hash"}).status_code == 201
        ops = {"Authorization": "Bearer from-the-env"}
        assert c.get("/v1/events", headers=ops).status_code == 200
        assert c.post("/v1/events", json=failure(1), headers=ops).status_code == 403


def test_a_plaintext_secret_in_healloop_toml_is_refused_at_start(tmp_path: Path) -> None:
    cfg = tmp_path / "healloop.toml"
    cfg.write_text('[queue.tokens.ci]\nrole = "reporter"\nsha256 = "hlt_my-secret"\n')
    with pytest.raises(AssertionError) as err:
        QueueServer(tmp_path / "e.db", "--config", str(cfg)).start()
    assert "queue.tokens.ci.sha256` must be 64 lowercase hex digits" in str(err.value)
    assert "hlt_my-secret" not in str(err.value)


def test_tokens_made_before_the_server_started_count_from_its_first_request(make_server,
                                                                          tmp_path: Path) -> None:
    give(tmp_path / "events.db", "ops", "operator")
    s = make_server()
    with s.client() as c:
        assert c.get("/v1/events").status_code == 401


def test_the_nodes_registration_sends_its_token_and_logs_the_queues_refusal(guarded, caplog) -> None:
    import anyio

    from healloop.node.registration import Registration

    s, secrets = guarded

    async def once(name: str) -> bool:
        reg = Registration(s.url, name=name, mcp_url=NODE_URL, token=secrets["node"])
        async with httpx.AsyncClient(timeout=10) as client:
            return await reg.register_once(client)

    assert anyio.run(once, "ci-1") is True
    with caplog.at_level("WARNING", logger="healloop.node.registration"):
        assert anyio.run(once, "ci-2") is False
    assert "HTTP 403: this node token is for node 'ci-1'" in caplog.text
