from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgdb import drop_databases, on_postgres
from tests.s3support import S3Server
from tests.support import QueueServer


@pytest.fixture(autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """On PostgreSQL (HEALLOOP_TEST_DB=postgres), the databases of a test's servers go with it; those of
    servers still running (a module's) stay until a later test ends after they stop."""
    yield
    if on_postgres():
        drop_databases({str(s.db) for s in QueueServer.running})


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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if on_postgres():
        drop_databases()
