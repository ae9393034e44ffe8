"""The store contract on the embedded SQLite backend, plus what is specific to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from healloop.errors import ConfigError
from healloop.queue.store.sqlite import SQLiteStore
from tests.queue.store_contract import StoreContract, insert, make_event


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
