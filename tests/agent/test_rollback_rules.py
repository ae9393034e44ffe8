"""Unit tests of the agent's rollback rules, no processes: which leftovers the janitor may clean, and
how what was undone reads in a note."""

from __future__ import annotations

import pytest

from healloop.agent import rollback


def event(status: str, *moves: tuple[str, str]) -> dict:
    return {"status": status, "history": [{"to": to, "at": at} for to, at in moves]}


ESCALATED = event(
    "escalated",
    ("queued", "2026-11-25T08:00:00.000Z"),
    ("processing", "2026-11-25T08:00:01.000Z"),
    ("escalated", "2026-11-25T08:05:00.000Z"),
)


@pytest.mark.parametrize(
    ("ev", "updated", "clean"),
    [
        (ESCALATED, "2026-11-25T08:00:02.000Z", True),  # its dead holder's edit
        (ESCALATED, "2026-11-25T08:05:00.000Z", True),
        (ESCALATED, "2026-11-25T09:00:00.000Z", False),  # a person went on under its id afterwards
        (event("resolved", ("resolved", "2026-11-25T08:05:00.000Z")), "2026-11-25T08:00:02.000Z", True),
        (event("queued", ("queued", "2026-11-25T08:05:00.000Z")), "2026-11-25T08:00:02.000Z", False),
        (event("fixing", ("fixing", "2026-11-25T08:05:00.000Z")), "2026-11-25T08:00:02.000Z", False),
        (event("escalated"), "2026-11-25T08:00:02.000Z", False),  # no history to judge by
    ],
)
def test_finished_and_left(ev, updated, clean):
    assert rollback.finished_and_left(ev, {"event_id": "evt_1", "updated": updated}) is clean


def test_owner_of():
    held = [{"event_id": "evt_1", "files": ["a.py"]}, {"event_id": "evt_2", "files": ["b.py", "c.py"]}]
    assert rollback.owner_of(held, "c.py") == held[1]
    assert rollback.owner_of(held, "d.py") is None


def test_describe():
    assert rollback.describe([
        {
            "event_id": "evt_1",
            "node": "ci-1",
            "files": [{"path": "t.py", "action": "restored"}, {"path": "n.py", "action": "removed"}],
            "left": [{"path": "p.py", "why": "changed by someone else"}],
            "head": {"branch": "healloop/revert-evt_1", "back_to": "main", "switched": True, "deleted": True},
        },
        {"event_id": "evt_1", "node": "ci-2", "error": "the node went away"},
    ]) == (
        "undid evt_1's changes on ci-1: t.py restored, n.py removed, HEAD back on main, "
        "branch healloop/revert-evt_1 deleted, p.py left (changed by someone else); "
        "could not undo evt_1's changes on ci-2: the node went away"
    )
