"""A registration that changes a node's mcp_url is kept with the node and told to every channel:
agents send that URL the node token, so a move no one made is someone taking the node's place.
A real ``healloop serve`` with a webhook channel and a local receiver."""

from __future__ import annotations

import textwrap
from pathlib import Path

from healloop.stack import free_port
from tests.notify.test_outbox import SECRET, Receiver
from tests.support import QueueServer, wait_until


def test_a_changed_mcp_url_is_recorded_and_notified_once(tmp_path: Path) -> None:
    receiver = Receiver(free_port()).start()
    config = tmp_path / "healloop.toml"
    config.write_text(textwrap.dedent(f"""
        [queue]
        public_url = "http://queue.example:8787"
        [notify.team-hook]
        kind = "webhook"
        url = "http://127.0.0.1:{receiver.port}/hook"
        secret = "{SECRET}"
        on = ["escalated"]
    """))
    queue = QueueServer(tmp_path / "events.db", "--config", str(config)).start()
    try:
        with queue.client() as c:
            good, evil = "http://127.0.0.1:8788/mcp", "http://203.0.113.9:9999/mcp"
            for _ in range(2):  # the node's periodic registration: same URL, nothing to tell
                assert c.post("/v1/nodes", json={"name": "ci-1", "mcp_url": good}).json()["moves"] == []
            r = c.post("/v1/nodes", json={"name": "ci-1", "mcp_url": evil, "labels": {}})
            assert r.status_code == 200 and r.json()["mcp_url"] == evil
            [move] = r.json()["moves"]
            assert move["from"] == good and move["to"] == evil and move["at"].endswith("Z")
            wait_until(lambda: receiver.got, timeout=20, what="the node-moved message")
            [msg] = receiver.got
            assert msg["outcome"] == "node_moved" and msg["nodes"] == ["ci-1"]
            assert good in msg["reason"] and evil in msg["reason"] and "node_hosts" in msg["reason"]
            assert msg["link"] == "http://queue.example:8787/v1/nodes"
            # Moving back is a move too; both stay on record, newest first.
            c.post("/v1/nodes", json={"name": "ci-1", "mcp_url": good})
            [node] = c.get("/v1/nodes").json()["nodes"]
            assert [(m["from"], m["to"]) for m in node["moves"]] == [(evil, good), (good, evil)]
            wait_until(lambda: len(receiver.got) == 2, timeout=20, what="the second node-moved message")
            assert receiver.bad_signatures == 0
    finally:
        queue.stop()
        receiver.stop()
