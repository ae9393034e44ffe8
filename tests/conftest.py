from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3support import S3Server
from tests.support import QueueServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[QueueServer]:
    s = QueueServer(tmp_path / "events.db").start()
    yield s
    s.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator:
    started: list[QueueServer] = []

    def make(*args: str, token: str | None = None, db: Path | None = None,
             env: dict[str, str] | None = None) -> QueueServer:
        s = QueueServer(db or tmp_path / "events.db", *args, token=token, env=env).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """One S3-protocol server per test process; each test makes buckets of its own names."""
    server = S3Server.start()
    yield server
    server.stop()
