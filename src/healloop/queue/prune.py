"""Retention (``healloop prune``): remove old resolved events with the rows that belong only to them,
the run records and ended quarantines of tests not seen since, then the artifacts no remaining event
names.

Only ``resolved`` is final and safe to remove (rules.py): an escalated event waits for a person
(requeue or close) and still absorbs new reports, a proposed one waits for approval, and queued and
held ones are work. The work runs in short transactions of ``batch`` events each through the storage
interface, with a pause after each as long as the batch took, so a server on the same database keeps
taking reports and claims between them.

An artifact (a blob, queue/blobs.py or queue/blobs_s3.py) goes when no event names it (its ``digest``,
or its URL ``/v1/artifacts/sha256:…``) and its file was not written within ``BLOB_IDLE_S``: every
upload rewrites the file before it records the event's reference, so a blob uploaded again meanwhile
is kept.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from healloop.errors import InvalidInput
from healloop.queue.artifacts import ArtifactStore
from healloop.queue.blobs import DIGEST_PATTERN, Aside
from healloop.queue.model import EVENT_ROWS
from healloop.queue.store.base import ReadTx, WriteTx

R = TypeVar("R")

_AGE = re.compile(r"^\s*(\d{1,6})\s*([hdw])\s*$")
_UNIT_S = {"h": 3600, "d": 86400, "w": 7 * 86400}
# Below this, --older-than needs --force: a typo (1h for 1w) would empty the queue's history.
MIN_AGE_S = 86400
# Events per transaction. Measured with bench/prune.py: 500 events with their six history rows each
# take 30 to 58 ms (median; the longest 116 to 218 ms) on the development container's two shared CPUs,
# well inside the server's 5 s busy timeout.
BATCH = 500
# A blob whose file was written within this long is kept: an upload writes its files, then records
# them on its event in one transaction, and one of five 20 MiB files over a slow link takes minutes.
BLOB_IDLE_S = 3600
_HEX = re.compile(r"sha256:([0-9a-f]{64})")
_DIGEST = re.compile(DIGEST_PATTERN)


class Admin(Protocol):
    """Short transactions on a queue's database from outside its server (store/sqlite.SQLiteAdmin)."""

    def read(self, fn: Callable[[ReadTx], R]) -> R: ...

    def write(self, fn: Callable[[WriteTx], R]) -> R: ...


def parse_age(text: str, *, force: bool = False) -> int:
    """``90d``, ``12h``, ``2w`` in seconds; under a day only with ``force``."""
    m = _AGE.match(text)
    if not m:
        raise InvalidInput(f"--older-than takes a whole number and a unit, h (hours), d (days) or w "
                           f"(weeks), such as 90d, 12h or 2w; got {text!r}", field="older_than")
    seconds = int(m.group(1)) * _UNIT_S[m.group(2)]
    if seconds == 0:
        raise InvalidInput("--older-than 0 would remove every resolved event; give an age such as 90d",
                           field="older_than")
    if seconds < MIN_AGE_S and not force:
        raise InvalidInput(f"--older-than {text.strip()} is under a day, so it would remove events resolved "
                           "as recently as that; pass --force if you mean it (a typo here, 1h for 1w, "
                           "could empty the queue's history)", field="older_than")
    return seconds


def digests_named(artifacts_json: str) -> set[str]:
    """The blob digests (hex) an event's artifacts name, by digest or by /v1/artifacts/ URL."""
    return set(_HEX.findall(artifacts_json))


@dataclass
class PruneResult:
    before: int
    dry_run: bool
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_ROWS, 0))
    # Run records of tests not run since ``before`` and quarantines ended before it (queue/quarantine.py).
    tests: dict[str, int] = field(default_factory=lambda: {"test_runs": 0, "quarantines": 0})
    artifacts: int = 0
    artifact_bytes: int = 0
    batches: int = 0
    seconds: float = 0.0

    def add(self, rows: dict[str, int]) -> None:
        for kind, n in rows.items():
            self.rows[kind] += n


def prune(admin: Admin, blobs: ArtifactStore, *, before: int, dry_run: bool = False, batch: int = BATCH,
          pause: float = 1.0) -> PruneResult:
    """Remove (or with ``dry_run`` count) resolved events resolved before ``before`` (microseconds)
    and what belongs only to them, then unreferenced artifacts. ``pause`` × each batch's time is
    slept after it, leaving the database to its server."""
    if batch < 1:
        raise InvalidInput(f"--batch must be at least 1, got {batch}", field="batch")
    started = time.monotonic()
    idle_since = time.time() - BLOB_IDLE_S
    result = PruneResult(before, dry_run)
    gone = _events(admin, result, before, batch, pause)
    _tests(admin, result, before, batch, pause)
    _artifacts(admin, blobs, result, gone, idle_since, pause)
    result.seconds = time.monotonic() - started
    return result


