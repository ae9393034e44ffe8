"""What ``healloop init`` can tell about a project from its files: the suite, its toolchain and its app.

Reads only: nothing is written, nothing leaves the machine, no project code runs (a Playwright config
is JavaScript; it is read with regular expressions, never executed). The one process it may start is
``poetry env info -p``, when ``poetry`` is on PATH and the project uses it; ``detect`` takes it as an
argument so tests pass their own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from healloop.detect.app import find_apps
from healloop.detect.findings import App, Detection, Suite, Toolchain
from healloop.detect.suite import find_suites
from healloop.detect.toolchain import find_node, find_python, poetry_env

__all__ = ["App", "Detection", "Suite", "Toolchain", "detect", "poetry_env"]


def detect(root: Path, *, poetry: Callable[[Path], Path | None] = poetry_env) -> Detection:
    """The suite ``healloop init`` configures, the others it found, their toolchain and the app."""
    root = root.resolve()
    suites = find_suites(root)
    suite = suites[0] if suites else None
    cwd = suite.cwd if suite else "."
    python = find_python(root, cwd, poetry)
    toolchain = None
    if suite:
        toolchain = python if suite.kind == "pytest" else find_node(root, suite)
    configs = [s.config for s in suites if s.kind == "playwright" and s.config]
    apps = find_apps(root, cwd, configs, python.python)
    return Detection(suite, tuple(suites[1:]), toolchain, python, apps[0] if apps else None, tuple(apps[1:]))
