"""Helpers shared by the tests: real server processes and bounded waits on conditions."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


def wait_until(cond: Callable[[], T], timeout: float = 10.0, interval: float = 0.02,
               what: str = "condition") -> T:
    """Poll ``cond`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_final(queue: Any, event_id: str, *, timeout: float, logs: Callable[[], str]) -> dict[str, Any]:
    """Wait until an event is resolved or escalated (``queue`` is a QueueClient); on timeout the
    failure shows the event and the agents' logs."""

    def final() -> dict[str, Any] | None:
        ev = queue.get(event_id)
        return ev if ev["status"] in ("resolved", "escalated") else None

    try:
        return wait_until(final, timeout=timeout, interval=0.1, what=f"event {event_id} to finish")
    except AssertionError:
        raise AssertionError(f"{event_id} did not finish: {queue.get(event_id)}\n{logs()}") from None


class QueueServer:
    """A real ``healloop serve`` process on a free loopback port."""

    # Started in this process and not stopped (see tests/conftest.py).
    running: ClassVar[set[QueueServer]] = set()

    def __init__(self, db: Path | str, *args: str, token: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.db = db
        self.args = list(args)
        self.token = token
        self.env = env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def _config_artifacts(self) -> bool:
        """Whether the --config file given sets [queue] artifacts (an S3 store: no folder then)."""
        if "--config" not in self.args:
            return False
        text = Path(self.args[self.args.index("--config") + 1]).read_text()
        return "artifacts" in tomllib.loads(text).get("queue", {})

    def start(self) -> QueueServer:
        from tests.pgdb import database_for, on_postgres

        db: str = str(self.db)
        if on_postgres() and isinstance(self.db, Path):
            # The same suite on PostgreSQL: the test's file path names a fresh database, and the files
            # that live beside an SQLite file (artifacts, session key) stay in the same folder.
            db = database_for(self.db)
            if not {"--artifacts-dir", "--artifacts"} & set(self.args) and not self._config_artifacts():
                self.args += ["--artifacts-dir", str(self.db.parent / "artifacts")]
        cmd = [sys.executable, "-m", "healloop", "serve", "--db", db, "--port", "0", *self.args]
        QueueServer.running.add(self)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")} | self.env
        if self.token:
            cmd += ["--token", self.token]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"server did not start: {line!r} {err}")
        self.url = m.group(1)
        return self

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        tok = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=kw.pop("timeout", 30), **kw)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_pipes()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._close_pipes()

    def _close_pipes(self) -> None:
        QueueServer.running.discard(self)
        if self.proc:
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe:
                    pipe.close()


def failure(n: int | str = 1, **extra: Any) -> dict[str, Any]:
    body = {"node": "node-a", "source": "cypress", "spec": f"cypress/e2e/spec{n}.cy.js",
            "test": f"checkout > pays {n}", "message": "Timed out retrying: expected to find [data-cy=pay]"}
    body.update(extra)
    return body
