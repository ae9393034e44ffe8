"""The queue refuses what a web page could make a browser send: non-JSON bodies (no CORS preflight),
foreign Origins, and Host names it was not told (DNS rebinding). Against a real ``healloop serve``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import QueueServer, failure

NODE = {"name": "ci-1", "mcp_url": "http://127.0.0.1:8788/mcp", "labels": {}}


def _port(server: QueueServer) -> int:
    return int(urlsplit(server.url).port or 0)


def test_a_text_plain_report_or_registration_is_415_and_stores_nothing(server: QueueServer) -> None:
    import json

    with server.client() as c:
        # What a page's fetch() or <form> sends without a preflight: text/plain, urlencoded, multipart.
        for ctype in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                      "multipart/form-data; boundary=x"):
            r = c.post("/v1/events", content=json.dumps(failure(1)), headers={"content-type": ctype})
            assert r.status_code == 415, (ctype, r.text)
            assert r.json()["error"] == "unsupported_media_type"
            assert "Content-Type: application/json" in r.json()["message"]
            r = c.post("/v1/nodes", content=json.dumps(NODE), headers={"content-type": ctype})
            assert r.status_code == 415, (ctype, r.text)
        r = c.post("/v1/events/next", content=b'{"worker": "w"}', headers={"content-type": "text/plain"})
        assert r.status_code == 415
        # A chunked body with no type at all is refused too.
        r = c.post("/v1/nodes", content=iter([json.dumps(NODE).encode()]))
        assert r.status_code == 415 and "no Content-Type" in r.json()["message"]
        assert c.get("/v1/events").json() == {"events": []}
        assert c.get("/v1/nodes").json() == {"nodes": []}
        # JSON with a charset parameter is JSON.
        r = c.post("/v1/events", content=json.dumps(failure(1)),
                   headers={"content-type": "Application/JSON; charset=utf-8"})
        assert r.status_code == 201, r.text


def test_bodyless_posts_and_uploads_still_pass(server: QueueServer) -> None:
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        lease = c.post("/v1/events/next", json={"worker": "w"}).json()["lease"]
        c.post(f"/v1/events/{eid}/transition", json={"token": lease["token"], "to": "escalated"})
        r = c.post(f"/v1/events/{eid}/requeue")  # no body, no Content-Type
        assert r.status_code == 200 and r.json()["status"] == "queued", r.text
        r = c.post(f"/v1/events/{eid}/artifacts", files={"file": ("a.txt", b"hi", "text/plain")})
        assert r.status_code == 201, r.text


def test_a_webhook_sent_form_encoded_is_told_to_use_json(server: QueueServer) -> None:
    with server.client() as c:
        r = c.post("/v1/ingest/github", content=b"payload=%7B%7D",
                   headers={"content-type": "application/x-www-form-urlencoded",
                            "x-github-event": "pull_request"})
        assert r.status_code == 415 and "webhook's content type to application/json" in r.json()["message"]


def test_a_cross_site_origin_is_403_and_the_queues_own_origin_passes(server: QueueServer) -> None:
    with server.client() as c:
        for origin in ("http://evil.example", "http://localhost:3000", "null"):
            r = c.post("/v1/nodes", json=NODE, headers={"origin": origin})
            assert r.status_code == 403, (origin, r.text)
            assert r.json()["error"] == "origin_not_allowed" and "--cors-origin" in r.json()["message"]
            r = c.get("/v1/events", headers={"origin": origin})
            assert r.status_code == 403
            # No CORS unless configured: a preflight is refused as well.
            r = c.options("/v1/nodes", headers={"origin": origin, "access-control-request-method": "POST"})
            assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
        assert c.get("/v1/nodes").json() == {"nodes": []}
        # The Swagger UI at /docs is the queue's own origin: its POSTs carry that Origin.
        r = c.post("/v1/nodes", json=NODE, headers={"origin": server.url})
        assert r.status_code == 200, r.text
        assert "access-control-allow-origin" not in r.headers


def test_a_host_name_it_was_not_told_is_refused(server: QueueServer) -> None:
    port = _port(server)
    with server.client() as c:
        for host in (f"rebind.attacker.example:{port}", "rebind.attacker.example", f"queue.internal:{port}"):
            r = c.get("/v1/events", headers={"host": host})
            assert r.status_code == 421, (host, r.text)
            body = r.json()
            assert body["error"] == "host_not_allowed"
            name = host.split(":")[0]
            assert f"--allowed-host {name}" in body["message"] and "DNS rebinding" in body["message"]
            r = c.post("/v1/events", json=failure(1), headers={"host": host})
            assert r.status_code == 421
        assert c.get("/v1/events").json() == {"events": []}
        # Local names and addresses (which cannot be rebound) are answered.
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", f"10.1.2.3:{port}",
                     f"LOCALHOST.:{port}"):
            assert c.get("/healthz", headers={"host": host}).status_code == 200, host


def test_a_configured_host_works_from_the_flag_and_from_healloop_toml(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "healloop.toml"
    config.write_text('[queue]\nallowed_hosts = ["ci-queue.lan"]\n')
    server = make_server("--allowed-host", "queue.internal", "--config", str(config))
    port = _port(server)
    with server.client() as c:
        for host in (f"queue.internal:{port}", "Queue.Internal", f"ci-queue.lan:{port}"):
            r = c.post("/v1/events", json=failure(host), headers={"host": host})
            assert r.status_code == 201, (host, r.text)
        assert c.get("/v1/events", headers={"host": "other.lan"}).status_code == 421


def test_cors_preflight_and_replies_for_a_configured_origin_only(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server("--cors-origin", "https://dash.example")
    with server.client() as c:
        r = c.options("/v1/events", headers={"origin": "https://dash.example",
                                              "access-control-request-method": "GET",
                                              "access-control-request-headers": "authorization"})
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == "https://dash.example"
        assert "authorization" in r.headers["access-control-allow-headers"]
        r = c.get("/v1/events", headers={"origin": "https://dash.example"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://dash.example"
        r = c.options("/v1/events", headers={"origin": "https://other.example",
                                              "access-control-request-method": "GET"})
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
        r = c.get("/v1/events", headers={"origin": "https://other.example"})
        assert r.status_code == 403


@pytest.mark.parametrize("flag", [["--allowed-host", "http://queue:8787"], ["--cors-origin", "*"]])
def test_a_bad_host_or_origin_setting_stops_serve_with_a_sentence(tmp_path: Path, flag: list[str]) -> None:
    r = subprocess.run([sys.executable, "-m", "healloop", "serve", "--db", str(tmp_path / "e.db"),
                        "--port", "0", *flag], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert ("is not a host name" if flag[0] == "--allowed-host" else "is not an origin") in r.stderr


def test_host_names_and_settings_are_read_plainly() -> None:
    from healloop.errors import ConfigError
    from healloop.queue.guard import check_host_name, check_origin, host_name

    assert host_name("Queue.Internal:8787") == "queue.internal"
    assert host_name("[::1]:8787") == "::1"
    assert host_name("example.com.") == "example.com"
    assert check_host_name(" ci-queue.lan ") == "ci-queue.lan"
    assert check_origin("https://Dash.Example/") == "https://dash.example"
    for bad in ("queue:8787", "http://queue", ""):
        with pytest.raises(ConfigError):
            check_host_name(bad)
    for bad in ("dash.example", "https://dash.example/app", "*"):
        with pytest.raises(ConfigError):
            check_origin(bad)
