"""The store contract on PostgreSQL (a fresh database per test), plus what is specific to it."""

from __future__ import annotations

import asyncio

import pytest

from healloop.errors import ConfigError
from healloop.queue.store.postgres import PostgresStore, redact
from tests.pgdb import fresh_database
from tests.queue.store_contract import StoreContract, insert, make_event


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def pg_url():
    with fresh_database() as url:
        yield url


@pytest.fixture
async def store(pg_url: str):
    s = PostgresStore(pg_url)
    await s.start()
    yield s
    await s.close()


class TestPostgresStore(StoreContract):
    pass


@pytest.mark.anyio
async def test_two_stores_on_one_database_see_each_others_writes(pg_url: str) -> None:
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    await a.start()
    await b.start()
    try:
        ev = await insert(a, make_event())
        assert (await b.read(lambda tx: tx.get_event(ev.id))).test == ev.test
    finally:
        await a.close()
        await b.close()


@pytest.mark.anyio
async def test_a_queued_event_on_one_store_wakes_the_other(pg_url: str) -> None:
    """NOTIFY in the writing transaction reaches the other server's LISTEN connection; the writer's own
    notice is not handed back to it (its own waiters were woken by the service already)."""
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    heard_a: list[int] = []
    heard_b: asyncio.Queue[int] = asyncio.Queue()
    a.watch_work(heard_a.append)
    b.watch_work(heard_b.put_nowait)
    await a.start()
    await b.start()
    try:
        await insert(a, make_event("x"))
        await insert(a, make_event("y", status="escalated"))  # not claimable: no wake-up
        await insert(a, make_event("z"))
        assert await asyncio.wait_for(heard_b.get(), 10) == 1
        assert await asyncio.wait_for(heard_b.get(), 10) == 1
        assert heard_a == []
    finally:
        await a.close()
        await b.close()


@pytest.mark.anyio
async def test_concurrent_reports_of_one_fingerprint_on_two_stores_make_one_open_event(pg_url: str) -> None:
    """The fingerprint's advisory lock: without it both would find no open event and create one each."""
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    await a.start()
    await b.start()

    def report(tx):
        open_ev, _, _ = tx.fingerprint_state("same", 0)
        if open_ev is None:
            tx.insert_event(make_event("same"))
            return "created"
        open_ev.count += 1
        tx.save_event(open_ev)
        return "merged"

    try:
        got = await asyncio.gather(*(s.write(report) for s in (a, b) for _ in range(10)))
        assert got.count("created") == 1
        events = await a.read(lambda tx: tx.list_events(status=None, node=None, fingerprint="same", limit=50))
        assert len(events) == 1 and events[0].count == 20
    finally:
        await a.close()
        await b.close()


def test_an_unreachable_database_is_a_config_error_without_the_password() -> None:
    store = PostgresStore("postgresql://u:secret@127.0.0.1:1/nothing")
    with pytest.raises(ConfigError, match="cannot connect to PostgreSQL at") as info:
        store.open()
    assert "secret" not in info.value.message


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://u:pw@h:5433/db") == "postgresql://u:***@h:5433/db"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


@pytest.mark.anyio
async def test_a_database_of_a_newer_schema_is_refused(pg_url: str) -> None:
    s = PostgresStore(pg_url)
    s.open()
    await s.close()
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(ConfigError, match="version 99, newer than"):
        PostgresStore(pg_url).open()


@pytest.mark.anyio
async def test_prune_removes_old_resolved_events_beside_a_running_store(pg_url: str, tmp_path) -> None:
    from healloop.queue.blobs import BlobStore
    from healloop.queue.prune import prune
    from healloop.queue.store.postgres import PostgresAdmin
    from healloop.timeutil import US, now_us

    s = PostgresStore(pg_url)
    await s.start()
    try:
        old, queued, newest = make_event("old", status="resolved"), make_event("q"), make_event("new")
        old.resolved_at = now_us() - 100 * 86400 * US
        for ev in (old, queued, newest):
            await insert(s, ev)
        admin = PostgresAdmin(pg_url)
        try:
            dry = prune(admin, BlobStore(tmp_path / "artifacts", 0), before=now_us() - 90 * 86400 * US,
                        dry_run=True, pause=0)
            done = prune(admin, BlobStore(tmp_path / "artifacts", 0), before=now_us() - 90 * 86400 * US,
                         pause=0)
        finally:
            admin.close()
        assert dry.rows["events"] == done.rows["events"] == 1
        assert await s.read(lambda tx: tx.get_event(old.id)) is None
        assert await s.read(lambda tx: tx.get_event(queued.id)) is not None
    finally:
        await s.close()


def test_prune_refuses_a_database_without_a_queue(pg_url: str) -> None:
    from healloop.queue.store.postgres import PostgresAdmin

    with pytest.raises(ConfigError, match="holds no healloop queue"):
        PostgresAdmin(pg_url)
