"""``healloop prune`` on real SQLite files and blob folders, alone and beside a running queue."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from healloop.ids import new_id
from healloop.queue.blobs import BlobStore
from healloop.queue.model import ArtifactMeta, Delivery, Event, HistoryEntry
from healloop.queue.quarantine import Quarantine
from healloop.queue.store.sqlite import token_admin
from healloop.timeutil import US, now_us
from tests.cli.test_events_cli import healloop
from tests.support import QueueServer, failure, wait_until

DAY = 86400 * US
STEPS = ("processing", "analyzing", "fixing", "verifying", "resolved")


def old_event(i: int, status: str = "resolved", *, age_days: int = 100, node: str = "node-a") -> Event:
    at = now_us() - age_days * DAY
    return Event(id=new_id(), fingerprint=f"fp{i}", kind="test_failure", node=node, source="playwright",
                 spec=f"e2e/flow{i % 97}.spec.ts", test=f"checkout {i}", message="locator not found",
                 stack=None, priority=3, occurred_at=at, labels={}, artifacts=[], idempotency_key=None,
                 status=status, created_at=at, updated_at=at, nodes=[node],
                 resolved_at=at + 600 * US if status == "resolved" else None)


def fill(db: Path, events: list[Event]) -> None:
    """Writes the events with the history of their lives, through the store's own primitives."""
    tx = token_admin(db)
    try:
        with tx.c:
            for ev in events:
                tx.insert_event(ev)
                for frm, to in zip(("queued", *STEPS), STEPS if ev.status == "resolved" else STEPS[:2],
                                   strict=False):
                    tx.add_history(HistoryEntry(ev.id, ev.created_at + US, frm, to, "agent-1"))
    finally:
        tx.c.close()


def blob(store: BlobStore, content: bytes, *, age_s: int = 0) -> str:
    digest, _ = store.put("shot.png", io.BytesIO(content))
    if age_s:
        path = store.path_of(digest)
        t = path.stat().st_mtime - age_s
        os.utime(path, (t, t))
    return digest


