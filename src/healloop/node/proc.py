"""Run one argv (never a shell) with a deadline, killing its whole process group when time is up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from healloop.errors import InvalidInput

TAIL_CHARS = 8000


@dataclass(frozen=True)
class ProcResult:
    exit_code: int
    output: str
    duration_s: float
    timed_out: bool

    def tail(self, chars: int = TAIL_CHARS) -> str:
        return self.output[-chars:]


def run(
    argv: list[str] | tuple[str, ...], *, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> ProcResult:
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own process group, so a timeout also kills what the command spawned (browsers, servers).
            start_new_session=True,
        )
    except FileNotFoundError:
        raise InvalidInput(
            f"command {argv[0]!r} was not found on this machine's PATH", field="command"
        ) from None
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc.pid)
        out, _ = proc.communicate()
    return ProcResult(proc.returncode, out.decode("utf-8", "replace"), time.monotonic() - started, timed_out)


def die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the process that started it dies, even by SIGKILL,
    so a killed `healloop up` leaves no queue, node, agent or service it started behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
