"""What every check uses: findings, the shared ``Setup``, the registry and read-only helpers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healloop.errors import HealloopError
from healloop.node import proc
from healloop.node.config import NodeConfig, RunnerConfig
from healloop.stack import StackSettings

LEVELS = ("ok", "warn", "fail", "skip")
COLLECT_TIMEOUT_S = 60.0
HTTP_TIMEOUT_S = 3.0
JS_CONFIG_EXTS = ("ts", "js", "mjs", "cjs", "mts", "cts")


@dataclass(frozen=True)
class Finding:
    name: str
    level: str  # ok | warn | fail | skip
    message: str
    fix: str | None = None


def ok(name: str, message: str) -> Finding:
    return Finding(name, "ok", message)


def warn(name: str, message: str, fix: str | None = None) -> Finding:
    return Finding(name, "warn", message, fix)


def fail(name: str, message: str, fix: str | None = None) -> Finding:
    return Finding(name, "fail", message, fix)


@dataclass
class Setup:
    """What the checks share: the config file and, once the config check passed, what it holds."""

    path: Path
    settings: StackSettings | None = None
    node_config: NodeConfig | None = None
    nodes: list[dict[str, Any]] | None = None  # GET /v1/nodes, when the queue answered
    git_root: Path | None = None

    @property
    def node(self) -> NodeConfig:
        assert self.node_config is not None, "the config check runs first"
        return self.node_config

    @property
    def stack(self) -> StackSettings:
        assert self.settings is not None, "the config check runs first"
        return self.settings

    @property
    def folder(self) -> Path:
        """Where reruns run: ``[node.runner] cwd``, else the workspace."""
        return self.node.runner.cwd or self.node.workspace

    def env(self) -> dict[str, str]:
        """The environment of a collection or an import check: a rerun's, writing no bytecode."""
        from healloop.node.runners import rerun_env

        return rerun_env(self.node.runner) | {"PYTHONDONTWRITEBYTECODE": "1"}


Check = Callable[[Setup], Iterable[Finding]]


@dataclass(frozen=True)
class Registered:
    name: str
    needs: tuple[str, ...]
    unmet: str  # what its failure means to the checks that need it
    run: Check


CHECKS: list[Registered] = []


def check(name: str, needs: tuple[str, ...] = ("config",), unmet: str = "") -> Callable[[Check], Check]:
    """Register a check; it is skipped when a check it ``needs`` failed or was skipped, with ``unmet``
    (default "<name> failed") as the reason."""

    def add(fn: Check) -> Check:
        CHECKS.append(Registered(name, needs, unmet or f"{name} failed", fn))
        return fn

    return add


def run_checks(config: Path) -> list[Finding]:
    setup = Setup(config)
    findings: list[Finding] = []
    blocked: dict[str, str] = {}  # check name -> why its dependents are not run
    for registered in CHECKS:
        why = next((blocked[n] for n in registered.needs if n in blocked), None)
        if why is not None:
            findings.append(Finding(registered.name, "skip", f"not checked: {why}"))
            blocked[registered.name] = why
            continue
        found = list(registered.run(setup))
        findings += found
        if any(f.level == "fail" for f in found):
            blocked[registered.name] = registered.unmet
    return findings


def blocks_the_loop(findings: Iterable[Finding]) -> bool:
    return any(f.level == "fail" for f in findings)


def line(f: Finding) -> str:
    tag = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}[f.level]
    fix = f" — fix: {f.fix}" if f.fix and f.level in ("warn", "fail") else ""
    return f"{tag} {f.name}: {f.message}{fix}"


def summary(findings: list[Finding]) -> str:
    counts = {level: sum(f.level == level for f in findings) for level in LEVELS}
    def n(count: int, word: str) -> str:
        return f"{count} {word}" + ("" if count == 1 else "s")

    text = f"{counts['ok']} ok, {n(counts['warn'], 'warning')}, {n(counts['fail'], 'failure')}"
    if counts["skip"]:
        text += f", {counts['skip']} not checked"
    verdict = "the loop cannot work until the failures are fixed" if counts["fail"] else "ready"
    return f"doctor: {text}; {verdict}"


def as_json(findings: list[Finding]) -> str:
    body = {"ok": not blocks_the_loop(findings), "summary": summary(findings),
            "findings": [{"name": f.name, "level": f.level, "message": f.message, "fix": f.fix}
                         for f in findings]}
    return json.dumps(body, indent=2)


# -- read-only helpers

def last_error(output: str) -> str:
    """The line of a failed run that says why: pytest's last ``E`` line, else the last line naming an
    error, else the last line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for pattern in (r"^E\s+(.+)$", r"^(ERROR .+)$", r"^(.*Error.*)$"):
        found = [m.group(1) for ln in lines if (m := re.match(pattern, ln))]
        if found:
            return found[-1][:300]
    return lines[-1][:300] if lines else "no output"


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = COLLECT_TIMEOUT_S
         ) -> proc.ProcResult | str:
    """Run ``argv``; the result, or why it could not start."""
    try:
        return proc.run(argv, cwd=cwd, timeout=timeout, env=env)
    except HealloopError as exc:
        return exc.message
    except OSError as exc:
        return f"{argv[0]}: {exc.strerror}"


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # GIT_OPTIONAL_LOCKS=0: `git status` does not refresh (write) the index.
    env = os.environ | {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, env=env,
                          timeout=30, check=False)


def node_bin(setup: Setup, program: str) -> Path | None:
    """``node_modules/.bin/<program>`` in the runner folder or a folder above it up to the workspace
    (npm workspaces hoist to the root), as ``npx`` would find it without downloading."""
    folder = setup.folder
    while True:
        candidate = folder / "node_modules" / ".bin" / program
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        if folder == setup.node.workspace or folder.parent == folder:
            return None
        folder = folder.parent


def project_python(runner: RunnerConfig) -> str | None:
    """The interpreter that runs the project's pytest: ``python``, a ``<python> -m pytest`` command, or
    healloop's own; None when the command hides it (``poetry run pytest``)."""
    if runner.command:
        first = runner.command[0]
        if Path(first).name.startswith("python") and list(runner.command[1:3]) == ["-m", "pytest"]:
            return first
        return None
    return str(runner.python) if runner.python else sys.executable


def writable(path: Path) -> tuple[bool, Path]:
    """Whether ``path`` is writable, or for a folder not made yet, whether its nearest existing parent
    is (nothing is created to find out)."""
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return os.access(probe, os.W_OK | os.X_OK), probe


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
