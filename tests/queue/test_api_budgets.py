"""Limits on automatic actions, held by a real server process on a real SQLite file whoever the agent is:
a cooldown after a repair, and budgets of moves to fixing per test and per node (issue 12)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import httpx

from healloop.stack import free_port
from tests.support import failure

SPEC, TEST = "cypress/e2e/spec1.cy.js", "checkout > pays 1"


def _claim(c: httpx.Client, body: dict[str, Any]) -> tuple[str, str]:
    """Report ``body``, take that event and move it to analyzing; returns (id, token)."""
    r = c.post("/v1/events", json=body)
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    got = c.post(f"/v1/events/{eid}/claim", json={"worker": "agent-1"})
    assert got.status_code == 200, got.text
    tok = got.json()["lease"]["token"]
    assert _move(c, eid, tok, "analyzing").status_code == 200
    return eid, tok


def _move(c: httpx.Client, eid: str, tok: str, to: str, data: dict[str, Any] | None = None) -> httpx.Response:
    return c.post(f"/v1/events/{eid}/transition", json={"token": tok, "to": to, "data": data})


def _finish(c: httpx.Client, eid: str, tok: str, *steps: str) -> None:
    for to in steps:
        r = _move(c, eid, tok, to)
        assert r.status_code == 200, r.text


def _channel(tmp_path: Path) -> Path:
    """A webhook channel that wants flapping messages; nothing listens, so they stay in the outbox."""
    path = tmp_path / "healloop.toml"
    path.write_text(textwrap.dedent(f"""
        [notify.team-hook]
        kind = "webhook"
        url = "http://127.0.0.1:{free_port()}/hook"
        secret = "s3cret"
        on = ["escalated", "flapping"]
    """))
    return path


def test_a_failure_again_soon_after_its_repair_is_escalated_with_a_note_and_told(  # type: ignore[no-untyped-def]
        make_server, tmp_path: Path) -> None:
    server = make_server("--config", str(_channel(tmp_path)))
    with server.client() as c:
        eid, tok = _claim(c, failure(1))
        _finish(c, eid, tok, "fixing", "verifying", "resolved")
        r = c.post("/v1/events", json=failure(1))
        assert r.status_code == 201 and r.json()["status"] == "escalated", r.text
        again = c.get(f"/v1/events/{r.json()['id']}").json()
        [entry] = again["history"]
        assert (entry["from"], entry["to"]) == (None, "escalated")
        assert entry["note"].startswith("cooldown: this failure was repaired ")
        assert entry["note"].endswith(
            f" s ago (event {eid}); escalated for a person instead of repairing it again so soon "
            "(healloop serve --cooldown 600)")
        assert [n["outcome"] for n in again["notifications"]] == ["flapping"]
        assert c.post("/v1/events/next", json={"worker": "agent-2"}).status_code == 204  # nothing to repair
        # Further reports merge into the escalated event and wait for a person with it.
        assert c.post("/v1/events", json=failure(1)).json()["id"] == again["id"]

        # A resolution that changed nothing (a rerun passed) starts no cooldown.
        other, tok = _claim(c, failure(2))
        _finish(c, other, tok, "verifying", "resolved")
        assert c.post("/v1/events", json=failure(2)).json()["status"] == "queued"


def test_the_cooldown_is_configurable_and_0_turns_it_off(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server("--cooldown", "0")
    with server.client() as c:
        eid, tok = _claim(c, failure(1))
        _finish(c, eid, tok, "fixing", "verifying", "resolved")
        assert c.post("/v1/events", json=failure(1)).json()["status"] == "queued"


def test_the_fourth_fix_of_a_test_within_the_hour_is_refused_and_changes_nothing(  # type: ignore[no-untyped-def]
        make_server) -> None:
    server = make_server()
    with server.client() as c:
        # Three events of one test (reported under their own fingerprints, as node-local failures are):
        # the budget is per spec and test. The first takes two attempts.
        first, tok = _claim(c, failure(1, fingerprint="fp-1"))
        _finish(c, first, tok, "fixing", "verifying", "analyzing", "fixing", "verifying", "resolved")
        second, tok = _claim(c, failure(1, fingerprint="fp-2"))
        _finish(c, second, tok, "fixing", "verifying", "escalated")
        fourth, tok = _claim(c, failure(1, fingerprint="fp-3"))
        before = c.get(f"/v1/events/{fourth}").json()

        r = _move(c, fourth, tok, "fixing", {"node": "node-a", "plan": {"why": "rename the locator"}})
        assert r.status_code == 409
        assert r.json() == {"error": "budget_exhausted", "message": (
            f"budget: 3 automatic fixes for {SPEC}::{TEST} in the past hour (limit 3, healloop serve "
            "--actions-per-hour-test); escalate it for a person instead of fixing it")}
        after = c.get(f"/v1/events/{fourth}").json()
        assert after["status"] == "analyzing" and after["history"] == before["history"]
        assert after == before
        # Refused again while the budget stays spent; the lease still holds, so the agent escalates.
        assert _move(c, fourth, tok, "fixing").json()["error"] == "budget_exhausted"
        assert "healloop_budget_refusals_total 2" in c.get("/metrics").text
        _finish(c, fourth, tok, "escalated")

        # Another test's event still may.
        other, tok = _claim(c, failure(2))
        assert _move(c, other, tok, "fixing", {"node": "node-a"}).status_code == 200


def test_the_budget_per_node_counts_the_node_the_fixing_move_names(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server("--actions-per-hour-node", "2")
    with server.client() as c:
        for n in (1, 2):
            eid, tok = _claim(c, failure(n))
            assert _move(c, eid, tok, "fixing", {"node": "ci-1"}).status_code == 200
        eid, tok = _claim(c, failure(3))
        r = _move(c, eid, tok, "fixing", {"node": "ci-1"})
        assert r.status_code == 409 and r.json()["message"] == (
            "budget: 2 automatic fixes on node ci-1 in the past hour (limit 2, healloop serve "
            "--actions-per-hour-node); escalate it for a person instead of fixing it")
        assert c.get(f"/v1/events/{eid}").json()["status"] == "analyzing"
        # Another node's budget is its own; a move that names no node is counted against its test only.
        assert _move(c, eid, tok, "fixing", {"node": "ci-2"}).status_code == 200
        eid, tok = _claim(c, failure(4))
        assert _move(c, eid, tok, "fixing").status_code == 200


def test_0_turns_each_budget_off(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server("--actions-per-hour-test", "0", "--actions-per-hour-node", "0")
    with server.client() as c:
        for n in range(5):
            eid, tok = _claim(c, failure(1, fingerprint=f"fp-{n}"))
            assert _move(c, eid, tok, "fixing", {"node": "ci-1"}).status_code == 200, n
