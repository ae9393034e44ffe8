"""How each runner adapter turns (spec, test) into one argv."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from healloop.node.config import RunnerConfig
from healloop.node.runners import make_runner, rerun_env, run_test
from healloop.node.workspace import Workspace


def test_playwright_grep_matches_the_title_path_the_reporter_sends() -> None:
    runner = make_runner(RunnerConfig(kind="playwright"))
    argv = runner.argv("e2e/checkout.spec.js", "checkout > shows the total")
    assert argv[:4] == ["npx", "playwright", "test", "e2e/checkout.spec.js"]
    assert argv[4] == "-g"
    # Playwright matches --grep against the title path joined with spaces (file name first).
    assert re.search(argv[5], "checkout.spec.js checkout shows the total")


def test_playwright_grep_keeps_a_title_that_holds_the_separator() -> None:
    runner = make_runner(RunnerConfig(kind="playwright"))
    # describe('admin > users') + test('deletes a user'): the reporter sends one " > " more.
    argv = runner.argv("e2e/admin/users.spec.js", "admin > users > deletes a user")
    assert re.search(argv[5], "users.spec.js admin > users deletes a user")
    assert not re.search(argv[5], "users.spec.js admin > users edits a user")
    assert runner.failure_message("Error: No tests found.\n") == (
        "no test matched the name: Playwright found no tests to run (No tests found)")


def _project_venv(root: Path) -> Path:
    """A real venv for the project, holding a package healloop's own interpreter does not have, and
    pytest reached through a .pth file (no index to install from in a test)."""
    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "only_in_the_project.py").write_text("VALUE = 42\n")
    pytest_home = Path(pytest.__file__).resolve().parents[1]
    (site / "tests-tools.pth").write_text(f"{pytest_home}\n")
    return venv / "bin" / "python"


def test_reruns_use_the_projects_python_folder_and_an_explicit_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 11, items 4 and 5: a project whose tests import what only its own venv has passes its rerun
    with `python` set and fails with healloop's interpreter; `cwd` is the runner's folder, and the rerun
    sees `[node.runner] env` but none of healloop's own HEALLOOP_* settings."""
    pkg = tmp_path / "apps" / "api"
    (pkg / "tests").mkdir(parents=True)
    (pkg / "tests" / "test_dep.py").write_text(textwrap.dedent("""
        import os, sys
        import only_in_the_project

        def test_uses_the_project():
            assert only_in_the_project.VALUE == 42
            assert os.getcwd().endswith("apps/api")
            assert os.environ["APP_URL"] == "http://127.0.0.1:5000"
            assert os.environ["HEALLOOP_REPORT"] == "off"
            assert "HEALLOOP_TOKEN" not in os.environ
            assert sys.prefix == os.environ["VIRTUAL_ENV"]
    """))
    python = _project_venv(tmp_path)
    monkeypatch.setenv("HEALLOOP_TOKEN", "secret-of-the-node")
    ws = Workspace(tmp_path, tmp_path / "state")
    spec, test = "apps/api/tests/test_dep.py", "test_uses_the_project"
    # The .pth reaches healloop's site-packages, whose entry points name a plugin this venv cannot import.
    quiet = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    own = RunnerConfig(kind="pytest", python=python, cwd=pkg,
                       env={"APP_URL": "http://127.0.0.1:5000", **quiet})
    result = run_test(ws, make_runner(own), spec, test)
    assert result["passed"], result["output_tail"]
    assert result["command"][:3] == [str(python), "-m", "pytest"] and result["command"][-1] == (
        "tests/test_dep.py::test_uses_the_project")
    ours = run_test(ws, make_runner(RunnerConfig(kind="pytest", cwd=pkg, env=quiet)), spec, test)
    assert not ours["passed"] and "only_in_the_project" in ours["output_tail"]


def test_rerun_env_puts_the_venv_first_and_env_last() -> None:
    config = RunnerConfig(kind="pytest", python=Path("/p/.venv/bin/python"), env={"PATH": "/only"})
    assert rerun_env(config, {"PATH": "/usr/bin", "HEALLOOP_URL": "x"})["PATH"] == "/only"
    env = rerun_env(RunnerConfig(kind="pytest", python=Path("/p/.venv/bin/python")),
                    {"PATH": "/usr/bin", "HEALLOOP_URL": "x", "HOME": "/h"})
    assert env == {"PATH": "/p/.venv/bin:/usr/bin", "HOME": "/h", "HEALLOOP_REPORT": "off"}


def test_a_node_modules_program_is_found_from_the_runner_folder(tmp_path: Path) -> None:
    runner = make_runner(RunnerConfig(kind="playwright", command=("node_modules/.bin/playwright", "test"),
                                      cwd=tmp_path))
    ok, why = runner.check()
    assert not ok and "node_modules/.bin/playwright" in why
    bin_dir = tmp_path / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "playwright").write_text("#!/bin/sh\n")
    (bin_dir / "playwright").chmod(0o755)
    assert runner.check() == (True, "playwright: node_modules/.bin/playwright test")
