"""The schema version of a queue's database, on either backend, and bringing it up to date
(``healloop db status|upgrade``). The servers do the same at start; these let an operator look first,
or upgrade during a planned stop."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from healloop.errors import ConfigError


@dataclass(frozen=True)
class SchemaState:
    found: int | None  # None: no queue there yet
    current: int  # the version this healloop writes


def status(target: str | Path) -> SchemaState:
    if isinstance(target, str):
        from healloop.queue.store.postgres import SCHEMA_VERSION, Q, connect

        conn = connect(target)
        try:
            if not conn.execute(Q["has_events"]).fetchone()[0]:
                return SchemaState(None, SCHEMA_VERSION)
            row = conn.execute(Q["schema_version"]).fetchone()
            return SchemaState(int(row[0]) if row else 0, SCHEMA_VERSION)
        finally:
            conn.close()
    from healloop.queue.store.sqlite import SCHEMA_VERSION as SQLITE_VERSION
    from healloop.queue.store.sqlite import Q as SQ

    if not target.is_file():
        return SchemaState(None, SQLITE_VERSION)
    try:
        conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
        try:
            if conn.execute(SQ["has_events"]).fetchone() is None:
                return SchemaState(None, SQLITE_VERSION)
            row = conn.execute(SQ["schema_version"]).fetchone()
            return SchemaState(int(row[0]) if row else 0, SQLITE_VERSION)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{target} cannot be read as an SQLite database ({exc}); pass the file given to "
                          "`healloop serve --db`") from None


def upgrade(target: str | Path) -> SchemaState:
    """Creates the schema or applies the pending migrations, under the backend's lock; returns the state
    found before."""
    before = status(target)
    if isinstance(target, str):
        from healloop.queue.store.postgres import connect, ensure_schema

        conn = connect(target)
        try:
            ensure_schema(conn, target)
        finally:
            conn.close()
        return before
    from healloop.queue.store.sqlite import token_admin

    # token_admin runs migrate() then the schema text, as the server's start does.
    token_admin(target).c.close()
    return before
