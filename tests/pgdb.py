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