def test_dry_run_counts_then_prune_removes_old_resolved_events_rows_and_unnamed_artifacts(
        tmp_path: Path, make_server) -> None:
    db = tmp_path / "events.db"
    blobs = BlobStore(tmp_path / "artifacts", max_bytes=1 << 20)
    two_hours = 2 * 3600
    only_old = blob(blobs, b"x" * 3000, age_s=two_hours)     # named only by an old event: goes
    shared = blob(blobs, b"y" * 10, age_s=two_hours)         # also named by a kept event (by URL): stays
    fresh = blob(blobs, b"z" * 20)                           # named only by an old event, written just now
    gone = [old_event(i) for i in range(30)]
    gone[0].artifacts = [{"name": "a.png", "digest": only_old, "url": f"/v1/artifacts/{only_old}"},
                         {"name": "b.png", "digest": shared}]
    gone[1].artifacts = [{"name": "c.png", "digest": fresh}]
    gone[2].nodes, gone[2].idempotency_key = ["node-a", "node-b"], "ci-run-7"
    kept = [old_event(100, "escalated"), old_event(101, "proposed"), old_event(102, "queued"),
            old_event(103, "processing"), old_event(104, age_days=10), old_event(105)]
    kept[0].artifacts = [{"name": "b.png", "url": f"http://queue:8787/v1/artifacts/{shared}"}]
    fill(db, [*gone, *kept])  # kept[-1], old and resolved, is the newest event: never removed
    tx = token_admin(db)
    with tx.c:
        for d, size in ((only_old, 3000), (shared, 10), (fresh, 20)):
            tx.put_artifact(ArtifactMeta(d, "image/png", size, now_us() - 100 * DAY))
        tx.add_node_to_event(gone[2], "node-b")
        tx.idempotency_put("ci-run-7", gone[2].id, now_us())
        tx.outbox_add(Delivery(gone[3].id, "resolved", "qa", 1, status="delivered", next_at=1))
    tx.c.close()
    before = db.read_bytes()

    dry = healloop("prune", "--older-than", "90d", "--dry-run", "--db", str(db))
    assert dry.returncode == 0, dry.stderr
    assert ("would remove 30 events resolved before" in dry.stdout and "with 150 history rows, "
            "1 notifications, 1 joined nodes, 1 idempotency keys and 0 actions; 0 test run records and 0 "
            "ended quarantines older than that; 1 artifacts (2.9 KiB); "
            "nothing removed (dry run)" in dry.stdout), dry.stdout
    assert db.read_bytes() == before and blobs.path_of(only_old).is_file()

    out = healloop("prune", "--older-than", "13w", "--db", str(db))
    assert out.returncode == 0, out.stderr
    assert ("removed 30 events resolved before" in out.stdout and "with 150 history rows, "
            "1 notifications, 1 joined nodes, 1 idempotency keys and 0 actions; 0 test run records and "
            "0 ended quarantines older than that; 1 artifacts (2.9 KiB)" in out.stdout), out.stdout
    again = healloop("prune", "--older-than", "90d", "--db", str(db))
    assert "removed 0 events" in again.stdout and "0 artifacts (0 bytes)" in again.stdout

    server = make_server(db=db)
    with server.client() as c:
        assert all(c.get(f"/v1/events/{ev.id}").status_code == 404 for ev in gone)
        assert [c.get(f"/v1/events/{ev.id}").json()["status"] for ev in kept] == [
            "escalated", "proposed", "queued", "processing", "resolved", "resolved"]
        assert c.get(f"/v1/artifacts/{only_old}").status_code == 404
        assert c.get(f"/v1/artifacts/{shared}").content == b"y" * 10
        assert c.get(f"/v1/artifacts/{fresh}").content == b"z" * 20
    assert not any((tmp_path / "artifacts" / "tmp").iterdir())  # nothing left set aside


