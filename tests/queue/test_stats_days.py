"""GET /v1/stats's cache of whole days (queue/store/stats_days.py) on a real SQLite file: a window of
whole days gives the same figures from the cache as computed from the rows alone, after each kind of
write that changes a past day, and after `healloop prune` deleted events through another connection."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from healloop.ids import new_id
from healloop.queue.model import Event, HistoryEntry
from healloop.queue.stats import DAY_US, TOP, StatsRows, StatsWindow
from healloop.queue.store.sqlite import SQLiteAdmin, SQLiteStore, SQLiteTx
from healloop.queue.store.stats_days import split
from healloop.timeutil import US, now_us
from tests.queue.store_contract import make_event
from tests.support import wait_until

HOUR = 3600 * US
BASE = (now_us() // DAY_US - 10) * DAY_US  # midnight (UTC) ten days ago


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _event(day: int, hour: int, node: str = "n1", status: str = "resolved") -> Event:
    ev = make_event(new_id("fp"), status=status, node=node)
    ev.created_at = ev.updated_at = ev.occurred_at = BASE + day * DAY_US + hour * HOUR
    ev.resolved_at = ev.created_at + (day + 1) * HOUR if status == "resolved" else None
    return ev


async def _both(store: SQLiteStore, w: StatsWindow) -> tuple[StatsRows, StatsRows]:
    """The figures through the store's cache, and computed from the rows alone in the same snapshot."""
    cached = await store.read(lambda tx: tx.stats(w, TOP))
    fresh = await store.read(lambda tx: SQLiteTx(tx.c).stats(w, TOP))
    return cached, fresh


def test_a_window_splits_into_partial_edges_and_whole_days() -> None:
    assert split(BASE + HOUR, BASE + 3 * DAY_US + HOUR) == (
        [(BASE + HOUR, BASE + DAY_US), (BASE + 3 * DAY_US, BASE + 3 * DAY_US + HOUR)],
        [BASE // DAY_US + 1, BASE // DAY_US + 2])
    assert split(BASE, BASE + 2 * DAY_US) == ([], [BASE // DAY_US, BASE // DAY_US + 1])
    assert split(BASE + HOUR, BASE + 2 * HOUR) == ([(BASE + HOUR, BASE + 2 * HOUR)], [])
    assert split(BASE + HOUR, BASE + HOUR) == ([], [])


@pytest.mark.anyio
async def test_cached_days_follow_every_write_that_changes_them(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "events.db")
    await store.start()
    try:
        events = [_event(day, hour, node=f"n{hour % 2}") for day in range(5) for hour in (2, 9, 20)]
        events.append(_event(2, 5, status="queued"))
        for ev in events:
            await store.write(lambda tx, ev=ev: tx.insert_event(ev))
        # Half a day, three whole days, half a day; and the same window for one node.
        windows = [StatsWindow(BASE + 12 * HOUR, BASE + 4 * DAY_US + 12 * HOUR),
                   StatsWindow(BASE + 12 * HOUR, BASE + 4 * DAY_US + 12 * HOUR, node="n1")]

        async def check() -> list[StatsRows]:
            got = []
            for w in windows:
                cached, fresh = await _both(store, w)
                assert cached == fresh
                got.append(cached)
            return got

        first = await check()
        assert await check() == first  # the second read comes from the cache
        before = first

        async def changed() -> None:
            nonlocal before
            now = await check()
            assert now != before
            before = now

        # A move with a class, an outcome and the flaky mark, on an event of a cached day.
        open_ev = events[-1]
        open_ev.status, open_ev.resolved_at = "resolved", open_ev.created_at + HOUR

        def resolve(tx: SQLiteTx) -> None:
            tx.add_history(HistoryEntry(open_ev.id, now_us(), "queued", "resolved", None, None,
                                        {"class": "timeout", "label": "flaky"}))
            tx.save_event(open_ev)
        await store.write(resolve)
        await changed()
        # A note that marks the event without saving it (the marks are written at the commit).
        other = events[4]
        await store.write(lambda tx: tx.add_history(HistoryEntry(
            other.id, now_us(), "resolved", "resolved", None, "rerun", {"label": "flaky"})))
        await changed()
        # A node joins an event of a cached day.
        await store.write(lambda tx: tx.add_node_to_event(events[7], "n9"))
        await changed()
        # A late event on a cached day (a clock set back).
        late = _event(3, 6)
        await store.write(lambda tx: tx.insert_event(late))
        await changed()
        # healloop prune deletes an event of a cached day through its own connection.
        admin = SQLiteAdmin(tmp_path / "events.db")
        try:
            gone = admin.write(lambda tx: tx.delete_events([events[8].id], now_us()))
        finally:
            admin.close()
        assert gone["events"] == 1
        await changed()
    finally:
        await store.close()


@pytest.mark.anyio
async def test_the_top_flaky_tests_of_several_days_add_up(tmp_path: Path) -> None:
    """The top 10 is taken after adding the days: a test flaky once a day on each of three days comes
    before tests flaky twice on one day."""
    store = SQLiteStore(tmp_path / "events.db")
    await store.start()
    try:
        def flaky(day: int, hour: int, test: str) -> Callable[[SQLiteTx], None]:
            ev = dataclasses.replace(_event(day, hour), test=test)

            def write(tx: SQLiteTx) -> None:
                tx.insert_event(ev)
                tx.add_history(HistoryEntry(ev.id, ev.created_at + HOUR, "verifying", "resolved", None,
                                            None, {"label": "flaky"}))
            return write

        for day in range(3):
            await store.write(flaky(day, 3, "every day"))
        for i in range(TOP):
            for hour in (4, 5):
                await store.write(flaky(1, hour, f"twice on day 1 #{i}"))
        w = StatsWindow(BASE, BASE + 3 * DAY_US)
        cached, fresh = await _both(store, w)
        assert cached == fresh
        assert cached.flaky[0][1] == "every day"
        assert len(cached.flaky) == TOP
        # A partial day after the whole ones moves a test of day 1 to the top: three times, as often as
        # "every day", and later.
        await store.write(flaky(3, 2, "twice on day 1 #7"))
        w = StatsWindow(BASE + HOUR, BASE + 3 * DAY_US + 4 * HOUR)
        cached, fresh = await _both(store, w)
        assert cached == fresh
        assert [f[1:3] for f in cached.flaky[:2]] == [("twice on day 1 #7", 3), ("every day", 3)]
    finally:
        await store.close()


@pytest.mark.anyio
async def test_a_starting_store_reads_the_last_days_into_the_cache_in_the_background(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "events.db")
    await first.start()
    events = [_event(day, hour) for day in range(5) for hour in (2, 20)]
    for ev in events:
        await first.write(lambda tx, ev=ev: tx.insert_event(ev))
    await first.close()

    store = SQLiteStore(tmp_path / "events.db")
    await store.start()  # a restart: its cache is empty, and fills without a request
    try:
        days = {(BASE // DAY_US + d, None) for d in range(5)}
        wait_until(lambda: days <= set(store._days._entries), what="the last days in the stats cache")
        w = StatsWindow(BASE, BASE + 5 * DAY_US)
        cached, fresh = await _both(store, w)
        assert cached == fresh and sum(n for _, _, n in cached.per_day) == 10
    finally:
        await store.close()
