"""A fresh PostgreSQL database per test (or module) on the local server, dropped after.

Each gets its own name (``healloop_test_<random>``), so parallel xdist workers never share one. The
server is the one scripts/setup starts (127.0.0.1:5432, user postgres, trust auth); when it does not
answer, the test FAILS with what to do, never skips: a silent skip would hide the backend untested.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ADMIN_URL = os.environ.get("HEALLOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def on_postgres() -> bool:
    """Whether this run puts the queue servers of the API suite on PostgreSQL (scripts/test's 2nd run)."""
    return os.environ.get("HEALLOOP_TEST_DB") == "postgres"


def _admin():
    import psycopg

    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL} ({str(exc).strip()}); start it with "
                    "scripts/setup (or `service postgresql start`), or point HEALLOOP_TEST_PG at one",
                    pytrace=False)


@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"healloop_test_{secrets.token_hex(6)}"
    with _admin() as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with _admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# -- the API suite on PostgreSQL (HEALLOOP_TEST_DB=postgres): each SQLite path a test gives a server maps
# to a fresh database for as long as the test runs, so a restarted server finds its data again.
_by_path: dict[str, str] = {}


def database_for(path: Path) -> str:
    key = str(path)
    if key not in _by_path:
        name = f"healloop_test_{secrets.token_hex(6)}"
        with _admin() as admin:
            admin.execute(f"CREATE DATABASE {name}")
        _by_path[key] = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    return _by_path[key]


def db_of(path: Path) -> str | Path:
    """What a test hands to `healloop token` and the like for the server it started on ``path``."""
    return database_for(path) if on_postgres() else path


def drop_databases(keep: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Drops the databases made by ``database_for``, but those of the paths in ``keep`` (servers still
    running, such as a module's)."""
    if not _by_path:
        return
    with _admin() as admin:
        for key in [k for k in _by_path if k not in keep]:
            name = _by_path.pop(key).rsplit("/", 1)[1]
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
