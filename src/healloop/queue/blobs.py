"""Content-addressed files on the queue host: screenshots, DOM snapshots and logs that reporters
upload so an agent on another machine can read them.

A blob lives at ``<root>/sha256/<first two hex>/<hex>``. It is written to a temporary file in the
same folder, fsynced, then renamed: a reader never sees half a file, a crash leaves no partial
blob under a digest, and the same content uploaded twice is stored once.

This is the local backend of the artifact storage interface (``artifacts.ArtifactStore``); the S3 one
is ``blobs_s3.py``, with the same digests and key layout.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from healloop.errors import InvalidInput, NotFound, PayloadTooLarge

DIGEST_PATTERN = r"^sha256:([0-9a-f]{64})$"
_DIGEST = re.compile(DIGEST_PATTERN)
CHUNK = 1024 * 1024
# Files in one upload request (POST /v1/events/{id}/artifacts).
MAX_FILES_PER_UPLOAD = 5


@dataclass(frozen=True)
class Aside:
    """A blob moved aside by ``set_aside``: ``held`` is where its bytes wait for ``discard`` or
    ``put_back`` (a file path here, an object key on S3), None when it was already gone."""

    digest: str
    held: str | None
    size: int


@dataclass(frozen=True)
class Opened:
    """A blob ready to send: a local file (``path``, which the server sends as a file) or ``chunks``, a
    stream that releases its connection once read to the end or closed."""

    size: int
    path: Path | None = None
    chunks: Iterator[bytes] | None = None

    def read_all(self) -> bytes:
        if self.path is not None:
            return self.path.read_bytes()
        return b"".join(self.chunks or ())


def too_large(name: str, max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"artifact {name!r} is over the limit of {max_bytes // (1024 * 1024)} MiB per file; send a "
        "smaller file (e.g. a compressed screenshot) or raise `healloop serve --max-artifact-mb`"
    )


def hex_of(digest: str) -> str:
    """The hex of ``sha256:<hex>``, or a 400 naming the expected form."""
    m = _DIGEST.match(digest)
    if not m:
        raise InvalidInput(
            f"an artifact digest looks like sha256:<64 hex digits>, got {digest!r}", field="digest"
        )
    return m.group(1)


def key_of(hexdigest: str) -> str:
    """Where a blob lives below the store's root or prefix: ``sha256/<first two hex>/<hex>``."""
    return f"sha256/{hexdigest[:2]}/{hexdigest}"


class BlobStore:
    prune_batch = 100  # renames: a batch takes milliseconds

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    @property
    def where(self) -> str:
        return str(self.root)

    def check(self) -> None:
        """Nothing to check ahead: the folder is created by the first upload."""

    def absent(self) -> bool:
        return not self.root.is_dir()

    def _path(self, hexdigest: str) -> Path:
        return self.root / key_of(hexdigest)

    def put(self, name: str, source: BinaryIO) -> tuple[str, int]:
        """Copy ``source`` in; returns (digest, size). Over the limit: nothing is kept."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise too_large(name, self.max_bytes)
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            final = self._path(h.hexdigest())
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return f"sha256:{h.hexdigest()}", size

    @staticmethod
    def _hex(digest: str) -> str:
        return hex_of(digest)

    def written_at(self, digest: str) -> float | None:
        """When the blob's file was last written (each upload of it rewrites it), or None if absent."""
        try:
            return self._path(self._hex(digest)).stat().st_mtime
        except FileNotFoundError:
            return None

    def set_aside(self, digest: str, written_before: float) -> Aside | None:
        """Move a blob out of reach for removal (``healloop prune``), unless its file was written at or
        after ``written_before`` (an upload of the same content since: None, and it stays).

        Renamed first, its time read after: an upload that lands meanwhile writes a new file in its
        place, which stays. A blob already gone gives an Aside of no file and 0 bytes."""
        hexdigest = self._hex(digest)
        path = self._path(hexdigest)
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        aside = tmp_dir / f"prune-{hexdigest}-{os.getpid()}"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return Aside(digest, None, 0)
        st = aside.stat()
        if st.st_mtime >= written_before:
            # The same bytes as anything an upload put there meanwhile: content-addressed.
            os.rename(aside, path)
            return None
        return Aside(digest, str(aside), st.st_size)

    def put_back(self, aside: Aside) -> None:
        if aside.held is not None:
            os.rename(aside.held, self._path(self._hex(aside.digest)))

    @staticmethod
    def discard(aside: Aside) -> None:
        if aside.held is not None:
            Path(aside.held).unlink(missing_ok=True)

    def confirm(self, digest: str, name: str, source: BinaryIO) -> None:
        """Nothing to do here: ``set_aside`` renames first, so an upload's file is never removed after
        the upload wrote it (see ``blobs_s3.S3Blobs.confirm`` for the store where it can be)."""

    def open(self, digest: str) -> Opened:
        path = self.path_of(digest)
        return Opened(path.stat().st_size, path=path)

    def path_of(self, digest: str) -> Path:
        path = self._path(self._hex(digest))
        if not path.is_file():
            raise NotFound(f"no artifact {digest}")
        return path
