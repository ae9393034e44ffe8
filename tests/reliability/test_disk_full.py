"""A full disk under the queue: its SQLite file on a small tmpfs of its own, filled by another file.
Reports, claims and moves get a clear 503 (never a 500, never a hang), nothing acknowledged is lost,
and once space is freed the same server works again."""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import QueueServer, failure, wait_until

DISK_MIB = 4


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        # Lazy, so a server that failed to stop cannot leave the mount behind.
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    """Writes ``path`` until the file system has no byte left."""
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
        with contextlib.suppress(OSError):
            while f.write(b"\0"):
                pass


def refused_clearly(r: httpx.Response) -> None:
    assert r.status_code in (503, 507), (r.status_code, r.text)
    body = r.json()
    assert body["error"] == "unavailable" and "disk is full" in body["message"], body
    assert "free space" in body["message"], body  # says what to do, not only what happened


def test_a_full_disk_answers_503_loses_nothing_acknowledged_and_recovers(small_disk: Path) -> None:
    server = QueueServer(small_disk / "events.db").start()
    acked: dict[str, dict] = {}
    moved: dict[str, int] = {}  # event id -> history length when its last move was acknowledged
    try:
        with server.client(timeout=15) as c:
            for i in range(20):
                r = c.post("/v1/events", json=failure(f"before-{i}"))
                assert r.status_code == 201
                acked[r.json()["id"]] = failure(f"before-{i}")
            held = c.post("/v1/events/next", json={"worker": "w1", "lease": 600}).json()
            eid, token = held["event"]["id"], held["lease"]["token"]
            assert c.post(f"/v1/events/{eid}/transition", json={"token": token, "to": "analyzing"}
                          ).status_code == 200
            moved[eid] = len(c.get(f"/v1/events/{eid}").json()["history"])

            filler = small_disk / "filler"
            fill(filler)
            # Every write from now on either commits (pages freed by checkpoints are reused) or is
            # refused with 503; the loop ends at the first refusal of each kind.
            refused = {"report": False, "transition": False, "claim": False}
            big = "x" * 20_000
            for i in range(2000):
                if all(refused.values()):
                    break
                body = failure(f"full-{i}", message=big)
                r = c.post("/v1/events", json=body)
                if r.status_code == 201:
                    acked[r.json()["id"]] = body
                else:
                    refused_clearly(r)
                    refused["report"] = True
                r = c.post(f"/v1/events/{eid}/heartbeat", json={"token": token})
                if r.status_code != 200:
                    refused_clearly(r)
                    refused["transition"] = True
                r = c.post("/v1/events/next", json={"worker": "w2", "lease": 600})
                if r.status_code == 200:
                    claimed = r.json()["event"]["id"]
                    moved[claimed] = len(c.get(f"/v1/events/{claimed}").json()["history"])
                elif r.status_code != 204:
                    refused_clearly(r)
                    refused["claim"] = True
            assert all(refused.values()), f"the disk never filled: {refused}"
            assert c.get("/healthz").status_code == 200  # reads go on

            filler.unlink()
            wait_until(lambda: c.post("/v1/events", json=failure("after")).status_code == 201,
                       timeout=20, what="reports to be accepted again")
            r = c.post(f"/v1/events/{eid}/transition", json={"token": token, "to": "fixing"})
            assert r.status_code == 200, r.text
            moved[eid] += 1
        server.stop()

        again = QueueServer(small_disk / "events.db").start()
        try:
            with again.client() as c:
                for event_id, body in acked.items():
                    r = c.get(f"/v1/events/{event_id}")
                    assert r.status_code == 200, f"acknowledged report {event_id} was lost"
                    assert r.json()["test"] == body["test"]
                for event_id, steps in moved.items():
                    assert len(c.get(f"/v1/events/{event_id}").json()["history"]) >= steps
                assert c.get(f"/v1/events/{eid}").json()["status"] == "fixing"
        finally:
            again.stop()
    finally:
        server.stop()
