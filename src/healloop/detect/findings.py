"""What ``healloop.detect`` finds: typed, frozen, relative to the repository root."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Suite:
    kind: str                  # cypress | playwright | pytest
    cwd: str                   # the runner's folder, relative to the root: "." or "apps/web"
    evidence: str              # why, as a sentence: "tests/conftest.py and 4 test_*.py files under tests/"
    config: str | None = None  # the config file that names the runner; None when inferred from test files

    @property
    def depth(self) -> int:
        return 0 if self.cwd == "." else len(self.cwd.split("/"))


@dataclass(frozen=True)
class Toolchain:
    """How the project's own tools run its tests: its Python, or its node_modules' runner."""

    python: str | None = None          # the project's interpreter, relative to the root when inside it
    command: tuple[str, ...] = ()      # a Node runner's argv prefix, its program relative to the runner's cwd
    evidence: str = ""                 # where it was found
    fix: str | None = None             # when missing: what is missing and the command that fixes it


@dataclass(frozen=True)
class App:
    name: str                          # the service name: the package's, the compose service's, or "app"
    start: tuple[str, ...]
    cwd: str                           # relative to the root
    health: str                        # http://...
    sure: bool                         # the URL or port is written in the project's files
    source: str                        # where the start command was found
    why: str                           # where the health URL comes from, or why it is a guess
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Detection:
    suite: Suite | None
    also: tuple[Suite, ...]            # other suites found, in the order they lost
    toolchain: Toolchain | None        # the chosen suite's
    python: Toolchain                  # the project's Python (the suite's toolchain for pytest)
    app: App | None
    other_apps: tuple[App, ...]
