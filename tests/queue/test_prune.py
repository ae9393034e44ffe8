"""Retention's parts: ages, the digests an event's artifacts name, and the guards on removing blobs
(real files or a real S3-protocol server, and a real SQLite file)."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from healloop.errors import InvalidInput, NotFound, Unavailable
from healloop.queue.artifacts import ArtifactStore, S3Location
from healloop.queue.blobs import Aside, BlobStore
from healloop.queue.blobs_s3 import WRITTEN, S3Blobs
from healloop.queue.model import ArtifactMeta
from healloop.queue.prune import _drop_artifacts, digests_named, parse_age, prune
from healloop.queue.store.sqlite import SQLiteAdmin, token_admin
from tests.pgdb import on_postgres
from tests.queue.store_contract import make_event
from tests.s3support import S3Server

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


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "folder":
        return BlobStore(tmp_path / "artifacts", max_bytes=1 << 20)
    return _s3_store(request.getfixturevalue("s3"), tmp_path)


def _s3_store(s3: S3Server, tmp_path: Path) -> S3Blobs:
    bucket = s3.bucket(f"prune-{tmp_path.name.lower().replace('_', '-')[-40:]}")
    return S3Blobs(S3Location(bucket, "pre/fix"), 1 << 20, client=s3.client())


def age(store: ArtifactStore, digest: str, seconds: int) -> None:
    """Make a blob look written ``seconds`` ago: its file's time, or its object's write time."""
    t = time.time() - seconds
    if isinstance(store, BlobStore):
        os.utime(store.path_of(digest), (t, t))
    else:
        assert isinstance(store, S3Blobs)
        key = store._key(digest[7:])
        store.s3.copy_object(Bucket=store.bucket, Key=key, CopySource={"Bucket": store.bucket, "Key": key},
                             MetadataDirective="REPLACE", Metadata={WRITTEN: str(t)})


def leftovers(store: ArtifactStore) -> list[str]:
    """What prune keeps aside in the store's tmp/ (files or keys)."""
    if isinstance(store, BlobStore):
        tmp = store.root / "tmp"
        return [p.name for p in tmp.iterdir()] if tmp.is_dir() else []
    assert isinstance(store, S3Blobs)
    listed = store.s3.list_objects_v2(Bucket=store.bucket, Prefix="pre/fix/tmp/")
    return [o["Key"] for o in listed.get("Contents", [])]


def _blobs(store: ArtifactStore) -> tuple[str, str]:
    old, _ = store.put("old.png", io.BytesIO(b"old bytes"))
    age(store, old, 7200)
    new, _ = store.put("new.png", io.BytesIO(b"new bytes"))
    return old, new


def test_a_blob_is_set_aside_only_when_not_written_since(store: ArtifactStore) -> None:
    old, new = _blobs(store)
    since = time.time() - 3600
    assert store.set_aside(new, since) is None and store.open(new).read_all() == b"new bytes"
    aside = store.set_aside(old, since)
    assert aside is not None and aside.size == 9
    with pytest.raises(NotFound):
        store.open(old)
    store.put_back(aside)
    assert store.open(old).read_all() == b"old bytes"
    aside = store.set_aside(old, since)
    assert aside is not None
    store.discard(aside)
    assert store.written_at(old) is None and leftovers(store) == []
    assert store.set_aside(old, since) == Aside(old, None, 0)  # already gone: only its row is left


def test_an_upload_of_stored_bytes_renews_their_write_time(store: ArtifactStore) -> None:
    old, _ = _blobs(store)
    since = time.time() - 3600
    written = store.written_at(old)
    assert written is not None and written < since
    assert store.put("again.png", io.BytesIO(b"old bytes")) == (old, 9)
    written = store.written_at(old)
    assert written is not None and written >= since
    assert store.set_aside(old, since) is None


def test_an_upload_pruned_before_its_reference_was_recorded_is_stored_again_on_s3(
        s3: S3Server, tmp_path: Path) -> None:
    # S3 has no rename, so set_aside copies then deletes: an upload landing between the two is deleted
    # with it (a local folder cannot lose one: set_aside renames first). The upload's confirm repairs.
    store = _s3_store(s3, tmp_path)
    old, _ = _blobs(store)
    aside = store.set_aside(old, time.time() - 3600)  # prune's transaction, between put and record
    assert aside is not None
    store.discard(aside)
    store.confirm(old, "old.png", io.BytesIO(b"old bytes"))  # the upload, once its reference is in
    assert store.open(old).read_all() == b"old bytes"
    store.confirm(old, "old.png", io.BytesIO(b"changed"))  # present: nothing read, nothing sent
    with pytest.raises(Unavailable, match="changed while it was stored"):
        store.discard(store.set_aside(old, time.time() + 1) or Aside(old, None, 0))
        store.confirm(old, "old.png", io.BytesIO(b"changed"))


def test_a_blob_named_by_an_event_reported_after_the_scan_began_stays(tmp_path: Path,
                                                                      store: ArtifactStore) -> None:
    db = tmp_path / "events.db"
    old, _ = _blobs(store)
    other, _ = store.put("other.png", io.BytesIO(b"other"))
    age(store, other, 7200)
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
        assert store.open(old).read_all() == b"old bytes"
    finally:
        admin.close()


class _CountingAdmin:
    def __init__(self, admin: SQLiteAdmin) -> None:
        self.admin, self.writes = admin, 0

    def read(self, fn: Callable[[Any], Any]) -> Any:
        return self.admin.read(fn)

    def write(self, fn: Callable[[Any], Any]) -> Any:
        self.writes += 1
        return self.admin.write(fn)


def test_blobs_are_set_aside_in_transactions_sized_for_the_store(tmp_path: Path,
                                                                 store: ArtifactStore) -> None:
    # On S3 each set_aside is four requests made while the transaction holds the writer: fewer a batch.
    digests = [store.put(f"{i}.png", io.BytesIO(b"bytes %d" % i))[0] for i in range(12)]
    for d in digests:
        age(store, d, 7200)
    db = tmp_path / "events.db"
    tx = token_admin(db)
    with tx.c:
        for d in digests:
            tx.put_artifact(ArtifactMeta(d, "image/png", 7, 1))
    tx.c.close()
    admin = _CountingAdmin(SQLiteAdmin(db))
    try:
        result = prune(admin, store, before=0, pause=0)
    finally:
        admin.admin.close()
    assert result.artifacts == 12 and all(store.written_at(d) is None for d in digests)
    artifact_writes = admin.writes - result.batches  # the batches of events and of test records aside
    assert artifact_writes == -(-12 // store.prune_batch) == (1 if isinstance(store, BlobStore) else 2)
