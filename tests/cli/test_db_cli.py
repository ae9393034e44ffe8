"""`healloop db status|upgrade` on an SQLite file (a version 1 one too) and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from healloop.queue.store.postgres import SCHEMA_VERSION as PG
from healloop.queue.store.sqlite import SCHEMA_VERSION as LITE
from tests.pgdb import fresh_database

V1_SCHEMA = Path(__file__).parents[1] / "queue" / "schema_v1.sql"


def _db(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "healloop", "db", *args], capture_output=True, text=True,
                          timeout=60)


def test_a_version_1_file_shows_a_pending_migration_then_upgrades(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(V1_SCHEMA.read_text())
    r = _db("status", "--db", str(db))
    assert r.returncode == 1 and f"schema version 1, {LITE - 1} migration(s) pending" in r.stdout
    r = _db("upgrade", "--db", str(db))
    assert r.returncode == 0 and f"upgraded from schema version 1 to {LITE}" in r.stdout
    r = _db("status", "--db", str(db))
    assert r.returncode == 0 and f"schema version {LITE}, up to date" in r.stdout


def test_a_missing_file_is_no_queue_yet_and_upgrade_creates_it(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    assert "no queue yet" in _db("status", "--db", str(db)).stdout
    assert not db.exists()
    assert f"created at schema version {LITE}" in _db("upgrade", "--db", str(db)).stdout


def test_status_and_upgrade_on_postgresql() -> None:
    with fresh_database() as url:
        assert "no queue yet" in _db("status", "--db", url).stdout
        assert f"created at schema version {PG}" in _db("upgrade", "--db", url).stdout
        r = _db("status", "--db", url)
        assert r.returncode == 0 and f"schema version {PG}, up to date" in r.stdout
        assert "nothing to do" in _db("upgrade", "--db", url).stdout


def test_another_url_is_refused() -> None:
    r = _db("status", "--db", "redis://127.0.0.1:6379/0")
    assert r.returncode == 2 and "not a database healloop can use" in r.stderr
