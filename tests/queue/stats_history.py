"""A hand-made history for GET /v1/stats, put through a real queue's routes as agents and people move
events, with the figures it must give (shared by the API and CLI tests)."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from healloop.stack import free_port
from tests.support import failure

SUSPECT_A = {"sha": "aaaaaaa1", "subject": "pricing: round totals to .99"}
SUSPECT_B = {"sha": "bbbbbbb2", "subject": "nginx: new upstream"}


@contextmanager
def receiver() -> Iterator[int]:
    """A webhook endpoint on loopback: /ok takes every message, /no refuses each (401, not retried)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200 if self.path == "/ok" else 401)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def notify_config(tmp_path: Path, port: int) -> Path:
    """Three channels told of escalations: one that takes them, one that refuses them, one that is down
    (nothing listens; retried only after five minutes, so its deliveries stay pending)."""
    path = tmp_path / "healloop.toml"
    channels = "".join(f'\n[notify.{name}]\nkind = "webhook"\nurl = "{url}"\nsecret = "k"\n'
                       'on = ["escalated"]\n'
                       for name, url in (("ok", f"http://127.0.0.1:{port}/ok"),
                                         ("no", f"http://127.0.0.1:{port}/no"),
                                         ("down", f"http://127.0.0.1:{free_port()}/hook")))
    path.write_text(textwrap.dedent("""
        [queue]
        notify_retry_s = 300
    """) + channels)
    return path


@dataclass
class History:
    ids: dict[str, str] = field(default_factory=dict)          # name -> event id
    classes: dict[str, str] = field(default_factory=dict)      # name -> class the agent recorded


def _claim(c: httpx.Client, eid: str) -> str:
    r = c.post(f"/v1/events/{eid}/claim", json={"worker": "agent-1"})
    assert r.status_code == 200, r.text
    return r.json()["lease"]["token"]


def _moves(c: httpx.Client, eid: str, *moves: tuple[str, dict[str, Any] | None]) -> None:
    tok = _claim(c, eid)
    for to, data in moves:
        r = c.post(f"/v1/events/{eid}/transition", json={"token": tok, "to": to, "data": data})
        assert r.status_code == 200, r.text


def make_history(c: httpx.Client) -> History:
    """Twelve events. Outcomes: healed e1 e2 e3 e4, approved e9, closed e11, proposed e8, escalated e5 e6
    e7, reverted e10, open e12. Flaky: spec2 twice (e2, e3), spec3 once (e4). Suspects: A in e5 and e6,
    B in e7. node-b reported e8 and joined e12; every other event is node-a's."""
    h = History()

    def report(name: str, n: int, cls: str, **extra: Any) -> str:
        r = c.post("/v1/events", json=failure(n, **extra))
        assert r.status_code == 201, r.text
        h.ids[name], h.classes[name] = r.json()["id"], cls
        return h.ids[name]

    def heal(eid: str, cls: str, **resolved: Any) -> None:
        _moves(c, eid, ("analyzing", {"class": cls}), ("fixing", {"class": cls, "node": "node-a"}),
               ("verifying", None), ("resolved", {"class": cls, "playbook": "selector", **resolved}))

    def flaky(eid: str) -> None:
        _moves(c, eid, ("analyzing", {"class": "timeout"}), ("verifying", {"class": "timeout"}),
               ("resolved", {"class": "timeout", "label": "flaky", "flaky_count": 1}))

    def escalate(eid: str, cls: str, suspect: dict[str, str] | None) -> None:
        report_ = {"why_failed": "the total is wrong", "suspect_commit": suspect} if suspect else None
        _moves(c, eid, ("analyzing", {"class": cls}), ("escalated", {"class": cls, "report": report_}))

    def propose(eid: str) -> None:
        _moves(c, eid, ("analyzing", {"class": "selector_not_found"}), ("fixing", {"node": "node-a"}),
               ("verifying", None),
               ("proposed", {"class": "selector_not_found",
                             "proposal": {"branch": f"healloop/{eid}", "node": "node-a"}}))

    heal(report("e1", 1, "selector_not_found"), "selector_not_found")
    flaky(report("e2", 2, "timeout"))
    flaky(report("e3", 2, "timeout"))  # the same test again, after e2 was resolved: a new event
    flaky(report("e4", 3, "timeout"))
    escalate(report("e5", 4, "assertion_mismatch"), "assertion_mismatch", SUSPECT_A)
    escalate(report("e6", 5, "assertion_mismatch"), "assertion_mismatch", SUSPECT_A)
    escalate(report("e7", 6, "service_unreachable"), "service_unreachable", SUSPECT_B)
    propose(report("e8", 7, "selector_not_found", node="node-b"))
    propose(report("e9", 8, "selector_not_found"))
    r = c.post(f"/v1/events/{h.ids['e9']}/approve", json={"by": "qa-lead", "commit": "c0ffee1"})
    assert r.status_code == 200, r.text
    heal(report("e10", 9, "selector_not_found"), "selector_not_found", commit={"sha": "d00d001"})
    r = c.post(f"/v1/events/{h.ids['e10']}/revert", json={"by": "dev", "reason": "wrong element",
                                                          "reverted": ["d00d001"], "reverts": ["e1e1e1e"]})
    assert r.status_code == 200, r.text
    escalate(report("e11", 10, "unknown"), "unknown", None)
    assert c.post(f"/v1/events/{h.ids['e11']}/close", json={"note": "fixed by hand"}).status_code == 200
    report("e12", 11, "unclassified")
    merged = c.post("/v1/events", json=failure(11, node="node-b")).json()
    assert merged["merged"] and merged["id"] == h.ids["e12"]
    return h


def told(c: httpx.Client) -> dict[str, int]:
    """Deliveries so far to the receiver's two channels: /ok delivered, /no failed."""
    got = {ch["channel"]: ch for ch in c.get("/v1/stats").json()["notifications"]}
    return {"ok": got.get("ok", {}).get("delivered", 0), "no": got.get("no", {}).get("failed", 0)}


def stats(server: Any, **params: str) -> dict[str, Any]:
    with server.client() as c:
        r = c.get("/v1/stats", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def us(rfc3339: str) -> int:
    dt = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return int(dt.timestamp() * 1000) * 1000
