from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import QueueServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[QueueServer]:
    s = QueueServer(tmp_path / "events.db").start()
    yield s
    s.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator:
    started: list[QueueServer] = []

    def make(*args: str, token: str | None = None, db: Path | None = None) -> QueueServer:
        s = QueueServer(db or tmp_path / "events.db", *args, token=token).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()
