"""The trends page against a real `healloop serve` with role tokens, without a browser
(tests/dashboard/test_browser_pages.py draws it in Chromium): a reader sees the numbers `GET /v1/stats`
gives for the same window, in English or Chinese; a bad window is refused in the API's words."""

from __future__ import annotations

import re

import httpx

from healloop.dashboard.session import COOKIE
from tests.dashboard.support import Person
from tests.queue.test_api_auth import give
from tests.support import failure, wait_until

_EVENTS = re.compile(r'<strong class="events">(\d+)</strong>')


def test_a_reader_sees_the_stats_of_the_window_asked_for(make_server) -> None:
    s = make_server(token="the-admin")
    reader = give(s.db, "morning-reader", "reader")
    with s.client("the-admin") as c:
        for n, node in ((1, "node-a"), (2, "node-a"), (3, "node-b")):
            assert c.post("/v1/events", json=failure(n, node=node)).status_code == 201
        wait_until(lambda: c.get("/v1/events", headers={"Authorization": f"Bearer {reader}"})
                   .status_code == 200, what="the reader's token to count")
        api = {q: c.get("/v1/stats", params=dict(p)).json()["events"]
               for q, p in (("", {}), ("?since=30d&node=node-b", {"since": "30d", "node": "node-b"}))}
    assert api == {"": 3, "?since=30d&node=node-b": 1}
    p = Person(s.url)
    try:
        assert p.sign_in(reader).status_code == 303
        for query, want in api.items():
            r = p.get("/trends" + query)
            assert r.status_code == 200, r.text
            assert _EVENTS.findall(r.text) == [str(want)], query
        assert 'href="/trends"' in p.get("/").text  # in the top bar
        r = p.http.get("/trends?since=30d", headers={"cookie": f"{COOKIE}={p.session}; healloop_lang=zh"})
        assert "按类别的每日失败数" in r.text and "最近 30 天" in r.text
        # Refused as the API refuses it, the window kept in the picker.
        r = p.get("/trends?since=yesterday")
        assert r.status_code == 400 and "`since` must be an RFC 3339 time" in r.text
        assert '<option value="yesterday" selected>' in r.text
        r = p.get("/trends?since=7d&until=30d")
        assert r.status_code == 400 and "must be after `since`" in r.text
    finally:
        p.close()


def test_nobody_signed_in_is_sent_to_sign_in(make_server) -> None:
    s = make_server(token="the-admin")
    with httpx.Client(base_url=s.url, timeout=30) as c:
        r = c.get("/trends?since=30d")
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=%2Ftrends%3Fsince%3D30d"
