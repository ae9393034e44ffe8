"""Services on this machine the tests depend on: status, restart (rate limited) and logs.

Backends: ``command`` (a process this node starts, tracked by a pid file in the state dir), ``systemd``
(systemctl / journalctl) and ``docker`` (Docker Engine API through the optional ``docker`` package).
A restart waits for the health check with a deadline. Restarts per service are capped per rolling hour,
counted in a file in the state dir, so the cap holds across node restarts and no agent can restart in
a loop.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

import httpx

from healloop.errors import Conflict, InvalidInput, NotFound, NotOnAllowList, Unavailable
from healloop.node import proc
from healloop.node.config import ServiceConfig
from healloop.node.workspace import Workspace

HOUR = 3600.0
POLL_S = 0.1


def _tail(path: Path | None, lines: int) -> str:
    if path is None or not path.exists():
        return ""
    with open(path, "rb") as fh:
        return b"".join(deque(fh, maxlen=lines)).decode("utf-8", "replace")


def service_env(svc: ServiceConfig) -> dict[str, str]:
    """A service's environment: this process's, without healloop's own HEALLOOP_* settings (an app that
    runs a reporter must not report to the queue), and ``env`` from its table over that."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    return base | dict(svc.env)


class Backend:
    def __init__(self, svc: ServiceConfig, ws: Workspace) -> None:
        self.svc, self.ws = svc, ws

    def check(self) -> tuple[bool, str]:
        return True, self.svc.backend

    def healthy(self) -> tuple[bool, str]:
        if self.svc.health_url:
            try:
                response = httpx.get(self.svc.health_url, timeout=2.0)
            except httpx.HTTPError as exc:
                return False, f"GET {self.svc.health_url}: {type(exc).__name__}"
            return response.is_success, f"GET {self.svc.health_url}: {response.status_code}"
        if self.svc.health_command:
            result = proc.run(self.svc.health_command, cwd=self.svc.cwd or self.ws.root, timeout=10)
            return result.exit_code == 0, f"health command exit code {result.exit_code}"
        return self.running(), "no health check configured; process state only"

    def running(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def logs(self, lines: int) -> str:
        return _tail(self.svc.log_file, lines)

    def wait_healthy(self) -> tuple[bool, str]:
        deadline = time.monotonic() + self.svc.restart_timeout
        ok, detail = self.healthy()
        while not ok and time.monotonic() < deadline:
            time.sleep(POLL_S)  # a condition poll with a deadline, not a fixed wait
            ok, detail = self.healthy()
        return ok, detail


class CommandBackend(Backend):
    """A plain process started detached, its pid recorded so any later node process can stop it."""

    # Processes this node started, so their exit is reaped (a zombie would look alive to kill(pid, 0)).
    _children: ClassVar[dict[int, subprocess.Popen[bytes]]] = {}

    @property
    def pid_file(self) -> Path:
        return self.ws.state_dir / "services" / f"{self.svc.name}.pid"

    def _pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def running(self) -> bool:
        pid = self._pid()
        if pid is None:
            return False
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None  # our own child: poll() also reaps it, so no zombie looks alive
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # Another process's dead child (`healloop up` started it, this node stopped it) is a zombie
        # until its parent reaps it; kill(pid, 0) cannot tell, /proc can.
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        return state != "Z"

    def stop(self) -> None:
        if self.svc.stop:
            proc.run(self.svc.stop, cwd=self.svc.cwd or self.ws.root, timeout=self.svc.restart_timeout)
        pid = self._pid()
        if pid is not None and self.running():
            proc.kill_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while self.running() and time.monotonic() < deadline:
                time.sleep(POLL_S)
            proc.kill_group(pid, signal.SIGKILL)
        child = self._children.pop(pid, None) if pid is not None else None
        if child is not None:
            child.wait(timeout=5)
        self.pid_file.unlink(missing_ok=True)

    def start(self, *, tied: bool = False) -> None:
        """``tied``: the service gets SIGTERM when the process that starts it dies, even by SIGKILL
        (`healloop up`'s own copies). A copy the node restarts is not tied: it outlives a node restart,
        and `up` stops it by its pid file."""
        log = self.svc.log_file or self.ws.state_dir / "services" / f"{self.svc.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            try:
                child = subprocess.Popen(
                    list(self.svc.start),
                    cwd=self.svc.cwd or self.ws.root,
                    env=service_env(self.svc),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # survives the node; stopped as a group
                    preexec_fn=proc.die_with_parent if tied else None,
                )
            except FileNotFoundError:
                raise Conflict(
                    f"service {self.svc.name!r}: start command {self.svc.start[0]!r} not found"
                ) from None
        self._children[child.pid] = child
        self.pid_file.write_text(str(child.pid))

    def logs(self, lines: int) -> str:
        return _tail(self.svc.log_file or self.ws.state_dir / "services" / f"{self.svc.name}.log", lines)


class SystemdBackend(Backend):
    def _ctl(self, *args: str) -> proc.ProcResult:
        return proc.run(
            ["systemctl", *args, self.svc.unit or ""], cwd=self.ws.root, timeout=self.svc.restart_timeout
        )

    def check(self) -> tuple[bool, str]:
        if shutil.which("systemctl") is None:
            return False, "systemctl is not on PATH: this machine does not run systemd"
        return True, f"systemd unit {self.svc.unit}"

    def running(self) -> bool:
        return self._ctl("is-active", "--quiet").exit_code == 0

    def stop(self) -> None:
        self._ctl("stop")

    def start(self) -> None:
        result = self._ctl("start")
        if result.exit_code != 0:
            raise Conflict(f"systemctl start {self.svc.unit} failed: {result.tail(500)}")

    def logs(self, lines: int) -> str:
        if self.svc.log_file:
            return super().logs(lines)
        argv = ["journalctl", "-u", self.svc.unit or "", "-n", str(lines), "--no-pager"]
        return proc.run(argv, cwd=self.ws.root, timeout=30).output


class DockerBackend(Backend):
    def _container(self) -> Any:
        try:
            import docker  # optional: only nodes with Docker services need it
        except ImportError:
            raise Unavailable(
                "the 'docker' package is not installed: pip install 'healloop[docker]'") from None
        try:
            return docker.from_env().containers.get(self.svc.container)
        except docker.errors.NotFound:
            raise NotFound(f"no Docker container named {self.svc.container!r}") from None
        except docker.errors.DockerException as exc:
            raise Unavailable(f"Docker Engine is not reachable: {exc}") from None

    def check(self) -> tuple[bool, str]:
        try:
            self._container()
        except (Unavailable, NotFound) as exc:
            return False, exc.message
        return True, f"docker container {self.svc.container}"

    def running(self) -> bool:
        container = self._container()
        container.reload()
        return container.status == "running"

    def stop(self) -> None:
        self._container().stop(timeout=int(self.svc.restart_timeout))

    def start(self) -> None:
        self._container().start()

    def logs(self, lines: int) -> str:
        return self._container().logs(tail=lines).decode("utf-8", "replace")


BACKENDS: dict[str, type[Backend]] = {
    "command": CommandBackend,
    "systemd": SystemdBackend,
    "docker": DockerBackend,
}


class RestartLimiter:
    """At most ``limit`` restarts of one service per rolling hour, remembered in the state dir."""

    def __init__(self, ws: Workspace, limit: int) -> None:
        self.ws, self.limit = ws, limit

    def claim(self, name: str, now: float) -> int:
        path = self.ws.state_dir / "services" / f"{name}.restarts.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.ws.lock(f"restarts:{name}"):
            try:
                stamps = [t for t in json.loads(path.read_text()) if now - t < HOUR]
            except (FileNotFoundError, ValueError):
                stamps = []
            if len(stamps) >= self.limit:
                wait = int(HOUR - (now - min(stamps))) + 1
                raise Conflict(
                    f"service {name!r} was restarted {len(stamps)} times in the last hour (limit"
                    f" {self.limit}); the next restart is allowed in {wait} s. Restarting again will not fix"
                    " it: read service_logs and fix the cause."
                )
            # Counted before the attempt, so failed restarts count too: a crash loop cannot dodge the cap.
            stamps.append(now)
            self.ws.atomic_write(path, json.dumps(stamps).encode())
        return self.limit - len(stamps)


class Services:
    def __init__(self, ws: Workspace, services: dict[str, ServiceConfig], restarts_per_hour: int) -> None:
        self.ws = ws
        self.backends = {name: BACKENDS[svc.backend](svc, ws) for name, svc in services.items()}
        self.limiter = RestartLimiter(ws, restarts_per_hour)

    def get(self, name: str) -> Backend:
        try:
            return self.backends[name]
        except KeyError:
            known = ", ".join(sorted(self.backends)) or "none configured"
            raise NotOnAllowList(
                f"no service named {name!r}; services on this node: {known}", field="name"
            ) from None

    def status(self, name: str) -> dict[str, Any]:
        backend = self.get(name)
        running = backend.running()
        healthy, detail = backend.healthy() if running else (False, "not running")
        return {
            "name": name,
            "backend": backend.svc.backend,
            "running": running,
            "healthy": healthy,
            "detail": detail,
        }

    def restart(self, name: str, now: float | None = None) -> dict[str, Any]:
        backend = self.get(name)
        left = self.limiter.claim(name, time.time() if now is None else now)
        started = time.monotonic()
        with self.ws.lock(f"service:{name}"):
            backend.stop()
            backend.start()
            healthy, detail = backend.wait_healthy()
        if not healthy:
            raise Unavailable(
                f"service {name!r} restarted but is not healthy after {backend.svc.restart_timeout} s"
                f" ({detail});"
                " read service_logs"
            )
        return {
            "name": name,
            "healthy": True,
            "detail": detail,
            "duration_s": round(time.monotonic() - started, 3),
            "restarts_left_this_hour": left,
        }

    def logs(self, name: str, lines: int = 100) -> dict[str, Any]:
        if not 1 <= lines <= 5000:
            raise InvalidInput(f"`lines` must be 1-5000, got {lines}", field="lines")
        return {"name": name, "lines": lines, "text": self.get(name).logs(lines)}
