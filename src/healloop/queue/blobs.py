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
from pathlib import Path
from typing import BinaryIO

from healloop.errors import InvalidInput, NotFound, PayloadTooLarge

DIGEST_PATTERN = r"^sha256:([0-9a-f]{64})$"
_DIGEST = re.compile(DIGEST_PATTERN)
CHUNK = 1024 * 1024
# Files in one upload request (POST /v1/events/{id}/artifacts).
MAX_FILES_PER_UPLOAD = 5


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

    def path_of(self, digest: str) -> Path:
        m = _DIGEST.match(digest)
        if not m:
            raise InvalidInput(
                f"an artifact digest looks like sha256:<64 hex digits>, got {digest!r}", field="digest"
            )
        path = self._path(m.group(1))
        if not path.is_file():
            raise NotFound(f"no artifact {digest}")
        return path
