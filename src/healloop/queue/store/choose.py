"""Which backend a ``--db`` value names: a PostgreSQL URL, or the path of an SQLite file.

Anything else that looks like a URL (``mysql://``, ``redis://``, ``http://``) is refused with what is
accepted, instead of being taken for a file path (which made a folder named ``mysql:``).
"""

from __future__ import annotations

import re
from pathlib import Path

from healloop.errors import ConfigError
from healloop.queue.store.base import EventStore
from healloop.queue.store.postgres import is_postgres_url, redact

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
ACCEPTED = ("a path to an SQLite file (such as data/events.db), or a PostgreSQL URL "
            "(postgresql://user@host:5432/dbname, also postgres://)")


def db_target(value: str | Path) -> str | Path:
    """The PostgreSQL URL as given, or the SQLite file's path; a ConfigError for any other URL."""
    text = str(value)
    if is_postgres_url(text):
        return text
    # A URL scheme, but not a Windows drive letter (C:\...): one letter is never a scheme here.
    m = _URL.match(text)
    if m and len(m.group(0)) > 2:
        raise ConfigError(f"--db {redact(text)!r} is not a database healloop can use: give {ACCEPTED}",
                          field="db")
    return Path(text)


def open_store(target: str | Path, *, synchronous: str = "normal") -> EventStore:
    if isinstance(target, str):
        from healloop.queue.store.postgres import PostgresStore

        return PostgresStore(target)
    from healloop.queue.store.sqlite import SQLiteStore

    return SQLiteStore(target, synchronous=synchronous)


def token_admin(target: str | Path):  # -> SQLiteTx | PostgresTx
    """A connection for ``healloop token`` on either backend: write inside ``with tx.c:``, which
    commits; close with ``tx.c.close()``."""
    if isinstance(target, str):
        from healloop.queue.store.postgres import token_admin as pg_admin

        return pg_admin(target)
    from healloop.queue.store.sqlite import token_admin as sqlite_admin

    return sqlite_admin(target)
