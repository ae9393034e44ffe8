"""A local Docker Engine for the tests: HTTP/1.1 on a unix socket, answering the Engine API endpoints the
node's Docker backend calls (through the real ``docker`` package) as dockerd does. No engine runs on
these machines, so this is the one fake, and it speaks the wire protocol rather than patching the client.

Shapes follow the Engine API v1.45 reference and dockerd's answers: ``GET /version`` (the client's
version negotiation), ``GET /_ping``, ``GET /containers/{id}/json`` (by name or id), ``POST
/containers/{id}/restart|stop|start`` (204, or 304 when already in that state), ``GET
/containers/{id}/logs`` (for a container without a TTY, the multiplexed stream: an 8-byte header, stream
1 or 2 and a big-endian length, before each frame) and errors as ``{"message": ...}`` with dockerd's
status, e.g. 404 ``No such container: x``.
"""

from __future__ import annotations

import hashlib
import json
import re
import socketserver
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_VERSION = "1.45"
STDOUT, STDERR = 1, 2


@dataclass
class Container:
    name: str
    running: bool = True
    tty: bool = False
    # (stream, line) in the order the container wrote them; stream is STDOUT or STDERR.
    log: list[tuple[int, str]] = field(default_factory=list)
    restarts: int = 0
    # Set to make the engine answer a restart with 500 and this message, as dockerd does when, say,
    # the container's port is taken.
    refuse_restart: str | None = None
    # The HEALTHCHECK's status (None: the image has none). After a restart, each inspect takes the next
    # of ``health_after_restart`` and keeps the last, as a health check goes starting -> healthy.
    health: str | None = None
    health_after_restart: list[str] = field(default_factory=list)
    _pending: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def inspect(self) -> dict[str, Any]:
        status = "running" if self.running else "exited"
        if self._pending:
            self.health = self._pending.pop(0)
        health = {"Health": {"Status": self.health, "FailingStreak": 0, "Log": []}} if self.health else {}
        return {
            "Id": self.id,
            "Name": "/" + self.name,
            "Created": "2026-12-01T10:00:00.000000000Z",
            "Path": "/bin/app",
            "Args": [],
            "State": {
                "Status": status,
                "Running": self.running,
                "Paused": False,
                "Restarting": False,
                "OOMKilled": False,
                "Dead": False,
                "Pid": 4242 if self.running else 0,
                "ExitCode": 0,
                "Error": "",
                "StartedAt": "2026-12-01T10:00:01.000000000Z",
                "FinishedAt": "0001-01-01T00:00:00Z",
                **health,
            },
            "Image": "sha256:" + hashlib.sha256(b"image").hexdigest(),
            "RestartCount": self.restarts,
            "Config": {"Hostname": self.id[:12], "Tty": self.tty, "Image": "shop:latest", "Labels": {}},
            "HostConfig": {"RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}},
        }


class Engine:
    """The engine's state and a server on ``socket_path``; ``requests`` records (method, path, query)."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.containers: dict[str, Container] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self._server: socketserver.UnixStreamServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def add(self, container: Container) -> Container:
        self.containers[container.name] = container
        return container

    def find(self, ref: str) -> Container | None:
        """dockerd resolves a reference by full id, name (with or without '/') or unique id prefix."""
        for c in self.containers.values():
            if ref in (c.id, c.name, "/" + c.name) or (len(ref) >= 3 and c.id.startswith(ref)):
                return c
        return None

    def start(self) -> Engine:
        engine = self

        class Handler(_Handler):
            pass

        Handler.engine = engine
        self._server = _Server(str(self.socket_path), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """The engine goes away: the socket file is removed, as when dockerd stops."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the client keeps connections alive; every answer has a length
    server_version = "Docker/26.1.4"
    sys_version = "(linux)"
    engine: Engine

    def address_string(self) -> str:  # a unix socket's peer has no (host, port)
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the engine's requests are kept in engine.requests

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        # The client negotiates with an unversioned /version, then prefixes /v1.45 to every call.
        path = re.sub(r"^/v\d+\.\d+", "", url.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with self.engine.lock:
            self.engine.requests.append((method, path, query))
        if path == "/_ping":
            return self._send(200, b"OK", "text/plain; charset=utf-8")
        if path == "/version" and method == "GET":
            return self._json(200, _version())
        m = re.fullmatch(r"/containers/([^/]+)/(json|restart|stop|start|logs)", path)
        if m is None:
            return self._json(404, {"message": "page not found"})
        container = self.engine.find(m.group(1))
        if container is None:
            return self._json(404, {"message": f"No such container: {m.group(1)}"})
        action = m.group(2)
        with self.engine.lock:
            if action == "json" and method == "GET":
                return self._json(200, container.inspect())
            if action == "logs" and method == "GET":
                return self._logs(container, query)
            if method != "POST" or action in ("json", "logs"):
                return self._json(404, {"message": "page not found"})
            return self._act(container, action)

    def _act(self, c: Container, action: str) -> None:
        if action == "restart":
            if c.refuse_restart:
                return self._json(500, {"message": c.refuse_restart})
            c.restarts += 1
            c.running = True
            c._pending = list(c.health_after_restart)
            c.log.append((STDOUT, f"started (restart {c.restarts})"))
            return self._send(204, b"", None)
        if action == "stop":
            if not c.running:
                return self._send(304, b"", None)
            c.running = False
            return self._send(204, b"", None)
        if c.running:
            return self._send(304, b"", None)
        c.running = True
        return self._send(204, b"", None)

    def _logs(self, c: Container, query: dict[str, str]) -> None:
        if query.get("stdout") not in ("1", "true") and query.get("stderr") not in ("1", "true"):
            return self._json(400, {"message": "Bad parameters: you must choose at least one stream"})
        wanted = {s for s, key in ((STDOUT, "stdout"), (STDERR, "stderr")) if query.get(key) in ("1", "true")}
        lines = [(s, text) for s, text in c.log if s in wanted]
        tail = query.get("tail", "all")
        if tail != "all":
            lines = lines[-int(tail):] if int(tail) > 0 else []
        if c.tty:  # a TTY merges the streams: raw bytes, no framing
            body = b"".join(text.encode() + b"\n" for _, text in lines)
            return self._send(200, body, "application/vnd.docker.raw-stream")
        frames = b""
        for stream, text in lines:
            payload = text.encode() + b"\n"
            frames += struct.pack(">BxxxL", stream, len(payload)) + payload
        return self._send(200, frames, "application/vnd.docker.multiplexed-stream")

    def _json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode() + b"\n", "application/json")

    def _send(self, status: int, body: bytes, content_type: str | None) -> None:
        self.send_response(status)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(body)


def _version() -> dict[str, Any]:
    return {
        "Platform": {"Name": "Docker Engine - Community"},
        "Version": "26.1.4",
        "ApiVersion": API_VERSION,
        "MinAPIVersion": "1.24",
        "GitCommit": "de5c9cf",
        "GoVersion": "go1.21.11",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "6.1.0",
        "BuildTime": "2024-06-06T11:00:02.000000000+00:00",
    }
