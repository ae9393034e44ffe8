"""``healloop report`` sends a JUnit file's passes too (run history, quarantine release) and marks its
quarantined failures: a real process against a real queue."""

from __future__ import annotations

from pathlib import Path

from tests.sources.test_cli import FIXTURES, healloop
from tests.support import QueueServer

SPEC = "tests/test_orders.py"


def test_report_records_the_files_passes_once_per_file_and_node_and_marks_quarantined(
        server: QueueServer, tmp_path: Path) -> None:
    xml = str(FIXTURES / "pytest-junit.xml")
    with server.client() as c:
        q = {"spec": SPEC, "test": "TestRefunds::test_refund_amount", "owner": "ana", "seconds": 3600}
        assert c.post("/v1/quarantines", json=q).status_code == 201
    first = healloop("report", "--queue", server.url, xml, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert ("pytest-junit.xml: 2 failing test(s): 2 delivered; 1 of them quarantined (reported, not healed); "
            "1 passing test(s) recorded") in first.stdout
    again = healloop("report", "--queue", server.url, xml, cwd=tmp_path)
    assert again.returncode == 0 and "1 passing test(s) recorded" in again.stdout
    other = healloop("report", "--queue", server.url, xml, cwd=tmp_path, env={"HEALLOOP_NODE": "build-5"})
    assert other.returncode == 0, other.stderr
    with server.client() as c:
        view = c.get("/v1/test", params={"spec": SPEC, "test": "test_total"}).json()
        statuses = {e["test"]: e["status"] for e in c.get("/v1/events").json()["events"]}
    # The same file again from the same node counted nothing twice; another node's run is its own.
    assert {n["node"]: n["passes"] for n in view["nodes"]} == {"build-4": 1, "build-5": 1}
    assert statuses == {"TestRefunds::test_refund_amount": "quarantined",
                        "test_with_broken_fixture": "queued"}
