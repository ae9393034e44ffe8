"""`healloop stats` as a person types it, against a real queue holding the history of
tests/queue/stats_history.py."""

from __future__ import annotations

import json

from tests.cli.test_events_cli import healloop
from tests.queue.stats_history import SUSPECT_A, make_history
from tests.support import QueueServer


def test_stats_prints_the_trends_and_the_same_numbers_as_json(server: QueueServer) -> None:
    with server.client() as c:
        make_history(c)
        api = c.get("/v1/stats").json()
    out = healloop("stats", "--queue", server.url)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "12 event(s) created from " in text
    for line in ("healed", "approved", "reverted"):
        assert line in text
    assert "33.3%" in text                        # healed: 4 of 12
    assert "checkout > pays 2" in text            # the most flaky test
    assert SUSPECT_A["sha"] in text and SUSPECT_A["subject"] in text
    assert "node-b" in text and "54.5%" in text   # node-a: 6 of its 11 events resolved
    assert "notifications: none" in text          # no channel configured
    js = healloop("stats", "--json", env={"HEALLOOP_URL": server.url})
    assert js.returncode == 0, js.stderr
    got = json.loads(js.stdout)
    assert {k: v for k, v in got.items() if k != "window"} == {k: v for k, v in api.items() if k != "window"}

    b = json.loads(healloop("stats", "--queue", server.url, "--node", "node-b", "--since", "2d",
                            "--json").stdout)
    assert b["events"] == 2 and b["window"]["node"] == "node-b"


def test_stats_names_a_bad_window_before_asking_and_the_queue_when_it_is_down(server: QueueServer) -> None:
    wide = healloop("stats", "--queue", server.url, "--since", "400d")
    assert wide.returncode == 1 and "at most 366 days" in wide.stderr
    backwards = healloop("stats", "--queue", server.url, "--since", "1d", "--until", "2d")
    assert backwards.returncode == 1 and "`until`" in backwards.stderr and "must be after" in backwards.stderr
    empty = healloop("stats", "--queue", server.url, "--since", "1h")
    assert empty.returncode == 0 and "0 event(s)" in empty.stdout and "top flaky tests: none" in empty.stdout
    down = healloop("stats", "--queue", "http://127.0.0.1:9")
    assert down.returncode == 1 and "cannot reach the queue" in down.stderr
