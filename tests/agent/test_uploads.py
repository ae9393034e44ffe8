"""The agent waits (bounded) for the files a reporter uploads right after its report."""

from __future__ import annotations

import threading
from pathlib import Path

from healloop.agent.context import with_uploads
from healloop.client import QueueClient
from tests.support import QueueServer

DOM = {"name": "dom-snapshot.html", "content_type": "text/html", "path": "/tmp/healloop-pw-x/1.html"}


def _report(q: QueueClient) -> dict:
    event_id = q.report(node="n", source="playwright", spec="e2e/a.spec.js", test="a > b",
                        message="waiting for locator", artifacts=[DOM])["id"]
    return q.get(event_id)


def _upload(queue: QueueServer, event_id: str) -> None:
    with queue.client() as http:
        files = {"file": ("dom-snapshot.html", b"<html><body>hi</body></html>", "text/html")}
        http.post(f"/v1/events/{event_id}/artifacts", files=files).raise_for_status()


def test_an_upload_that_arrives_while_waiting_is_seen(tmp_path: Path) -> None:
    queue = QueueServer(tmp_path / "events.db").start()
    try:
        with QueueClient(queue.url) as q:
            event = _report(q)
            uploader = threading.Thread(target=_upload, args=(queue, event["id"]))
            uploader.start()
            got = with_uploads(q, event, wait_s=30)
            uploader.join()
        assert any(a.get("url") and a["name"] == "dom-snapshot.html" for a in got["artifacts"])
    finally:
        queue.stop()


def test_without_uploads_the_event_is_used_as_it_is(tmp_path: Path) -> None:
    queue = QueueServer(tmp_path / "events.db").start()
    try:
        with QueueClient(queue.url) as q:
            event = _report(q)
            got = with_uploads(q, event, wait_s=0.3)
        assert [a.get("path") for a in got["artifacts"]] == [DOM["path"]]
    finally:
        queue.stop()
