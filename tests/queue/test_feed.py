"""The change feed: every committed write is told to listeners after it commits; a listener that falls
behind is dropped without slowing the publisher."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from healloop.queue.feed import RUNS, TEST, Change, ChangeFeed
from healloop.queue.model import ReportIn
from healloop.queue.quarantine import LiftIn, QuarantineIn, RunsIn, RunTest
from healloop.queue.service import QueueService
from healloop.queue.store.sqlite import SQLiteStore
from tests.pgdb import on_postgres

pytestmark = pytest.mark.skipif(on_postgres(), reason=(
    "the change feed over an SQLite store in-process; it starts no server and does not depend "
    "on the backend"))


def _report(n: int) -> ReportIn:
    return ReportIn(node="ci-1", source="cypress", spec=f"s{n}.cy.js", test=f"t{n}", message="boom")


def test_a_listener_hears_each_change_after_it_is_committed(tmp_path: Path) -> None:
    async def run() -> None:
        svc = QueueService(SQLiteStore(tmp_path / "events.db"))
        await svc.start()
        try:
            with svc.feed.subscribe() as sub:
                made = await svc.report(_report(1))
                change = await sub.next(5)
                assert change is not None and (change.event_id, change.status) == (made.event.id, "queued")
                assert (change.spec, change.test) == ("s1.cy.js", "t1")  # the test page listens by these
                # What the listener hears is already readable: it was published after the commit.
                assert (await svc.get(change.event_id))["status"] == "queued"
                claim = await svc.claim("w1", wait=0, lease=60)
                assert claim is not None
                change = await sub.next(5)
                assert change is not None and change.status == "processing"
                await svc.transition(made.event.id, claim.event.lease_token or "", "escalated", "no", None)
                change = await sub.next(5)
                assert change is not None and change.status == "escalated"
                await svc.requeue(made.event.id, "again")
                change = await sub.next(5)
                assert change is not None and change.status == "queued"
            assert svc.feed.listeners == 0
        finally:
            await svc.close()

    asyncio.run(run())


def test_a_slow_listener_is_dropped_and_the_others_keep_hearing() -> None:
    async def run() -> None:
        feed = ChangeFeed(depth=3)
        with feed.subscribe() as slow, feed.subscribe() as quick:
            for i in range(5):
                feed.publish(f"evt_{i}", "queued")  # never waits, whoever listens
                got = await quick.next(1)
                assert got is not None and got.event_id == f"evt_{i}"
            assert slow.dropped and feed.dropped == 1 and feed.listeners == 1
            assert await slow.next(1) is None  # a dropped listener's stream ends
            feed.close()
            assert quick.closed and await quick.next(1) is None

    asyncio.run(run())


def test_no_listener_no_work() -> None:
    feed = ChangeFeed()
    feed.publish("evt_1", "queued")
    assert feed.listeners == 0 and feed.dropped == 0


def test_quarantines_and_run_reports_are_told_with_the_events_they_move(tmp_path: Path) -> None:
    async def run() -> None:
        svc = QueueService(SQLiteStore(tmp_path / "events.db"))
        await svc.start()
        try:
            made = await svc.report(_report(1))
            with svc.feed.subscribe() as sub:
                await svc.tests.add(QuarantineIn(spec="s1.cy.js", test="t1", owner="ana", seconds=600))
                moved, test = await sub.next(5), await sub.next(5)
                assert moved == Change(made.event.id, "quarantined", "s1.cy.js", "t1")
                assert test == Change("", TEST, "s1.cy.js", "t1")
                await svc.tests.record_runs(RunsIn(node="ci-2", run_id="r1",
                                                   passed=[RunTest(spec="s9.cy.js", test="t9")]))
                assert await sub.next(5) == Change("", RUNS)
                await svc.tests.record_runs(RunsIn(node="ci-2", run_id="r1",  # the same run again
                                                   passed=[RunTest(spec="s9.cy.js", test="t9")]))
                await svc.tests.lift(LiftIn(spec="s1.cy.js", test="t1", by="ana"))
                back, test = await sub.next(5), await sub.next(5)
                assert back == Change(made.event.id, "queued", "s1.cy.js", "t1")  # no RUNS for the repeat
                assert test == Change("", TEST, "s1.cy.js", "t1")
        finally:
            await svc.close()

    asyncio.run(run())
