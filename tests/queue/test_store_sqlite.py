"""The store contract on the embedded SQLite backend, plus what is specific to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from healloop.errors import ConfigError
from healloop.queue.store.sqlite import Q, SQLiteStore
from tests.pgdb import on_postgres
from tests.queue.store_contract import StoreContract, insert, make_event

pytestmark = pytest.mark.skipif(on_postgres(), reason=(
    "the SQLite store itself (HEALLOOP_TEST_DB=postgres reruns the API suite on PostgreSQL; "
    "test_store_postgres.py runs the contract there)"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path):
    s = SQLiteStore(tmp_path / "events.db")
    await s.start()
    yield s
    await s.close()


class TestSQLiteStore(StoreContract):
    pass


@pytest.mark.anyio
async def test_second_store_on_same_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    a = SQLiteStore(tmp_path / "e.db")
    await a.start()
    try:
        with pytest.raises(ConfigError, match="already served by another healloop process"):
            SQLiteStore(tmp_path / "e.db").open()
    finally:
        await a.close()


@pytest.mark.anyio
async def test_data_survives_reopen(tmp_path: Path) -> None:
    a = SQLiteStore(tmp_path / "e.db")
    await a.start()
    ev = await insert(a, make_event())
    await a.close()
    b = SQLiteStore(tmp_path / "e.db")
    await b.start()
    try:
        assert (await b.read(lambda tx: tx.get_event(ev.id))).test == ev.test
    finally:
        await b.close()


def test_bad_synchronous_setting_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'sometimes'"):
        SQLiteStore(tmp_path / "e.db", synchronous="sometimes")


@pytest.mark.anyio
async def test_the_budget_counts_walk_one_index_however_busy_the_hour(tmp_path: Path) -> None:
    """Each count is a search of its covering index (EXPLAIN QUERY PLAN), not a scan of the hour."""
    s = SQLiteStore(tmp_path / "e.db")
    await s.start()
    try:
        def plan(tx, name: str, args: tuple) -> str:
            return " ".join(row[-1] for row in tx.c.execute("EXPLAIN QUERY PLAN " + Q[name], args))

        for_test = await s.read(lambda tx: plan(tx, "actions_for_test", ("a", "t", 0, 3)))
        on_node = await s.read(lambda tx: plan(tx, "actions_on_node", ("n", 0, 20)))
        fixed = await s.read(lambda tx: plan(tx, "was_fixed", ("evt_1",)))
    finally:
        await s.close()
    assert "SEARCH actions USING COVERING INDEX actions_test (spec=? AND test=? AND at>?)" in for_test
    assert "SEARCH actions USING COVERING INDEX actions_node (node=? AND at>?)" in on_node
    assert "SEARCH history USING INDEX history_event (event_id=?)" in fixed
