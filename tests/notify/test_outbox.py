"""The queue tells its channels of outcomes through a durable outbox: a real `healloop serve` with a
webhook channel, against a local receiver that checks the HMAC signature, as a team's endpoint would."""

from __future__ import annotations

import hashlib
import hmac
import json
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from healloop.stack import free_port
from tests.support import QueueServer, failure, wait_until

SECRET = "s3cret-签名"


class Receiver:
    """A webhook endpoint on a fixed port that can be started, stopped and told to answer 503."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.got: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.answer = 200
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(self.headers.get("x-healloop-signature", ""), want):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                elif receiver.answer != 200:
                    self.send_response(receiver.answer)
                else:
                    receiver.got.append(json.loads(body))
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def events(self) -> list[str]:
        return [m.get("event_id") for m in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port())
    yield r
    r.stop()


def _config(tmp_path: Path, port: int, extra: str = "") -> Path:
    path = tmp_path / "healloop.toml"
    path.write_text(textwrap.dedent(f"""
        [queue]
        public_url = "http://queue.example:8787"
        notify_retry_s = 0.2
        {extra}
        [notify.team-hook]
        kind = "webhook"
        url = "http://127.0.0.1:{port}/hook"
        secret = "{SECRET}"
        on = ["escalated", "resolved", "flapping"]
    """))
    return path


def _escalate(c: httpx.Client, body: dict[str, Any], why: str = "escalated: the app changed") -> str:
    event_id = c.post("/v1/events", json=body).json()["id"]
    claim = c.post("/v1/events/next", json={"worker": "agent-1"}).json()
    assert claim["event"]["id"] == event_id
    token = claim["lease"]["token"]
    for to, note in (("analyzing", None), ("escalated", why)):
        r = c.post(f"/v1/events/{event_id}/transition", json={"token": token, "to": to, "note": note})
        assert r.status_code == 200, r.text
    return event_id


def _told(c: httpx.Client, event_id: str) -> list[dict[str, Any]]:
    return c.get(f"/v1/events/{event_id}").json()["notifications"]


def test_one_message_per_outcome_signed_and_merges_send_nothing(tmp_path: Path, receiver: Receiver) -> None:
    receiver.start()
    queue = QueueServer(tmp_path / "events.db", "--config", str(_config(tmp_path, receiver.port))).start()
    try:
        with queue.client() as c:
            event_id = _escalate(c, failure(1))
            wait_until(lambda: receiver.got, timeout=20, what="the escalation message")
            # The same failure reported again merges into the escalated event: nothing new to tell.
            assert c.post("/v1/events", json=failure(1)).json() == {
                "id": event_id, "status": "escalated", "count": 2, "merged": True}
            sentinel = _escalate(c, failure(2))
            wait_until(lambda: sentinel in receiver.events(), timeout=20, what="the second event's message")
            assert receiver.events() == [event_id, sentinel] and receiver.bad_signatures == 0
            msg = receiver.got[0]
            assert msg["outcome"] == "escalated" and msg["reason"] == "escalated: the app changed"
            assert msg["test"] == "checkout > pays 1"
            assert msg["link"] == f"http://queue.example:8787/v1/events/{event_id}"
            [told] = _told(c, event_id)
            assert told["channel"] == "team-hook" and told["status"] == "delivered" and told["attempts"] == 1
            metrics = c.get("/metrics").text
            assert 'healloop_notifications{channel="team-hook",status="delivered"} 2' in metrics
            assert 'healloop_notify_sent_total{channel="team-hook"} 2' in metrics
    finally:
        queue.stop()


def test_a_channel_that_is_down_gets_it_later_once_even_across_a_restart(tmp_path: Path,
                                                                          receiver: Receiver) -> None:
    """Down: reports and claims go on, the delivery retries with backoff and shows its error on the
    event; the queue is killed with it pending; the next queue process delivers it, once."""
    config = _config(tmp_path, receiver.port)
    queue = QueueServer(tmp_path / "events.db", "--config", str(config)).start()
    try:
        with queue.client() as c:
            event_id = _escalate(c, failure(1))
            told = wait_until(lambda: (t := _told(c, event_id)[0])["attempts"] >= 2 and t, timeout=20,
                              what="two failed attempts")
            assert told["status"] == "pending" and "cannot connect" in (told["last_error"] or ""), told
            other = c.post("/v1/events", json=failure(3)).json()  # reports are not held up
            assert other["merged"] is False
        queue.kill9()
        receiver.start()
        queue = QueueServer(tmp_path / "events.db", "--config", str(config)).start()
        with queue.client() as c:
            wait_until(lambda: _told(c, event_id)[0]["status"] == "delivered", timeout=30,
                       what="the pending message after the restart")
            assert receiver.events() == [event_id]
    finally:
        queue.stop()


def test_a_storm_becomes_one_digest_and_a_muted_test_is_not_told(tmp_path: Path, receiver: Receiver) -> None:
    receiver.start()
    config = _config(tmp_path, receiver.port, "storm_events = 2\nstorm_hold_s = 1")
    queue = QueueServer(tmp_path / "events.db", "--config", str(config)).start()
    try:
        with queue.client() as c:
            muted = failure("muted")
            r = c.post("/v1/mutes", json={"spec": muted["spec"], "test": muted["test"], "seconds": 3600,
                                          "reason": "known flaky, ticket QA-12"})
            assert r.status_code == 201, r.text
            assert c.get("/v1/mutes").json()["mutes"][0]["reason"] == "known flaky, ticket QA-12"
            quiet = _escalate(c, muted)
            assert _told(c, quiet)[0]["status"] == "muted"
            ids = [_escalate(c, failure(n)) for n in range(8)]

            def settled() -> bool:
                return all(_told(c, i)[0]["status"] in ("delivered", "digested") for i in ids)

            wait_until(settled, timeout=30, what="every event told, one by one or in a digest")
            digests = [m for m in receiver.got if m["outcome"] == "digest"]
            singles = [m["event_id"] for m in receiver.got if m["outcome"] != "digest"]
            assert digests and len(receiver.got) < len(ids), [m["outcome"] for m in receiver.got]
            in_digests = [item["event_id"] for d in digests for item in d["items"]]
            assert sorted(singles + in_digests) == sorted(ids)  # each event told exactly once
            assert quiet not in singles + in_digests
            assert c.request("DELETE", "/v1/mutes", params={"spec": muted["spec"], "test": muted["test"]}
                             ).status_code == 204
            assert c.get("/v1/mutes").json()["mutes"] == []
    finally:
        queue.stop()


def test_bad_notify_settings_are_named(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "healloop.toml"
    config.write_text('[queue]\nstorm_events = 0\n[notify.x]\nkind = "webhook"\nurl = "http://127.0.0.1:9/"\n')
    run = subprocess.run([sys.executable, "-m", "healloop", "serve", "--db", str(tmp_path / "e.db"),
                          "--port", "0", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "`queue.storm_events` must be a positive integer" in run.stderr


def test_mute_commands_against_a_running_queue(tmp_path: Path) -> None:
    import subprocess
    import sys

    queue = QueueServer(tmp_path / "events.db").start()
    try:
        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "healloop", "notify", *args, "--queue", queue.url],
                                  capture_output=True, text=True, timeout=60)

        done = cli("mute", "e2e/cart.spec.ts", "cart > 结账", "--for", "2h", "--reason", "QA-7")
        assert done.returncode == 0 and done.stdout.startswith("muted e2e/cart.spec.ts > cart > 结账 until")
        assert "cart > 结账  until" in cli("mutes").stdout and "(QA-7)" in cli("mutes").stdout
        bad = cli("mute", "e2e/cart.spec.ts", "x", "--for", "forever")
        assert bad.returncode == 2 and "is not a duration such as 30m, 2h or 7d" in bad.stderr
        assert cli("unmute", "e2e/cart.spec.ts", "cart > 结账").returncode == 0
        gone = cli("unmute", "e2e/cart.spec.ts", "cart > 结账")
        assert gone.returncode == 2 and "no mute for e2e/cart.spec.ts > cart > 结账" in gone.stderr
        assert cli("mutes").stdout.strip() == "no mutes"
    finally:
        queue.stop()


def test_the_queue_tells_feishu_dingtalk_and_slack_in_their_own_signed_formats(tmp_path: Path,
                                                                                 receivers: Any) -> None:
    """The same outbox through the real channel formats: each receiver checks its service's
    signature and message schema, and finds the event it was told of."""
    config = tmp_path / "healloop.toml"
    config.write_text(textwrap.dedent(f"""
        [queue]
        public_url = "http://queue.example:8787"
        [notify.qa-feishu]
        kind = "feishu"
        url = "{receivers.url('/feishu')}"
        secret = "{receivers.secret}"
        [notify.qa-dingtalk]
        kind = "dingtalk"
        url = "{receivers.url('/dingtalk')}?access_token=tok"
        secret = "{receivers.secret}"
        [notify.qa-slack]
        kind = "slack"
        url = "{receivers.url('/slack')}"
    """))
    queue = QueueServer(tmp_path / "events.db", "--config", str(config)).start()
    try:
        with queue.client() as c:
            event_id = _escalate(c, failure(1), "escalated: regression in pricing (abc1234)")
            wait_until(lambda: all(t["status"] == "delivered" for t in _told(c, event_id))
                       and len(_told(c, event_id)) == 3, timeout=20, what="three channels told")
        for path in ("/feishu", "/dingtalk", "/slack"):
            [rec] = receivers.on(path)
            assert rec.problems == [], (path, rec.problems)
            assert event_id in rec.body.decode() and "escalated: regression in pricing" in rec.body.decode()
    finally:
        queue.stop()


def test_a_reverted_fix_is_told_and_only_a_resolved_event_can_be_reverted(tmp_path: Path,
                                                                          receiver: Receiver) -> None:
    receiver.start()
    config = _config(tmp_path, receiver.port).read_text().replace('"flapping"]', '"flapping", "reverted"]')
    (tmp_path / "healloop.toml").write_text(config)
    queue = QueueServer(tmp_path / "events.db", "--config", str(tmp_path / "healloop.toml")).start()
    try:
        with queue.client() as c:
            escalated = _escalate(c, failure(2))
            refused = c.post(f"/v1/events/{escalated}/revert", json={"by": "qa"})
            assert refused.status_code == 409 and "only a resolved event" in refused.json()["message"]
            event_id = c.post("/v1/events", json=failure(1)).json()["id"]
            token = c.post("/v1/events/next", json={"worker": "agent-1"}).json()["lease"]["token"]
            for to in ("analyzing", "verifying", "resolved"):
                assert c.post(f"/v1/events/{event_id}/transition", json={"token": token, "to": to}).is_success
            bad = c.post(f"/v1/events/{event_id}/revert", json={"by": "qa", "reverted": ["not-a-sha"]})
            assert bad.status_code == 400 and "reverted" in bad.json()["message"]
            r = c.post(f"/v1/events/{event_id}/revert", json={"by": "qa-lead", "reason": "wrong button",
                                                             "reverted": ["abc1234"], "reverts": ["def5678"]})
            assert r.status_code == 200 and r.json()["status"] == "escalated"
            wait_until(lambda: any(m["outcome"] == "reverted" for m in receiver.got), timeout=20,
                       what="the reverted message")
            told = next(m for m in receiver.got if m["outcome"] == "reverted")
            assert told["event_id"] == event_id and told["reason"] == "heal reverted by qa-lead: wrong button"
    finally:
        queue.stop()


def test_a_proposal_is_told_with_its_diff_and_the_decision_after_it(tmp_path: Path,
                                                                   receiver: Receiver) -> None:
    receiver.start()
    config = _config(tmp_path, receiver.port).read_text().replace('"flapping"]', '"flapping", "proposed"]')
    (tmp_path / "healloop.toml").write_text(config)
    queue = QueueServer(tmp_path / "events.db", "--config", str(tmp_path / "healloop.toml")).start()
    diff = '-  cy.get("[data-cy=submit]")\n+  cy.get("[data-cy=submit-order]")'
    try:
        with queue.client() as c:
            event_id = c.post("/v1/events", json=failure(1)).json()["id"]
            token = c.post("/v1/events/next", json={"worker": "agent-1"}).json()["lease"]["token"]
            proposal = {"branch": f"healloop/{event_id}", "node": "node-a"}
            for to, data in (("analyzing", None), ("fixing", None),
                             ("verifying", {"actions": [{"tool": "edit_file", "diff": diff}]}),
                             ("proposed", {"proposal": proposal})):
                r = c.post(f"/v1/events/{event_id}/transition",
                           json={"token": token, "to": to, "data": data,
                                 "note": f"proposed on healloop/{event_id}" if to == "proposed" else None})
                assert r.is_success, r.text
            wait_until(lambda: receiver.got, timeout=20, what="the proposed message")
            [told] = receiver.got
            assert told["outcome"] == "proposed" and told["reason"] == f"proposed on healloop/{event_id}"
            assert told["diff"] == diff
            assert c.post(f"/v1/events/{event_id}/reject", json={"by": "qa-lead", "reason": "no"}).is_success
            wait_until(lambda: len(receiver.got) == 2, timeout=20, what="the rejection's message")
            assert receiver.got[1]["outcome"] == "escalated"
            assert receiver.got[1]["reason"] == "fix rejected by qa-lead: no"
    finally:
        queue.stop()
