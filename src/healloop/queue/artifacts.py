"""The artifact storage interface, and which backend a location names.

Uploaded artifacts are content-addressed blobs, kept either in a local folder (``blobs.BlobStore``) or
in an S3-compatible bucket (``blobs_s3.S3Blobs``: AWS S3, MinIO, Ceph RGW). The API's upload and
download routes, the dashboard and ``healloop prune`` use only the operations below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from healloop.errors import ConfigError
from healloop.queue.blobs import Aside, BlobStore, Opened

# S3's rules for bucket names (3 to 63 lower-case letters, digits, dots and hyphens), checked here so a
# typo is named before any request is made.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_ENDPOINT = re.compile(r"^https?://[^/\s?#]+/?$")


class ArtifactStore(Protocol):
    max_bytes: int
    # Blobs set aside per prune transaction, which holds the database's writer meanwhile.
    prune_batch: int

    @property
    def where(self) -> str:
        """The folder or ``s3://bucket/prefix``, for messages."""
        ...

    def check(self) -> None:
        """Raise ConfigError saying what to fix when the storage cannot be used (run once at start)."""
        ...

    def absent(self) -> bool:
        """True when the storage holds nothing at all (a local folder never created)."""
        ...

    def put(self, name: str, source: BinaryIO) -> tuple[str, int]:
        """Store ``source`` under its digest; returns (digest, size). Over ``max_bytes``: nothing kept.
        Each upload, even of stored bytes, renews the blob's write time (``written_at``)."""
        ...

    def confirm(self, digest: str, name: str, source: BinaryIO) -> None:
        """After an upload recorded ``digest`` on its event: make sure the blob is still there."""
        ...

    def open(self, digest: str) -> Opened: ...

    def written_at(self, digest: str) -> float | None: ...

    def set_aside(self, digest: str, written_before: float) -> Aside | None: ...

    def put_back(self, aside: Aside) -> None: ...

    def discard(self, aside: Aside) -> None: ...


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # no leading or trailing slash; "" for the bucket's root

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_location(text: str, field: str = "artifacts") -> Path | S3Location:
    """A folder, or ``s3://bucket/prefix``; any other URL is refused with the forms that work."""
    if not _SCHEME.match(text):
        return Path(text)
    scheme, _, rest = text.partition("://")
    if scheme.lower() != "s3":
        raise ConfigError(f"artifacts go to a folder or to s3://bucket/prefix, got {text!r}; for another "
                          "S3-compatible service (MinIO, Ceph RGW) give s3://bucket/prefix and its URL "
                          "as the S3 endpoint (--s3-endpoint or [queue] s3_endpoint)", field=field)
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ConfigError(f"{text!r} does not start with a valid bucket name: s3://BUCKET/prefix, the "
                          "bucket 3 to 63 lower-case letters, digits, dots or hyphens", field=field)
    prefix = prefix.strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ConfigError(f"the prefix of {text!r} has an empty, '.' or '..' part; give a plain path "
                          "such as s3://bucket/healloop/artifacts", field=field)
    return S3Location(bucket, prefix)


def open_store(location: str | None, default_dir: Path, max_bytes: int, *,
               s3_endpoint: str | None = None) -> ArtifactStore:
    """The store a location names (None: ``default_dir``), checked once: a missing bucket, refused
    credentials or an unreachable endpoint are a ConfigError here rather than failed uploads later."""
    where = parse_location(location) if location else default_dir
    if isinstance(where, Path):
        if s3_endpoint:
            raise ConfigError(f"an S3 endpoint ({s3_endpoint}) is set but the artifacts go to the folder "
                              f"{str(where)!r}; give --artifacts s3://bucket/prefix, or drop the endpoint",
                              field="s3_endpoint")
        store: ArtifactStore = BlobStore(where, max_bytes)
    else:
        if s3_endpoint and not _ENDPOINT.match(s3_endpoint):
            raise ConfigError(f"the S3 endpoint must be a URL such as http://minio:9000 or "
                              f"https://s3.example.com, got {s3_endpoint!r}", field="s3_endpoint")
        from healloop.queue.blobs_s3 import S3Blobs

        store = S3Blobs(where, max_bytes, endpoint=s3_endpoint)
    store.check()
    return store