def test_prune_forgets_runs_of_tests_not_run_since_and_quarantines_ended_before(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    fill(db, [old_event(1)])
    now = now_us()
    tx = token_admin(db)
    with tx.c:
        tx.run_failed("old.spec.ts", "gone", "node-a", now - 200 * DAY)     # not run since: goes
        tx.runs_passed("node-b", [("old.spec.ts", "gone")], now - 120 * DAY)
        tx.run_failed("a.spec.ts", "kept", "node-a", now - 200 * DAY)      # passed lately: stays
        tx.runs_passed("node-a", [("a.spec.ts", "kept")], now - 5 * DAY)
        tx.runs_passed("node-c", [("a.spec.ts", "kept")], now - 95 * DAY)  # this node's record goes
        for spec, lifted, until in (("lifted.spec.ts", now - 100 * DAY, now + 300 * DAY),  # goes
                                    ("expired.spec.ts", None, now - 100 * DAY),            # goes
                                    ("recent.spec.ts", now - 3 * DAY, now + 300 * DAY),    # stays
                                    ("open.spec.ts", None, now + 30 * DAY)):               # in force
            tx.quarantine_put(Quarantine(spec, "t", "qa", now - 400 * DAY, until, "flaky",
                                         lifted_at=lifted, lifted_by="qa" if lifted else None))
    tx.c.close()

    dry = healloop("prune", "--older-than", "90d", "--dry-run", "--db", str(db))
    assert "3 test run records and 2 ended quarantines older than that" in dry.stdout, dry.stdout
    out = healloop("prune", "--older-than", "90d", "--db", str(db), "--batch", "1")
    assert out.returncode == 0, out.stderr
    assert "3 test run records and 2 ended quarantines older than that" in out.stdout, out.stdout
    tx = token_admin(db)
    try:
        assert tx.test_runs("old.spec.ts", "gone") == []
        assert [r.node for r in tx.test_runs("a.spec.ts", "kept")] == ["node-a"]
        assert [q.spec for q in tx.quarantine_all_open(now)] == ["open.spec.ts"]
        assert [len(tx.quarantine_history(s, "t", 5)) for s in (
            "lifted.spec.ts", "expired.spec.ts", "recent.spec.ts", "open.spec.ts")] == [0, 0, 1, 1]
    finally:
        tx.c.close()
    again = healloop("prune", "--older-than", "90d", "--db", str(db))
    assert "0 test run records and 0 ended quarantines" in again.stdout, again.stdout


@pytest.mark.parametrize(("args", "says"), [
    (["--older-than", "90"], "a whole number and a unit, h (hours), d (days) or w (weeks), such as 90d"),
    (["--older-than", "3 months"], "got '3 months'"),
    (["--older-than", "0d", "--force"], "--older-than 0 would remove every resolved event"),
    (["--older-than", "12h"], "--older-than 12h is under a day"),
    (["--older-than", "1d", "--db", "missing.db"], "missing.db does not exist; pass the queue's file"),
])
def test_bad_input_is_refused_with_a_sentence(tmp_path: Path, args: list[str], says: str) -> None:
    db = tmp_path / "events.db"
    fill(db, [old_event(1)])
    if "--db" in args:
        args = [a if a != "missing.db" else str(tmp_path / "missing.db") for a in args]
    else:
        args = [*args, "--db", str(db)]
    out = healloop("prune", *args)
    assert out.returncode == 1 and says in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_under_a_day_with_force_and_a_file_that_is_not_a_queue(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    fill(db, [old_event(1, age_days=0), old_event(2, age_days=0)])
    forced = healloop("prune", "--older-than", "1h", "--force", "--db", str(db), "--dry-run")
    assert forced.returncode == 0 and "would remove 0 events" in forced.stdout
    other = tmp_path / "notes.db"
    other.write_text("not a database at all, just words " * 100)
    out = healloop("prune", "--older-than", "90d", "--db", str(other))
    assert out.returncode == 1 and "cannot be read as an SQLite database" in out.stderr, out.stderr


def test_a_running_queue_keeps_taking_reports_and_claims_while_prune_runs(make_server,
                                                                          tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    fill(db, [old_event(i, node=f"node-{i % 7}") for i in range(20_000)])
    server: QueueServer = make_server(db=db)
    answers: list[tuple[str, int, str]] = []
    pruning = threading.Event()
    during = [0]
    stop = threading.Event()

    def report_and_claim() -> None:
        with server.client() as c:
            i = 0
            while not stop.is_set():
                r = c.post("/v1/events", json=failure(f"live{i}"))
                answers.append(("report", r.status_code, r.json()["id"] if r.status_code == 201 else ""))
                claim = c.post("/v1/events/next", json={"worker": "w", "wait": 0})
                answers.append(("claim", claim.status_code, ""))
                if pruning.is_set():
                    during[0] += 1
                i += 1

    worker = threading.Thread(target=report_and_claim)
    worker.start()
    try:
        wait_until(lambda: len(answers) >= 4, what="the first reports")
        pruning.set()
        proc = subprocess.run([sys.executable, "-m", "healloop", "prune", "--older-than", "90d",
                               "--db", str(db), "--batch", "200"],
                              capture_output=True, text=True, timeout=300)
        pruning.clear()
    finally:
        stop.set()
        worker.join(60)
    assert proc.returncode == 0, proc.stderr
    assert "removed 20,000 events" in proc.stdout and "100,000 history rows" in proc.stdout, proc.stdout
    assert during[0] >= 1
    refused = [a for a in answers if a[1] not in (200, 201, 204)]
    assert refused == []
    reported = [eid for kind, _, eid in answers if kind == "report"]
    with server.client() as c:
        for eid in reported:
            assert c.get(f"/v1/events/{eid}").status_code == 200, eid