def _events(admin: Admin, result: PruneResult, before: int, batch: int, pause: float) -> set[int]:
    """Removes (or counts) the events; returns the seqs a dry run counted, for the artifact step."""
    counted: set[int] = set()
    newest = admin.read(lambda tx: tx.max_seq()) if result.dry_run else 0
    cursor = 0
    while listed := admin.read(lambda tx, c=cursor: tx.finished_before(before, c, batch)):
        cursor = listed[-1][0]
        ids = [eid for seq, eid in listed]
        t0 = time.monotonic()
        if result.dry_run:
            keep = [(seq, eid) for seq, eid in listed if seq != newest]  # the newest is never removed
            counted.update(seq for seq, _ in keep)
            result.add({"events": len(keep)})
            for _, eid in keep:
                result.add(admin.read(lambda tx, e=eid: tx.event_rows(e)))
        else:
            result.add(admin.write(lambda tx, i=ids: tx.delete_events(i, before)))
            result.batches += 1
            _rest(pause, time.monotonic() - t0)
    return counted


def _tests(admin: Admin, result: PruneResult, before: int, batch: int, pause: float) -> None:
    """Run records of a test no node ran since ``before`` (renamed or deleted tests, retired machines)
    and quarantines that ended before it. A quarantine in force is never removed, however old. A test
    whose record goes reads as never run: it is not quarantined automatically until it passes again
    (the rule needs a pass in its window), the safe side of that rule."""
    if result.dry_run:
        result.tests = admin.read(lambda tx: tx.stale_test_rows(before))
        return
    while True:
        t0 = time.monotonic()
        done = admin.write(lambda tx: tx.delete_stale_test_rows(before, batch))
        for kind, n in done.items():
            result.tests[kind] += n
        result.batches += 1
        _rest(pause, time.monotonic() - t0)
        if max(done.values()) < batch:
            return


def _artifacts(admin: Admin, blobs: ArtifactStore, result: PruneResult, gone: set[int], idle_since: float,
               pause: float) -> None:
    start_seq = admin.read(lambda tx: tx.max_seq())
    named = _named_since(admin, 0, skip=gone)
    candidates = []
    after = ""
    while page := admin.read(lambda tx, a=after: tx.list_artifacts(a, 1000)):
        after = page[-1].digest
        # A row whose digest is not sha256:<hex> was never written by an upload and has no file.
        candidates += [a for a in page if _DIGEST.match(a.digest) and a.digest[7:] not in named]
    if candidates and blobs.absent():
        raise InvalidInput(f"the queue records {len(candidates)} artifact(s) but {blobs.where} does not "
                           "exist; pass --artifacts-dir or --artifacts as given to `healloop serve` "
                           "(default: 'artifacts' beside the database)", field="artifacts_dir")
    if result.dry_run:
        for a in candidates:
            written = blobs.written_at(a.digest)
            if written is None or written < idle_since:
                result.artifacts += 1
                result.artifact_bytes += a.size if written is not None else 0
        return
    step = blobs.prune_batch
    for i in range(0, len(candidates), step):
        t0 = time.monotonic()
        digests = [a.digest for a in candidates[i:i + step]]
        for aside in _drop_artifacts(admin, blobs, digests, start_seq, idle_since):
            blobs.discard(aside)
            result.artifacts += 1
            result.artifact_bytes += aside.size
        _rest(pause, time.monotonic() - t0)


def _drop_artifacts(admin: Admin, blobs: ArtifactStore, digests: list[str], start_seq: int,
                    idle_since: float) -> list[Aside]:
    """In one transaction, forget the rows of these blobs, moving their files aside (the caller
    discards them once it committed); a blob named by an event reported since the scan began
    (``start_seq``), or written since ``idle_since``, stays."""
    asides: list[Aside] = []

    def op(tx: WriteTx) -> None:
        # Events reported since the scan began may name a blob by URL: read them under the lock.
        fresh = _named_since(admin, start_seq, tx=tx)
        for digest in digests:
            if digest.removeprefix("sha256:") in fresh:
                continue
            aside = blobs.set_aside(digest, idle_since)
            if aside is not None:
                asides.append(aside)
                tx.delete_artifact(digest)

    try:
        admin.write(op)
    except BaseException:
        for aside in asides:
            blobs.put_back(aside)
        raise
    return asides


def _named_since(admin: Admin, after_seq: int, *, skip: set[int] | frozenset[int] = frozenset(),
                 tx: ReadTx | None = None) -> set[str]:
    """Digests named by events after ``after_seq`` (those in ``skip`` aside), page by page: each page
    in its own read transaction, or all in ``tx``."""
    named: set[str] = set()
    cursor = after_seq
    while True:
        if tx is not None:
            page = tx.artifact_refs(cursor, 1000)
        else:
            page = admin.read(lambda t, c=cursor: t.artifact_refs(c, 1000))
        if not page:
            return named
        cursor = page[-1][0]
        for seq, refs in page:
            if seq not in skip:
                named |= digests_named(refs)


def _rest(pause: float, took: float) -> None:
    # Not a wait for a condition: a duty cycle, so the server's writer gets the database between batches.
    if pause > 0:
        time.sleep(pause * took)
