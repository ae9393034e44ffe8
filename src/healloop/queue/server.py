"""Running the queue: build the store and service from settings, bind, and serve with uvicorn."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from healloop.dashboard.pages import NodeAccess
from healloop.dashboard.session import load_key
from healloop.notify.outbox import NotifySettings
from healloop.queue.api import create_app
from healloop.queue.artifacts import open_store as open_artifacts
from healloop.queue.guard import allowed_hosts
from healloop.queue.rules import QueuePolicy
from healloop.queue.service import QueueService
from healloop.queue.store.choose import open_store
from healloop.queue.store.postgres import redact
from healloop.queue.tokens import Token

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeSettings:
    db: Path | str  # an SQLite file, or a PostgreSQL URL (store/choose.py db_target)
    host: str = "127.0.0.1"
    port: int = 8787
    token: str | None = None
    policy: QueuePolicy = field(default_factory=QueuePolicy)
    synchronous: str = "normal"
    artifacts_dir: Path | None = None  # default: "artifacts" beside the SQLite file, or data/artifacts
    artifacts: str | None = None  # a folder or s3://bucket/prefix; wins over artifacts_dir
    s3_endpoint: str | None = None  # the S3 service's URL (MinIO, Ceph RGW); None: AWS S3
    max_artifact_mb: int = 20
    notify: NotifySettings | None = None  # channels to tell of outcomes ([notify.*] of healloop.toml)
    forge_secret: str | None = None  # the forges' webhook secret (/v1/ingest/github, gitlab, gitea)
    allowed_hosts: tuple[str, ...] = ()  # Host names to answer to beyond the bound and local ones
    cors_origins: tuple[str, ...] = ()  # web origins whose pages may call the API (CORS)
    tokens: tuple[Token, ...] = ()  # role tokens declared in healloop.toml ([queue.tokens.NAME])
    node_token: str | None = None  # the dashboard's approve/reject/revert reach nodes with it
    node_hosts: tuple[str, ...] = ()  # hosts beyond loopback whose registered node URLs get it


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one (read it back with ``getsockname``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_uvicorn(
    app: ASGIApp, sock: socket.socket, on_started: Callable[[], None],
    on_stopping: Callable[[], None] | None = None,
) -> bool:
    """Serve ``app`` on ``sock`` until a signal stops it; ``on_started`` runs once it accepts,
    ``on_stopping`` as soon as a stop is asked for (before uvicorn waits for open requests).

    The settings live here once: ``bench/queue.py`` serves its trivial ceiling with this same
    function, so the comparison is like for like. Returns False when the server never started.
    """
    config = uvicorn.Config(
        app, loop="uvloop" if sys.platform != "win32" else "asyncio", http="httptools",
        lifespan="on", access_log=False, log_level="warning", log_config=None,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            on_started()
        if on_stopping is not None:
            while not server.should_exit and not serving.done():
                await asyncio.sleep(0.05)
            on_stopping()
        await serving

    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(run())
    return server.started


def serve(settings: ServeSettings) -> None:
    store = open_store(settings.db, synchronous=settings.synchronous)
    # Fail with a sentence before serving: a locked or unusable database is a setup mistake.
    store.open()  # type: ignore[attr-defined]
    service = QueueService(store, settings.policy, settings.notify)
    if isinstance(settings.db, Path):
        artifacts = settings.artifacts_dir or settings.db.parent / "artifacts"
        key_file = settings.db.with_name(settings.db.name + ".session-key")
        shown_db = str(settings.db)
    else:
        # On PostgreSQL the files live beside the artifacts: servers that share the database share that
        # folder (a shared volume), so each serves the others' uploads and accepts their sessions.
        artifacts = settings.artifacts_dir or Path("data") / "artifacts"
        key_file = artifacts.parent / "session-key"
        shown_db = redact(settings.db)
        artifacts.parent.mkdir(parents=True, exist_ok=True)
    given = settings.artifacts or (str(settings.artifacts_dir) if settings.artifacts_dir else None)
    blobs = open_artifacts(given, artifacts, settings.max_artifact_mb * 1024 * 1024,
                           s3_endpoint=settings.s3_endpoint)
    app = create_app(service, blobs, token=settings.token, declared=settings.tokens,
                     forge_secret=settings.forge_secret,
                     hosts=allowed_hosts(settings.host, settings.allowed_hosts),
                     cors_origins=settings.cors_origins,
                     session_key=load_key(key_file),
                     nodes=NodeAccess(settings.node_token, settings.node_hosts))
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host

    def started() -> None:
        book = app.app.book  # RoleAuth's, inside the guard; read at start-up (lifespan), before this runs
        auth = (f"bearer token required on /v1 ({len(book.stored) + len(book.fixed)} token(s))"
                if book.required else "no token: open to anyone who can connect")
        told = (f"; notifying {', '.join(sorted(settings.notify.channels))}" if settings.notify else "")
        print(f"healloop queue listening on http://{shown_host}:{port} "
              f"(db {shown_db}, {auth}; dashboard at /, API docs at /docs{told})", flush=True)

    # Parked long-polls answer 204 at once on shutdown instead of holding the stop for their wait.
    if not run_uvicorn(app, sock, started, service.stop_waiting):
        raise SystemExit(1)
