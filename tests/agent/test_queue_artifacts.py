"""DOM snapshots uploaded to the queue (not left on the node): the client's artifact() and the agent
healing from a snapshot it can only fetch from the queue."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from healloop.errors import InvalidInput, NotFound
from tests.agent.conftest import history_data


def _upload(ws, event_id: str, name: str, body: bytes) -> dict:
    files = [("file", (name, body, "text/html"))]
    resp = httpx.post(f"{ws.queue.url}/v1/events/{event_id}/artifacts", files=files, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()["artifacts"][0]


def test_client_artifact_returns_the_uploaded_bytes(ws):
    body = "<html><body><p data-cy=\"x\">héllo</p></body></html>".encode()
    with ws.client() as q:
        event_id = q.report(node="node-a", source="pytest", spec="tests/test_ui.py", test="test_submit",
                            message="boom")["id"]
        stored = _upload(ws, event_id, "dom.html", body)
        assert stored["digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
        assert q.artifact(stored["digest"]) == body
        with pytest.raises(NotFound):
            q.artifact("sha256:" + "0" * 64)
        with pytest.raises(InvalidInput):
            q.artifact("../events")


def test_agent_heals_from_a_snapshot_held_by_the_queue(ws):
    ws.rename_submit_button()
    event_id = ws.report_failure("tests/test_ui.py", "test_submit")
    snapshot = ws.repo / "artifacts/dom/test_submit.html"
    stored = _upload(ws, event_id, "dom-at-failure.html", snapshot.read_bytes())
    snapshot.unlink()  # only the queue has it now
    assert stored["url"].startswith("/v1/artifacts/")
    ws.start_agent()
    event = ws.wait_final(event_id)
    assert event["status"] == "resolved", event["history"]
    fixing = history_data(event, "fixing")[0]
    assert fixing["analysis"]["dom_snapshot"] is True and fixing["analysis"]["missing"] == []
    assert fixing["plan"]["details"]["new_locator"] == "css=[data-cy=submit-order]"
    assert len(ws.commits_for(event_id)) == 1
