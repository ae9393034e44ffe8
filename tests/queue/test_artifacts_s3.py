"""Artifacts on S3 end to end: ``healloop serve --artifacts s3://…`` against a real S3-protocol server
(moto's, in its own process), fed by ``healloop report``, read back by the agent's client, pruned by
``healloop prune``; and the start-up refusals, each naming what to fix."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from healloop.client import QueueClient
from healloop.errors import ConfigError, PayloadTooLarge, Unavailable
from healloop.queue.artifacts import S3Location, parse_location
from healloop.queue.blobs_s3 import WRITTEN, S3Blobs
from healloop.queue.model import ArtifactMeta
from healloop.queue.store.sqlite import token_admin
from healloop.timeutil import now_us
from tests.cli.test_events_cli import healloop as healloop_cmd
from tests.s3support import S3Server, _free_port
from tests.sources.test_cli import FIXTURES, events, healloop
from tests.support import QueueServer


def _bucket(s3: S3Server, tmp_path: Path, kind: str) -> str:
    return s3.bucket(f"{kind}-{tmp_path.name.lower().replace('_', '-')[-40:]}")


def test_a_report_uploaded_to_a_queue_on_s3_is_served_back(s3: S3Server, tmp_path: Path) -> None:
    bucket = _bucket(s3, tmp_path, "e2e")
    config = tmp_path / "healloop.toml"
    config.write_text(f'[queue]\nartifacts = "s3://{bucket}/healloop"\ns3_endpoint = "{s3.url}"\n')
    queue = QueueServer(tmp_path / "events.db", "--config", str(config), env=s3.env()).start()
    try:
        (tmp_path / "reports").mkdir()
        xml = tmp_path / "reports" / "junit.xml"
        xml.write_text((FIXTURES / "playwright-junit.xml").read_text())
        results = tmp_path / "test-results" / "login-login-shows-an-error-for-a-bad-password"
        results.mkdir(parents=True)
        shot = b"\x89PNG shot " + bytes(range(256)) * 64
        (results / "test-failed-1.png").write_bytes(shot)
        r = healloop("report", "--queue", queue.url, "--artifacts", str(tmp_path / "node-artifacts"),
                     str(xml), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        [e] = events(queue)
        [uploaded] = [a for a in e["artifacts"] if a.get("url") and a["name"] == "test-failed-1.png"]
        hexdigest = hashlib.sha256(shot).hexdigest()
        assert uploaded["digest"] == f"sha256:{hexdigest}" and uploaded["size"] == len(shot)
        assert f"healloop/sha256/{hexdigest[:2]}/{hexdigest}" in s3.keys(bucket)
        assert not (tmp_path / "artifacts").exists(), "nothing written beside the database"
        # What the agent does to read it (agent/context.py), through the queue.
        assert QueueClient(queue.url).artifact(uploaded["digest"]) == shot
        with queue.client() as c:
            got = c.get(uploaded["url"])
            assert got.headers["content-length"] == str(len(shot))
            assert got.headers["x-content-type-options"] == "nosniff"
            page = c.get(f"/artifacts/{uploaded['digest']}")  # the dashboard's copy
            assert page.status_code == 200 and page.content == shot
    finally:
        queue.stop()


def test_prune_removes_unnamed_objects_from_the_bucket(s3: S3Server, tmp_path: Path) -> None:
    bucket = _bucket(s3, tmp_path, "prune")
    blobs = S3Blobs(S3Location(bucket, "q"), 1 << 20, client=s3.client())
    idle, fresh = (blobs.put(n, io.BytesIO(n.encode()))[0] for n in ("idle.png", "fresh.png"))
    key = blobs._key(idle[7:])
    s3.client().copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key},
                            MetadataDirective="REPLACE", Metadata={WRITTEN: "1000"})
    db = tmp_path / "events.db"
    tx = token_admin(db)
    with tx.c:
        for d in (idle, fresh):
            tx.put_artifact(ArtifactMeta(d, "image/png", 8, now_us()))
    tx.c.close()
    out = healloop_cmd("prune", "--older-than", "90d", "--db", str(db), "--artifacts", f"s3://{bucket}/q",
                       "--s3-endpoint", s3.url, env=s3.env())
    assert out.returncode == 0, out.stderr
    assert "1 artifacts (8 bytes)" in out.stdout, out.stdout
    assert s3.keys(bucket) == [blobs._key(fresh[7:])], "the idle one gone, nothing left in tmp/"


def _serve_fails(tmp_path: Path, *args: str, env: dict[str, str]) -> str:
    cmd = [sys.executable, "-m", "healloop", "serve", "--db", str(tmp_path / "events.db"), "--port", "0",
           *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**_base_env(), **env})
    assert done.returncode != 0 and "listening on" not in done.stdout, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("HEALLOOP_", "AWS_"))}


def test_serve_refuses_a_missing_bucket_bad_credentials_and_an_unreachable_endpoint(
        s3: S3Server, tmp_path: Path) -> None:
    bucket = _bucket(s3, tmp_path, "ok")
    err = _serve_fails(tmp_path, "--artifacts", "s3://no-such-bucket/p", "--s3-endpoint", s3.url,
                       env=s3.env())
    assert "the bucket 'no-such-bucket' does not exist at http://127.0.0.1:" in err
    assert "aws s3 mb s3://no-such-bucket" in err
    err = _serve_fails(tmp_path, "--artifacts", f"s3://{bucket}/p", "--s3-endpoint", s3.url,
                       env=s3.env(AWS_SECRET_ACCESS_KEY="wrong"))
    assert "refused the credentials for the bucket" in err and "AWS_SECRET_ACCESS_KEY" in err, err
    err = _serve_fails(tmp_path, "--artifacts", f"s3://{bucket}/p", "--s3-endpoint", s3.url,
                       env={"AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent",
                            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                            "AWS_EC2_METADATA_DISABLED": "true"})
    assert "no AWS credentials" in err and "AWS_ACCESS_KEY_ID" in err, err
    closed = f"http://127.0.0.1:{_free_port()}"
    err = _serve_fails(tmp_path, "--artifacts", f"s3://{bucket}/p", "--s3-endpoint", closed, env=s3.env())
    assert f"cannot reach the S3 endpoint {closed}" in err and "--s3-endpoint" in err, err


@pytest.mark.parametrize(("args", "toml", "says"), [
    (["--artifacts", "http://minio:9000/bucket"], "", "artifacts go to a folder or to s3://bucket/prefix"),
    (["--artifacts", "s3://Bad_Bucket/p"], "", "does not start with a valid bucket name"),
    (["--artifacts", "s3://bucket/a//b"], "", "has an empty, '.' or '..' part"),
    (["--s3-endpoint", "http://127.0.0.1:9"], "", "an S3 endpoint (http://127.0.0.1:9) is set but"),
    (["--artifacts", "s3://bucket/p", "--s3-endpoint", "minio:9000"], "",
     "the S3 endpoint must be a URL such as http://minio:9000"),
    (["--artifacts", "s3://bucket/p", "--artifacts-dir", "x"], "", "give --artifacts or --artifacts-dir"),
    ([], '[queue]\nartifacts = "s3://bucket/p"\naws_secret_access_key = "x"\n',
     "credentials are not read from healloop.toml"),
    ([], "[queue]\nartifacts = 3\n", "[queue] artifacts must be a string, got 3"),
])
def test_serve_refuses_bad_artifact_settings(tmp_path: Path, args: list[str], toml: str, says: str) -> None:
    if toml:
        (tmp_path / "healloop.toml").write_text(toml)
        args = [*args, "--config", str(tmp_path / "healloop.toml")]
    err = _serve_fails(tmp_path, *args, env={})
    assert says in err, err


def test_locations() -> None:
    assert parse_location("s3://bkt/a/b/") == S3Location("bkt", "a/b")
    assert str(parse_location("s3://bkt")) == "s3://bkt"
    assert parse_location("data/artifacts") == Path("data/artifacts")
    with pytest.raises(ConfigError, match="valid bucket name"):
        parse_location("s3:///prefix")


def test_without_boto3_the_message_names_the_extra(tmp_path: Path) -> None:
    script = ("import sys; sys.modules['boto3'] = None\n"
              "from pathlib import Path\n"
              "from healloop.errors import ConfigError\n"
              "from healloop.queue.artifacts import open_store\n"
              "try:\n    open_store('s3://bkt/p', Path('.'), 1)\n"
              "except ConfigError as exc:\n    print(exc.message)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert "pip install 'healloop[s3]'" in done.stdout, done.stdout + done.stderr


class _Pipe(io.RawIOBase):
    """A stream that cannot seek back, as a pipe."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b: Any) -> int:
        chunk = self.data.read(len(b))
        b[:len(chunk)] = chunk
        return len(chunk)


