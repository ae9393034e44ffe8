"""Retention's parts: ages, the digests an event's artifacts name, and the guards on removing blobs
(real files and a real SQLite file)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from healloop.errors import InvalidInput, NotFound
from healloop.queue.blobs import Aside, BlobStore
from healloop.queue.model import ArtifactMeta
from healloop.queue.prune import _drop_artifacts, digests_named, parse_age
from healloop.queue.store.sqlite import SQLiteAdmin, token_admin
from tests.pgdb import on_postgres
from tests.queue.store_contract import make_event

pytestmark = pytest.mark.skipif(on_postgres(), reason=(
    "retention on an SQLite file (SQLiteAdmin); on PostgreSQL see test_store_postgres.py"))


@pytest.mark.parametrize(("text", "seconds"), [
    ("90d", 90 * 86400), ("2w", 14 * 86400), ("24h", 86400), (" 1d ", 86400), ("365d", 365 * 86400)])
def test_ages_in_hours_days_and_weeks(text: str, seconds: int) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize(("text", "says"), [
    ("90", "a whole number and a unit"), ("1.5d", "got '1.5d'"), ("-1d", "got '-1d'"),
    ("90D", "got '90D'"), ("", "got ''"), ("0w", "--older-than 0 would remove every resolved event"),
    ("23h", "--older-than 23h is under a day"), ("1h", "pass --force if you mean it")])
def test_bad_or_dangerous_ages_are_refused(text: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        parse_age(text)


def test_under_a_day_with_force() -> None:
    assert parse_age("1h", force=True) == 3600
    with pytest.raises(InvalidInput, match="--older-than 0"):
        parse_age("0h", force=True)


def test_digests_by_field_and_by_url() -> None:
    a, b = "a" * 64, "0123456789abcdef" * 4
    refs = (f'[{{"name":"x","digest":"sha256:{a}","url":"/v1/artifacts/sha256:{a}"}},'
            f'{{"name":"y","url":"http://q:8787/v1/artifacts/sha256:{b}"}},{{"name":"z","path":"/tmp/z"}}]')
    assert digests_named(refs) == {a, b}
    assert digests_named("[]") == set()


def _blobs(tmp_path: Path) -> tuple[BlobStore, str, str]:
    store = BlobStore(tmp_path / "artifacts", max_bytes=1 << 20)
    old, _ = store.put("old.png", io.BytesIO(b"old bytes"))
    t = time.time() - 7200
    os.utime(store.path_of(old), (t, t))
    new, _ = store.put("new.png", io.BytesIO(b"new bytes"))
    return store, old, new


def test_a_blob_is_set_aside_only_when_not_written_since(tmp_path: Path) -> None:
    store, old, new = _blobs(tmp_path)
    since = time.time() - 3600
    assert store.set_aside(new, since) is None and store.path_of(new).read_bytes() == b"new bytes"
    aside = store.set_aside(old, since)
    assert aside is not None and aside.size == 9
    with pytest.raises(NotFound):
        store.path_of(old)
    store.put_back(aside)
    assert store.path_of(old).read_bytes() == b"old bytes"
    aside = store.set_aside(old, since)
    store.discard(aside)
    assert store.written_at(old) is None and not any((tmp_path / "artifacts" / "tmp").iterdir())
    assert store.set_aside(old, since) == Aside(old, None, 0)  # already gone: only its row is left


def test_a_blob_named_by_an_event_reported_after_the_scan_began_stays(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    store, old, _ = _blobs(tmp_path)
    other, _ = store.put("other.png", io.BytesIO(b"other"))
    t = time.time() - 7200
    os.utime(store.path_of(other), (t, t))
    tx = token_admin(db)
    with tx.c:
        for d in (old, other):
            tx.put_artifact(ArtifactMeta(d, "image/png", 9, 1))
    tx.c.close()
    admin = SQLiteAdmin(db)
    try:
        start_seq = admin.read(lambda tx: tx.max_seq())
        ev = make_event("late")  # reported after the scan began, naming the blob by its URL only
        ev.artifacts = [{"name": "shot.png", "url": f"/v1/artifacts/{old}"}]
        admin.write(lambda tx: tx.insert_event(ev))
        dropped = _drop_artifacts(admin, store, [old, other], start_seq, time.time() - 3600)
        assert [a.digest for a in dropped] == [other]
        assert admin.read(lambda tx: tx.get_artifact(old)) is not None
        assert admin.read(lambda tx: tx.get_artifact(other)) is None
        assert store.path_of(old).is_file()
    finally:
        admin.close()
