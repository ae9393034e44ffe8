"""Content-addressed files on the queue host: screenshots, DOM snapshots and logs that reporters
upload so an agent on another machine can read them.

A blob lives at ``<root>/sha256/<first two hex>/<hex>``. It is written to a temporary file in the
same folder, fsynced, then renamed: a reader never sees half a file, a crash leaves no partial
blob under a digest, and the same content uploaded twice is stored once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
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
    """A blob moved aside by ``set_aside``: ``path`` None when its file was already gone."""

    digest: str
    path: Path | None
    size: int


class BlobStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _path(self, hexdigest: str) -> Path:
        return self.root / "sha256" / hexdigest[:2] / hexdigest

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
                        raise PayloadTooLarge(
                            f"artifact {name!r} is over the limit of {self.max_bytes // (1024 * 1024)} "
                            "MiB per file; send a smaller file (e.g. a compressed screenshot) or raise "
                            "`healloop serve --max-artifact-mb`"
                        )
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

    def _hex(self, digest: str) -> str:
        m = _DIGEST.match(digest)
        if not m:
            raise InvalidInput(
                f"an artifact digest looks like sha256:<64 hex digits>, got {digest!r}", field="digest"
            )
        return m.group(1)

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
        return Aside(digest, aside, st.st_size)

    def put_back(self, aside: Aside) -> None:
        if aside.path is not None:
            os.rename(aside.path, self._path(self._hex(aside.digest)))

    @staticmethod
    def discard(aside: Aside) -> None:
        if aside.path is not None:
            aside.path.unlink(missing_ok=True)

    def path_of(self, digest: str) -> Path:
        path = self._path(self._hex(digest))
        if not path.is_file():
            raise NotFound(f"no artifact {digest}")
        return path