def test_a_stream_that_cannot_seek_is_stored_whole(s3: S3Server, tmp_path: Path) -> None:
    blobs = S3Blobs(S3Location(_bucket(s3, tmp_path, "pipe"), ""), 1 << 20, client=s3.client())
    data = bytes(range(256)) * 4095
    digest, size = blobs.put("log.txt", io.BufferedReader(_Pipe(data)))
    assert (digest, size) == (f"sha256:{hashlib.sha256(data).hexdigest()}", len(data))
    assert blobs.open(digest).read_all() == data
    with pytest.raises(PayloadTooLarge, match=r"'big\.txt' is over the limit of 1 MiB"):
        blobs.put("big.txt", io.BufferedReader(_Pipe(data * 2)))
    assert s3.keys(blobs.bucket) == [f"sha256/{digest[7:9]}/{digest[7:]}"]


def test_storage_failing_while_serving_is_a_503_naming_the_store(s3: S3Server, tmp_path: Path) -> None:
    bucket = _bucket(s3, tmp_path, "gone")
    blobs = S3Blobs(S3Location(bucket, "p"), 1 << 20, client=s3.client())
    blobs.check()
    s3.client().delete_bucket(Bucket=bucket)  # removed under a running queue
    with pytest.raises(Unavailable, match=f"storing artifact 'a.png' failed: the artifact storage "
                                          f"s3://{bucket}/p"):
        blobs.put("a.png", io.BytesIO(b"x"))
