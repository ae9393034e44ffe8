"""Artifacts uploads and Alertmanager / Grafana webhooks against a real server process."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.s3support import S3Server
from tests.support import QueueServer, failure

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@dataclass
class Storage:
    """Where a test's queue keeps its artifacts: its serve arguments and environment, and a listing
    of the blobs stored there (paths below the folder, keys below the prefix)."""

    args: tuple[str, ...]
    env: dict[str, str]
    blobs: Callable[[], list[str]]


@pytest.fixture(params=["folder", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "folder":
        root = tmp_path / "artifacts"
        return Storage((), {}, lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*")
                                              if p.is_file() and p.parent.name != "tmp"))
    s3: S3Server = request.getfixturevalue("s3")
    bucket = s3.bucket(f"art-{tmp_path.name.lower().replace('_', '-')[-40:]}")
    return Storage(("--artifacts", f"s3://{bucket}/queue/a", "--s3-endpoint", s3.url), s3.env(),
                   lambda: [k.removeprefix("queue/a/") for k in s3.keys(bucket, "queue/")])


def test_upload_then_download_artifacts_content_addressed(storage: Storage, make_server) -> None:
    server = make_server(*storage.args, env=storage.env)
    with server.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        files = [("file", ("login (failed).png", PNG, "image/png")),
                 ("file", ("dom.html", "<html><body>登录</body></html>".encode(), "text/html"))]
        r = c.post(f"/v1/events/{eid}/artifacts", files=files)
        assert r.status_code == 201, r.text
        shot, dom = r.json()["artifacts"]
        digest = "sha256:" + hashlib.sha256(PNG).hexdigest()
        assert shot == {"name": "login (failed).png", "content_type": "image/png", "digest": digest,
                        "size": len(PNG), "url": f"/v1/artifacts/{digest}"}
        got = c.get(shot["url"])
        assert got.status_code == 200 and got.content == PNG
        assert got.headers["content-type"] == "image/png"
        assert c.get(dom["url"]).text == "<html><body>登录</body></html>"
        assert c.get(f"/v1/events/{eid}").json()["artifacts"][-2:] == [shot, dom]
        # Same bytes again: same digest, stored once.
        again = c.post(f"/v1/events/{eid}/artifacts", files=[("file", ("copy.png", PNG, "image/png"))])
        assert again.json()["artifacts"][0]["digest"] == digest
    dom_hex = dom["digest"].removeprefix("sha256:")
    assert storage.blobs() == sorted([f"sha256/{digest[7:9]}/{digest[7:]}",
                                      f"sha256/{dom_hex[:2]}/{dom_hex}"])


def test_artifact_refusals(storage: Storage, make_server) -> None:
    s = make_server("--max-artifact-mb", "1", *storage.args, env=storage.env)
    with s.client() as c:
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        big = b"x" * (1024 * 1024 + 1)
        r = c.post(f"/v1/events/{eid}/artifacts", files=[("file", ("huge.png", big, "image/png"))])
        assert r.status_code == 413 and "huge.png" in r.json()["message"] and "1 MiB" in r.json()["message"]
        huge = b"x" * (8 * 1024 * 1024)
        r = c.post(f"/v1/events/{eid}/artifacts", files=[("file", ("50mb.png", huge, "image/png"))])
        assert r.status_code == 413 and "--max-artifact-mb" in r.json()["message"]
        assert c.get(f"/v1/events/{eid}").json()["artifacts"] == []
        assert storage.blobs() == []
        r = c.post("/v1/events/evt_nope/artifacts", files=[("file", ("a.png", b"x", "image/png"))])
        assert r.status_code == 404
        r = c.post(f"/v1/events/{eid}/artifacts", json={"file": "x"})
        assert r.status_code == 400 and "multipart/form-data" in r.json()["message"]
        r = c.post(f"/v1/events/{eid}/artifacts", files=[("other", ("a.png", b"x", "image/png"))])
        assert r.status_code == 400 and r.json()["field"] == "file"
        assert c.get("/v1/artifacts/sha256:" + "0" * 64).status_code == 404
        r = c.get("/v1/artifacts/..%2F..%2Fetc%2Fpasswd")
        assert r.status_code in (400, 404)
        r = c.get("/v1/artifacts/md5:abc")
        assert r.status_code == 400 and "sha256:" in r.json()["message"]


def _alert(status: str, fp: str, **labels: str) -> dict:
    return {"status": status, "labels": {"alertname": "AppDown", "instance": "shop-1:8080", **labels},
            "annotations": {"summary": "shop is down", "description": "probe failed 3 times"},
            "startsAt": "2026-11-25T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-25T10:05:00Z",
            "generatorURL": "http://prom/graph", "fingerprint": fp}


def _hook(*alerts: dict, **extra) -> dict:
    return {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing",
            "receiver": "healloop", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://am", "alerts": list(alerts), **extra}


def test_alertmanager_firing_alerts_become_events_and_resolved_add_a_note(server: QueueServer) -> None:
    with server.client() as c:
        r = c.post("/v1/ingest/alertmanager", json=_hook(
            _alert("firing", "a1b2", severity="critical"), _alert("firing", "c3d4", alertname="Slow")))
        assert r.status_code == 200, r.text
        first, second = r.json()["events"]
        assert first["merged"] is False and first["id"] != second["id"]
        ev = c.get(f"/v1/events/{first['id']}").json()
        assert (ev["kind"], ev["source"], ev["node"], ev["priority"]) == ("alert", "alertmanager",
                                                                         "shop-1", 1)
        assert ev["fingerprint"] == "alert:a1b2" and "probe failed" in ev["message"]
        assert ev["labels"]["alertname"] == "AppDown"
        # Alertmanager resends the same firing alert: it is one report, not two.
        again = c.post("/v1/ingest/alertmanager", json=_hook(_alert("firing", "a1b2"))).json()
        assert again["events"][0] == {**first, "merged": True}
        done = c.post("/v1/ingest/alertmanager", json=_hook(_alert("resolved", "a1b2"), status="resolved"))
        assert done.json() == {"events": [], "notes": 1}
        hist = c.get(f"/v1/events/{first['id']}").json()["history"]
        assert "alert resolved at 2026-11-25T10:05:00Z" in hist[-1]["note"]
        assert hist[-1]["from"] == hist[-1]["to"] == "queued"
        unknown = c.post("/v1/ingest/alertmanager", json=_hook(_alert("resolved", "zzzz")))
        assert unknown.json() == {"events": [], "notes": 0}


def test_grafana_payload_and_node_override(server: QueueServer) -> None:
    with server.client() as c:
        r = c.post("/v1/ingest/alertmanager", params={"node": "edge-7"},
                   json=_hook(_alert("firing", "g1"), orgId=1, state="alerting", title="[FIRING:1]"))
        ev = c.get(f"/v1/events/{r.json()['events'][0]['id']}").json()
        assert (ev["source"], ev["node"]) == ("grafana", "edge-7")


def test_bad_webhook_payloads_are_400_and_store_nothing(server: QueueServer) -> None:
    with server.client() as c:
        for body, field in (({"version": "4", "status": "firing"}, "alerts"),
                            (_hook({"status": "firing"}), "alerts[0].labels"),
                            (_hook({**_alert("firing", "x"), "labels": {"a": 1}}), "alerts[0].labels"),
                            (_hook(_alert("pending", "x")), "alerts.status")):
            r = c.post("/v1/ingest/alertmanager", json=body)
            assert r.status_code == 400, r.text
            assert r.json()["field"] == field
        assert c.post("/v1/ingest/alertmanager", params={"source": "x"},
                      json=_hook(_alert("firing", "x"))).status_code == 400
        assert c.get("/v1/events").json()["events"] == []
