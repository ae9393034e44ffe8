"""DOM snapshots uploaded to the queue and written to the node: the client's artifact(), the agent
healing from a snapshot it can only fetch from the queue, and the context reading the uploaded copy
first, the node's file second, and recording a miss only when neither can be read."""

from __future__ import annotations

import hashlib

import anyio
import httpx
import pytest

from healloop.agent.context import Context, gather, one_per_name
from healloop.agent.mcpclient import NodeSession
from healloop.errors import InvalidInput, NotFound
from tests.agent.conftest import NODE_TOKEN, history_data


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


def _gather(ws, event_id: str) -> Context:
    """The agent's context for one event, gathered over a real MCP session to the workspace's node."""

    async def go() -> Context:
        async with NodeSession(f"http://127.0.0.1:{ws.node_port}/mcp", NODE_TOKEN) as node:
            info = await node.call("node_info")
            with ws.client() as q:
                return await gather(node, q, q.get(event_id), info)

    return anyio.run(go)


def _report(ws, artifacts: list[dict]) -> str:
    with ws.client() as q:
        return q.report(node="node-a", source="pytest", spec="tests/test_ui.py", test="test_submit",
                        message="Expected to find element: [data-cy=submit], but never found it",
                        artifacts=artifacts)["id"]


def test_context_reads_the_uploaded_copy_first_and_records_nothing_missing(ws):
    # The reporter named a file the node does not have (cleaned away since, or another machine's).
    dom = {"name": "dom-snapshot.html", "content_type": "text/html", "path": "run-gone/t/dom-snapshot.html"}
    event_id = _report(ws, [dom])
    body = b'<form><button data-cy="submit-order">Submit order</button></form>'
    _upload(ws, event_id, "dom-snapshot.html", body)
    ctx = _gather(ws, event_id)
    assert ctx.dom == body.decode()
    assert ctx.missing == []


def test_context_reads_the_node_file_without_an_upload_and_names_both_misses(ws):
    run = ws.repo / "artifacts" / "run-1" / "tests_test_ui.py -- test_submit-0123abcd"
    run.mkdir(parents=True)
    (run / "dom-at-failure.html").write_text('<button data-cy="submit-order">Submit</button>')
    rel = "run-1/tests_test_ui.py -- test_submit-0123abcd"
    event_id = _report(ws, [
        {"name": "dom-at-failure.html", "content_type": "text/html", "path": f"{rel}/dom-at-failure.html"},
        {"name": "dom-last-pass.html", "content_type": "text/html", "path": f"{rel}/dom-last-pass.html"},
    ])
    ctx = _gather(ws, event_id)
    assert ctx.dom == '<button data-cy="submit-order">Submit</button>'
    assert ctx.passing_dom is None
    [miss] = ctx.missing
    assert miss.startswith("artifact 'dom-last-pass.html': no uploaded copy; the node's file: read_artifact: "
                           f"no artifact '{rel}/dom-last-pass.html' in the artifacts folder"), miss


def test_a_path_entry_and_its_upload_are_one_artifact():
    got = one_per_name([
        {"name": "dom.html", "content_type": "text/html", "path": "run-1/a/dom.html"},
        {"name": "shot.png", "content_type": "image/png", "path": "run-1/a/shot.png"},
        {"name": "dom.html", "content_type": "text/html", "digest": "sha256:ab", "size": 3,
         "url": "/v1/artifacts/sha256:ab"},
    ])
    assert got == [
        {"name": "dom.html", "content_type": "text/html", "path": "run-1/a/dom.html", "digest": "sha256:ab",
         "size": 3, "url": "/v1/artifacts/sha256:ab"},
        {"name": "shot.png", "content_type": "image/png", "path": "run-1/a/shot.png"},
    ]
