"""The upgrade of a queue file from schema version 1 (no class or outcome on the event row) at the
server's start: a file created with version 1's schema text (tests/queue/schema_v1.sql) and holding
the rows of a real history gives the same GET /v1/stats as the file the history was written to; and the
rules that keep the two columns as events move."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from healloop.queue.stats import MARK_FLAKY, MARK_SUSPECT, move_marks, move_outcome, recorded_class
from healloop.queue.store.sqlite import SCHEMA_VERSION
from tests.pgdb import on_postgres
from tests.queue.stats_history import make_history
from tests.support import QueueServer

pytestmark = pytest.mark.skipif(on_postgres(), reason=(
    "the upgrade of an SQLite file of schema version 1 (PostgreSQL schemas start at version "
    "2)"))

V1_SCHEMA = Path(__file__).with_name("schema_v1.sql")
# The window of every stats request here: all of this test's events (until: now).
WINDOW = {"since": "2d"}


def _stats(db: Path) -> dict[str, Any]:
    server = QueueServer(db).start()
    try:
        with server.client() as c:
            r = c.get("/v1/stats", params=WINDOW)
            assert r.status_code == 200, r.text
            return r.json()
    finally:
        server.stop()


def _v1_copy(src: Path, dst: Path) -> None:
    """``dst`` created by version 1's schema, holding every row of ``src`` (events without the new
    columns)."""
    conn = sqlite3.connect(dst, isolation_level=None)
    conn.executescript(V1_SCHEMA.read_text())
    conn.execute("ATTACH DATABASE ? AS src", (str(src),))
    old_columns = [row[1] for row in conn.execute("PRAGMA main.table_info(events)")]
    assert "class" not in old_columns and "outcome" not in old_columns
    conn.execute("BEGIN")
    tables = [r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")]
    for table in tables:
        if table == "meta":
            continue
        cols = ", ".join(row[1] for row in conn.execute(f"PRAGMA main.table_info({table})"))
        conn.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM src.{table}")
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE src")
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 12
    conn.close()


def test_a_version_1_file_is_upgraded_at_start_with_the_same_figures(tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    server = QueueServer(new).start()
    try:
        with server.client() as c:
            make_history(c)
    finally:
        server.stop()
    want = _stats(new)
    assert want["events"] == 12 and want["outcomes"]["reverted"]["events"] == 1

    old = tmp_path / "old.db"
    _v1_copy(new, old)
    got = _stats(old)  # the first start upgrades the file
    conn = sqlite3.connect(old)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    assert version == str(SCHEMA_VERSION)
    outcomes = dict(conn.execute("SELECT outcome, count(*) FROM events GROUP BY outcome").fetchall())
    marks = dict(conn.execute("SELECT marks, count(*) FROM events GROUP BY marks").fetchall())
    conn.close()
    assert outcomes == {"healed": 4, "approved": 1, "closed": 1, "proposed": 1, "escalated": 3, "reverted": 1,
                        "open": 1}
    assert marks == {0: 6, MARK_FLAKY: 3, MARK_SUSPECT: 3}  # flaky e2 e3 e4; suspects named in e5 e6 e7
    for figures in (want, got):
        figures.pop("window")
        for node in figures["nodes"]:
            node.pop("last_seen")
    assert got == want
    again = _stats(old)  # a second start finds the newest version and leaves the file as it is
    again.pop("window")
    for node in again["nodes"]:
        node.pop("last_seen")
    assert again == want


def _ids_by_class(db: Path, classes: list[str]) -> dict[str, list[str]]:
    """GET /v1/events?class= for each class, from one start of the server."""
    server = QueueServer(db).start()
    try:
        with server.client() as c:
            out = {}
            for cls in classes:
                r = c.get("/v1/events", params={"class": cls, "limit": 1000})
                assert r.status_code == 200, r.text
                out[cls] = [e["id"] for e in r.json()["events"]]
            return out
    finally:
        server.stop()


def test_a_version_2_file_gets_the_class_filter_table_at_start(tmp_path: Path) -> None:
    """Version 2 is version 3 without event_classes: the upgrade fills it from the history, and the
    class filter answers as on the file the history was written to."""
    new = tmp_path / "new.db"
    server = QueueServer(new).start()
    try:
        with server.client() as c:
            history = make_history(c)
    finally:
        server.stop()
    classes = sorted(set(history.classes.values()))
    assert len(classes) >= 3
    want = _ids_by_class(new, classes)
    assert sum(1 for ids in want.values() if ids) >= 4  # (the open event has no class yet)
    conn = sqlite3.connect(new)
    rows = sorted(conn.execute("SELECT class, seq FROM event_classes").fetchall())
    conn.execute("DROP TABLE event_classes")
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    got = _ids_by_class(new, classes)  # the start upgrades the file
    assert got == want
    conn = sqlite3.connect(new)
    assert sorted(conn.execute("SELECT class, seq FROM event_classes").fetchall()) == rows
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "3"
    conn.close()


def test_a_file_that_is_not_a_queue_is_refused_before_any_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(AssertionError, match=r"cannot be used as a healloop queue .*no such"):
        QueueServer(db).start()
    conn = sqlite3.connect(db)
    assert [r[1] for r in conn.execute("PRAGMA table_info(events)")] == ["seq", "id"]  # nothing added
    conn.close()


@pytest.mark.parametrize(("move", "want"), [
    ((None, "queued", None), "open"),
    (("queued", "processing", None), None),
    (("analyzing", "fixing", {"class": "timeout"}), None),
    (("verifying", "resolved", None), "healed"),
    (("proposed", "resolved", None), "approved"),
    (("escalated", "resolved", None), "closed"),
    (("quarantined", "resolved", None), "closed"),  # released, lifted or closed: not healed
    (("analyzing", "escalated", {"report": {}}), "escalated"),
    (("resolved", "escalated", {"reverted": ["d00d001"]}), "reverted"),
    (("verifying", "proposed", None), "proposed"),
    (("escalated", "queued", None), "open"),
    (("escalated", "escalated", {"reverted": []}), None),  # a note, not a move
])
def test_the_outcome_a_move_leaves(move: tuple[Any, ...], want: str | None) -> None:
    assert move_outcome(*move) == want


def test_the_class_a_move_records() -> None:
    assert recorded_class({"class": "timeout"}) == "timeout"
    assert recorded_class({"class": None}) is None and recorded_class(None) is None
    assert recorded_class({"label": "flaky"}) is None
    assert recorded_class({"class": 3}) == "3" and recorded_class({"class": True}) == "1"


def test_the_marks_a_move_adds() -> None:
    assert move_marks("resolved", {"label": "flaky"}) == MARK_FLAKY
    assert move_marks("resolved", {"label": "selector"}) == 0 and move_marks("resolved", None) == 0
    assert move_marks("escalated", {"report": {"suspect_commit": {"sha": "abc"}}}) == MARK_SUSPECT
    assert move_marks("escalated", {"report": {"suspect_commit": None}}) == 0
    assert move_marks("escalated", {"report": "text"}) == 0
