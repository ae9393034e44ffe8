"""Test runner adapters: how this node reruns exactly one test.

Each adapter turns (spec, test) into an argv (never a shell line) and reports with ``check()`` whether
its program is on this machine. Runs go one at a time per node: a cross-process lock is held for the
whole run, so two agents asking at once queue instead of fighting over the browser or the ports.

A rerun runs in ``[node.runner] cwd`` (default: the workspace) with the project's own toolchain:
``python`` (its venv's interpreter) runs pytest, and a ``command`` such as
``node_modules/.bin/playwright`` is found relative to that folder. Its environment is explicit
(``rerun_env``): the node's own, the venv first on PATH, ``[node.runner] env`` over that, and
``HEALLOOP_REPORT=off``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from healloop.errors import InvalidInput
from healloop.node import proc
from healloop.node.config import RunnerConfig
from healloop.node.workspace import Workspace

_PYTEST_FAIL = re.compile(r"^(E\s+.+|FAILED .+|ERROR .+)$", re.MULTILINE)
_GENERIC_FAIL = re.compile(r"^.*(Error|error|failed|FAILED|AssertionError|expected).*$", re.MULTILINE)


def rerun_env(config: RunnerConfig, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of one rerun: ``base`` (the node's own) without healloop's HEALLOOP_* settings
    (the node's tokens are not the tests' business), the project's venv first on PATH with VIRTUAL_ENV
    set when ``python`` is configured (so tools the tests start are the project's too), then
    ``[node.runner] env``, and HEALLOOP_REPORT=off: the agent reads the rerun's result itself, and a
    reporter in the project would count it again."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("HEALLOOP_")}
    if config.python is not None:
        # Not resolved: a venv's python is a symlink to the system one, and its bin is what counts.
        bin_dir = config.python.parent
        env["PATH"] = os.pathsep.join([str(bin_dir), *filter(None, [env.get("PATH")])])
        if (bin_dir.parent / "pyvenv.cfg").is_file():
            env["VIRTUAL_ENV"] = str(bin_dir.parent)
    env.update(config.env)
    env["HEALLOOP_REPORT"] = "off"
    return env


class Runner:
    name = "base"
    default_prefix: tuple[str, ...] = ()

    def __init__(self, config: RunnerConfig) -> None:
        self.config = config
        self.prefix = config.command or self.default_prefix

    def argv(self, spec: str, test: str) -> list[str]:
        raise NotImplementedError

    def program(self, cwd: Path) -> str | None:
        """The full path of the program the rerun starts, or None when it is not there. A relative
        program with a slash (node_modules/.bin/playwright) is found from the runner's folder."""
        program = self.prefix[0]
        if os.sep in program:
            path = cwd / program
            return str(path) if path.is_file() and os.access(path, os.X_OK) else None
        return shutil.which(program, path=rerun_env(self.config).get("PATH"))

    def check(self, cwd: Path | None = None) -> tuple[bool, str]:
        folder = cwd or self.config.cwd or Path.cwd()
        if self.program(folder) is None:
            return False, (f"{self.prefix[0]!r} is not on PATH or in {folder}; install it or set "
                           "node.runner.command (node.runner.python for pytest)")
        return True, f"{self.name}: {' '.join(self.prefix)}"

    def failure_message(self, output: str) -> str | None:
        lines = _GENERIC_FAIL.findall(output)
        return "\n".join(lines[-5:]) if lines else None


class PytestRunner(Runner):
    name = "pytest"
    default_prefix = (sys.executable, "-m", "pytest")

    def __init__(self, config: RunnerConfig) -> None:
        super().__init__(config)
        if not config.command and config.python is not None:
            self.prefix = (str(config.python), "-m", "pytest")

    def argv(self, spec: str, test: str) -> list[str]:
        return [*self.prefix, "-q", "-p", "no:cacheprovider", f"{spec}::{test}"]

    def failure_message(self, output: str) -> str | None:
        lines = [m.group(0) for m in _PYTEST_FAIL.finditer(output)]
        return "\n".join(lines[-10:]) if lines else super().failure_message(output)


class PlaywrightRunner(Runner):
    name = "playwright"
    default_prefix = ("npx", "playwright", "test")

    def argv(self, spec: str, test: str) -> list[str]:
        # Reporters name a test by its title path joined with " > "; Playwright's --grep matches the
        # title path joined with spaces. A title may itself hold " > " (describe('admin > users')), so
        # each " > " matches either a join or itself.
        pattern = "(?: > | )".join(re.escape(part) for part in test.split(" > "))
        return [*self.prefix, spec, "-g", pattern]

    def failure_message(self, output: str) -> str | None:
        if "No tests found" in output:
            return "no test matched the name: Playwright found no tests to run (No tests found)"
        return super().failure_message(output)


class CypressRunner(Runner):
    name = "cypress"
    default_prefix = ("npx", "cypress", "run")

    def argv(self, spec: str, test: str) -> list[str]:
        # `grep` is read by @cypress/grep, the usual way to pick one test by title.
        return [*self.prefix, "--spec", spec, "--env", f"grep={test}"]


class CommandRunner(Runner):
    name = "command"

    def argv(self, spec: str, test: str) -> list[str]:
        # Substituted per argument after splitting, so a test title can never become extra arguments.
        return [part.replace("{spec}", spec).replace("{test}", test) for part in self.prefix]


RUNNERS: dict[str, type[Runner]] = {
    r.name: r for r in (PytestRunner, PlaywrightRunner, CypressRunner, CommandRunner)
}


def make_runner(config: RunnerConfig) -> Runner:
    return RUNNERS[config.kind](config)


def run_test(
    ws: Workspace, runner: Runner, spec: str, test: str, timeout: float | None = None
) -> dict[str, Any]:
    spec_path = ws.resolve(spec, what="spec")
    cwd = runner.config.cwd or ws.root
    if not test or test.startswith("-") or "\x00" in test or "\n" in test:
        raise InvalidInput(
            f"`test` must be a test name or title not starting with '-', got {test!r}", field="test"
        )
    limit = timeout or runner.config.timeout
    if limit <= 0 or limit > runner.config.timeout:
        raise InvalidInput(
            f"`timeout` must be between 0 and the node's limit of {runner.config.timeout} s, got {timeout}",
            field="timeout",
        )
    argv = runner.argv(os.path.relpath(spec_path, cwd), test)
    with ws.lock("run_test"):
        result = proc.run(argv, cwd=cwd, timeout=limit, env=rerun_env(runner.config))
    passed = result.exit_code == 0 and not result.timed_out
    failure = None
    if result.timed_out:
        failure = f"timed out after {limit} s; the process group was killed"
    elif not passed:
        failure = runner.failure_message(result.output) or f"exit code {result.exit_code}"
    return {
        "spec": ws.relative(spec_path),
        "test": test,
        "status": "passed" if passed else "failed",
        "passed": passed,
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "duration_s": round(result.duration_s, 3),
        "failure_message": failure,
        "output_tail": result.tail(),
        "command": argv,
    }
