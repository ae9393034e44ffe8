"""The events page's search, spec and label filters look back 30 days unless a window is chosen: they
have no index, and a rare match would walk the whole history (see dashboard/pages.py)."""

from __future__ import annotations

from pathlib import Path

import httpx

from healloop.ids import new_id
from healloop.queue.model import Event
from healloop.queue.store.sqlite import token_admin
from healloop.timeutil import US, now_us
from tests.support import QueueServer

DAY = 86400 * US


def _event(age_days: int, test: str) -> Event:
    at = now_us() - age_days * DAY
    return Event(id=new_id(), fingerprint=new_id(), kind="test_failure", node="node-a", source="cypress",
                 spec="e2e/pay.cy.js", test=test, message="timed out finding #pay", stack=None, priority=3,
                 occurred_at=at, labels={"branch": "main"}, artifacts=[], idempotency_key=None,
                 status="queued", created_at=at, updated_at=at, nodes=["node-a"])


def test_a_search_looks_back_30_days_unless_any_time_is_chosen(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    old, new = _event(45, "checkout pays old"), _event(2, "checkout pays new")
    tx = token_admin(db)
    with tx.c:
        tx.insert_event(old)
        tx.insert_event(new)
    tx.c.close()
    server = QueueServer(db).start()
    try:
        def shown(query: str) -> tuple[bool, bool, bool]:
            r = httpx.get(server.url + "/" + query, timeout=30)
            assert r.status_code == 200, r.text
            return old.id in r.text, new.id in r.text, 'id="narrowed"' in r.text

        assert shown("") == (True, True, False)  # no search: the newest events, any age
        for search in ("?q=checkout", "?spec=e2e/pay.cy.js", "?label=branch%3Dmain"):
            assert shown(search) == (False, True, True), search
            assert shown(search + "&window=all") == (True, True, False), search
        assert shown("?q=checkout&window=7d") == (False, True, False)
        assert '<option value="30d" selected>' in httpx.get(server.url + "/?q=checkout", timeout=30).text
    finally:
        server.stop()
