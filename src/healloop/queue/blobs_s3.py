"""Content-addressed artifacts in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW), the same layout
as the local folder: ``<prefix>/sha256/<first two hex>/<hex>``.

Verify, then put: an upload reaches the queue as a multipart body that Starlette has already spooled
to a local file, so the bytes are hashed and their size checked there first, and only then sent to
S3 under their digest, with their SHA-256 for S3 to check on arrival. An S3 PUT is all or nothing, so
no object under a digest is ever partial or wrong, nothing is sent for a refused file, and there is no
temporary key for a crash to leave behind (an upload to a temporary key and a server-side copy would
send every byte twice inside S3). Bytes already stored are not sent again: the object is copied onto
itself with a new write time, which ``healloop prune`` reads (``written_at``).

Write times are the queue host's clock, kept in the object's metadata (``healloop-written``), the
same clock as prune's cut-off; an object without it (put there by hand) falls back to Last-Modified.

Credentials come from boto3's usual chain: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (or a
profile, or an instance role), never from healloop.toml.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from typing import IO, Any, BinaryIO

from healloop.errors import ConfigError, NotFound, Unavailable
from healloop.queue.artifacts import S3Location
from healloop.queue.blobs import CHUNK, Aside, Opened, hex_of, key_of, too_large

log = logging.getLogger(__name__)

WRITTEN = "healloop-written"
# A second attempt hides a dropped connection; more would keep a request (or the start-up check
# against an unreachable endpoint) waiting for tens of seconds before it says what is wrong.
_RETRIES = {"max_attempts": 2, "mode": "standard"}
# As many connections as Starlette's worker threads (40), which run every put and open: with boto3's
# default of 10, the rest would open and drop a connection per request.
_POOL = 40


def _boto() -> Any:
    try:
        import boto3
        import botocore.config
    except ImportError:
        raise ConfigError("artifacts on S3 need boto3, which is not installed: "
                          "pip install 'healloop[s3]'", field="artifacts") from None
    return boto3, botocore.config


class S3Blobs:
    # set_aside is four requests (HEAD, copy, HEAD, DELETE): 71 ms median, 159 ms the longest, against
    # moto on loopback on the development container; 10 keep a prune transaction near a second, well
    # inside the server's 5 s busy timeout, where the folder's 100 would take seven.
    prune_batch = 10

    def __init__(self, location: S3Location, max_bytes: int, *, endpoint: str | None = None,
                 client: Any = None) -> None:
        self.location = location
        self.max_bytes = max_bytes
        self.endpoint = endpoint
        if client is None:
            boto3, config = _boto()
            client = boto3.session.Session().client(
                "s3", endpoint_url=endpoint or None,
                config=config.Config(retries=_RETRIES, connect_timeout=5, read_timeout=60,
                                     signature_version="s3v4", max_pool_connections=_POOL))
        self.s3 = client
        self.bucket = location.bucket

    @property
    def where(self) -> str:
        return str(self.location) + (f" at {self.endpoint}" if self.endpoint else "")

    def _key(self, hexdigest: str) -> str:
        return f"{self.location.prefix}/{key_of(hexdigest)}" if self.location.prefix else key_of(hexdigest)

    def _aside_key(self, hexdigest: str) -> str:
        tail = f"tmp/prune-{hexdigest}-{os.getpid()}"
        return f"{self.location.prefix}/{tail}" if self.location.prefix else tail

    # -- start-up
    def check(self) -> None:
        """One HEAD of the bucket, its failure turned into what to fix."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except NoCredentialsError:
            raise ConfigError(f"no AWS credentials for the artifacts at {self.where}: set "
                              "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_REGION) in the "
                              "environment of `healloop serve`", field="artifacts") from None
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                raise ConfigError(f"the bucket {self.bucket!r} does not exist at "
                                  f"{self._endpoint_name()}: create it (e.g. `aws s3 mb s3://{self.bucket}`) "
                                  "or fix the bucket in --artifacts / [queue] artifacts",
                                  field="artifacts") from None
            if status in (401, 403):
                raise ConfigError(f"{self._endpoint_name()} refused the credentials for the bucket "
                                  f"{self.bucket!r} ({status}): check AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY, and that this key may read and write the bucket",
                                  field="artifacts") from None
            raise ConfigError(f"the bucket {self.bucket!r} at {self._endpoint_name()} cannot be used: "
                              f"{exc}", field="artifacts") from None
        except BotoCoreError as exc:
            raise ConfigError(f"cannot reach the S3 endpoint {self._endpoint_name()} for the artifacts: "
                              f"{exc}; check --s3-endpoint / [queue] s3_endpoint and that the service is "
                              "running", field="s3_endpoint") from None

    def _endpoint_name(self) -> str:
        return self.endpoint or "AWS S3"

    def absent(self) -> bool:
        return False  # check() already found the bucket

    # -- upload
    def put(self, name: str, source: BinaryIO) -> tuple[str, int]:
        with _seekable(source, self.max_bytes) as body:
            hexdigest, size = self._measure(name, body)
            key = self._key(hexdigest)
            with _failures(f"storing artifact {name!r}", self.where):
                if self._head(key) is not None:
                    self._touch(key)
                else:
                    body.seek(0)
                    self._upload(key, body, hexdigest, size)
        return f"sha256:{hexdigest}", size

    def _measure(self, name: str, body: IO[bytes]) -> tuple[str, int]:
        h = hashlib.sha256()
        size = 0
        while chunk := body.read(CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise too_large(name, self.max_bytes)
            h.update(chunk)
        return h.hexdigest(), size

    def _upload(self, key: str, body: IO[bytes], hexdigest: str, size: int) -> None:
        checksum = base64.b64encode(bytes.fromhex(hexdigest)).decode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentLength=size,
                           ChecksumSHA256=checksum, Metadata={WRITTEN: f"{time.time():.6f}"})

    def _touch(self, key: str) -> None:
        # S3 has no utime: a copy onto itself with new metadata renews the write time, no bytes sent.
        self.s3.copy_object(Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": key},
                            MetadataDirective="REPLACE", Metadata={WRITTEN: f"{time.time():.6f}"})

    def confirm(self, digest: str, name: str, source: BinaryIO) -> None:
        """S3 cannot rename, so ``set_aside`` copies an idle blob away and then deletes it: an upload of
        the same bytes landing between the two is deleted with it. Prune does that inside its database
        transaction, and this runs after the upload's own transaction recorded the blob, so it sees any
        such delete; then the bytes, still in the upload's spooled file, are put again."""
        key = self._key(hex_of(digest))
        with _failures(f"storing artifact {name!r}", self.where):
            if self._head(key) is not None:
                return
            log.info("artifact %s was pruned while being uploaded; storing it again", digest)
            with _seekable(source, self.max_bytes) as body:
                body.seek(0)
                hexdigest, size = self._measure(name, body)
                if f"sha256:{hexdigest}" != digest:
                    raise Unavailable(f"the upload of {name!r} changed while it was stored; send it again")
                body.seek(0)
                self._upload(key, body, hexdigest, size)

    # -- download
    def open(self, digest: str) -> Opened:
        from botocore.exceptions import ClientError

        key = self._key(hex_of(digest))
        with _failures(f"reading artifact {digest}", self.where):
            try:
                got = self.s3.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise NotFound(f"no artifact {digest}") from None
                raise
        return Opened(int(got["ContentLength"]), chunks=_chunks(got["Body"]))

    # -- prune
    def written_at(self, digest: str) -> float | None:
        with _failures(f"reading artifact {digest}", self.where):
            head = self._head(self._key(hex_of(digest)))
        return None if head is None else _written(head)

    def set_aside(self, digest: str, written_before: float) -> Aside | None:
        """Copy an idle blob to ``<prefix>/tmp/`` and delete it under its digest, unless written at or
        after ``written_before``. Read again from the copy: an upload that renewed it before the copy
        was made puts it back (None). One landing between copy and delete is ``confirm``'s to repair."""
        hexdigest = hex_of(digest)
        key, aside = self._key(hexdigest), self._aside_key(hexdigest)
        with _failures(f"pruning artifact {digest}", self.where):
            head = self._head(key)
            if head is None:
                return Aside(digest, None, 0)
            if _written(head) >= written_before:
                return None
            self.s3.copy_object(Bucket=self.bucket, Key=aside, CopySource={"Bucket": self.bucket, "Key": key},
                                MetadataDirective="COPY")
            copied = self._head(aside)
            if copied is None or _written(copied) >= written_before:
                self._delete(aside)
                return None
            self._delete(key)
        return Aside(digest, aside, int(copied["ContentLength"]))

    def put_back(self, aside: Aside) -> None:
        if aside.held is None:
            return
        key = self._key(hex_of(aside.digest))
        with _failures(f"restoring artifact {aside.digest}", self.where):
            self.s3.copy_object(Bucket=self.bucket, Key=key,
                                CopySource={"Bucket": self.bucket, "Key": aside.held},
                                MetadataDirective="COPY")
            self._delete(aside.held)

    def discard(self, aside: Aside) -> None:
        if aside.held is not None:
            with _failures(f"removing artifact {aside.digest}", self.where):
                self._delete(aside.held)

    # -- requests
    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise
        return head

    def _delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)


def _written(head: dict[str, Any]) -> float:
    meta = head.get("Metadata") or {}
    try:
        return float(meta[WRITTEN])
    except (KeyError, ValueError):
        return float(head["LastModified"].timestamp())


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


@contextlib.contextmanager
def _failures(doing: str, where: str) -> Iterator[None]:
    """S3 errors while serving become a 503 naming the store; healloop's own errors pass through."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable(f"{doing} failed: the artifact storage {where} answered: {exc}; check that it "
                          "is up and that the credentials of `healloop serve` still hold") from None


class _seekable:
    """``source`` itself when it can seek back (a spooled upload), else a temporary copy of it, cut
    one chunk past ``limit`` (enough for the size check to refuse it, not a byte more on disk)."""

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self.source = source
        self.limit = limit
        self.copy: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        try:
            if self.source.seekable():
                self.source.seek(0)
                return self.source
        except (AttributeError, OSError):
            pass
        self.copy = tempfile.TemporaryFile()
        copied = 0
        while copied <= self.limit and (chunk := self.source.read(CHUNK)):
            self.copy.write(chunk)
            copied += len(chunk)
        self.copy.seek(0)
        return self.copy

    def __exit__(self, *exc: object) -> None:
        if self.copy is not None:
            self.copy.close()
