"""The operator CLI against a real server process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support import QueueServer, failure


def healloop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    return subprocess.run([sys.executable, "-m", "healloop", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=60)


def test_list_show_requeue_close(server: QueueServer) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1, test="购物车 > 结算")).json()["id"]
        c.post("/v1/events", json=failure(1, test="购物车 > 结算", node="node-b"))
        tok = c.post("/v1/events/next", json={"worker": "w"}).json()["lease"]["token"]
        c.post(f"/v1/events/{eid}/transition", json={"token": tok, "to": "escalated", "note": "why"})
    out = healloop("events", "list", "--queue", server.url)
    assert out.returncode == 0, out.stderr
    assert eid in out.stdout and "escalated" in out.stdout and "node-a,node-b" in out.stdout
    js = healloop("events", "list", "--queue", server.url, "--json", "--status", "escalated")
    assert [e["id"] for e in json.loads(js.stdout)] == [eid]
    show = healloop("events", "show", eid, env={"HEALLOOP_URL": server.url})
    assert show.returncode == 0 and "购物车 > 结算" in show.stdout and "why" in show.stdout
    r = healloop("events", "requeue", eid, "--queue", server.url, "--note", "env fixed")
    assert r.returncode == 0 and f"{eid} is now queued" in r.stdout
    again = healloop("events", "requeue", eid, "--queue", server.url)
    assert again.returncode == 1 and "only an escalated event can be requeued" in again.stderr
    missing = healloop("events", "close", "evt_nope", "--queue", server.url)
    assert missing.returncode == 1 and "no event with id 'evt_nope'" in missing.stderr


def test_cli_errors_are_sentences(make_server, tmp_path) -> None:
    down = healloop("events", "list", "--queue", "http://127.0.0.1:9")
    assert down.returncode == 1 and "cannot reach the queue at http://127.0.0.1:9" in down.stderr
    bad = healloop("events", "list", "--queue", "localhost:8787")
    assert bad.returncode == 1 and "must start with http://" in bad.stderr
    s = make_server(token="t0k")
    r = healloop("events", "list", "--queue", s.url)
    assert r.returncode == 1 and "Bearer" in r.stderr
    ok = healloop("events", "list", "--queue", s.url, env={"HEALLOOP_TOKEN": "t0k"})
    assert ok.returncode == 0 and "no events" in ok.stdout
    port = healloop("serve", "--port", "70000")
    assert port.returncode == 2 and "70000" in port.stderr


def test_serve_help_shows_env_vars() -> None:
    out = healloop("serve", "--help").stdout
    for var in ("HEALLOOP_DB", "HEALLOOP_PORT", "HEALLOOP_TOKEN", "HEALLOOP_MAX_ATTEMPTS"):
        assert var in out
