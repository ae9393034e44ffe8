"""A real S3-protocol server for the tests: moto's server mode in its own process on a free loopback
port, with IAM authentication switched on, so wrong credentials are refused as by AWS S3 or MinIO."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from tests.support import wait_until

# moto answers this many requests before it checks credentials: the three that make the tests' user.
_SETUP_REQUESTS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class S3Server:
    url: str
    proc: subprocess.Popen[bytes]
    key_id: str = ""
    secret: str = ""
    region: str = "us-east-1"

    @classmethod
    def start(cls) -> S3Server:
        port = _free_port()
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_REQUESTS)}
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = cls(f"http://127.0.0.1:{port}", proc)
        try:
            wait_until(lambda: proc.poll() is not None or _accepts(port), timeout=60, interval=0.05,
                       what="moto's S3 server to accept connections")
            assert proc.poll() is None, "moto's server exited at start"
            server._make_user()
        except BaseException:
            server.stop()
            raise
        return server

    def _make_user(self) -> None:
        import boto3

        iam = boto3.client("iam", endpoint_url=self.url, region_name=self.region,
                           aws_access_key_id="setup", aws_secret_access_key="setup")
        iam.create_user(UserName="healloop")
        iam.put_user_policy(UserName="healloop", PolicyName="artifacts", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="healloop")["AccessKey"]
        self.key_id, self.secret = key["AccessKeyId"], key["SecretAccessKey"]

    def env(self, **override: str) -> dict[str, str]:
        """The standard AWS variables for a process that uses this server."""
        return {"AWS_ACCESS_KEY_ID": self.key_id, "AWS_SECRET_ACCESS_KEY": self.secret,
                "AWS_REGION": self.region, **override}

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=self.region,
                            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret)

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
