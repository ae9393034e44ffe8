"""`pip install healloop` with no extra, in a fresh venv: what a CI machine that only reports gets.

The wheel is built from this checkout and installed with its dependencies from the package index into
a venv without this one's packages; the queue the reporter talks to is a real `healloop serve` from
the test's own full install. One venv per test session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import QueueServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# Distributions only the extras bring; none of them may come with the base install.
EXTRA_ONLY = {"starlette", "uvicorn", "mcp", "pydantic", "lxml", "html5lib", "cssselect", "jinja2",
              "swagger-ui-bundle", "psycopg", "docker", "apprise", "httpx2"}


def _run(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"{done.args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def _env() -> dict[str, str]:
    # No HEALLOOP_* of the outer run, and no PYTHONPATH that could lend the small venv this checkout.
    return {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_") and k != "PYTHONPATH"}


def _pytest(small: Path, suite: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _run(small / "python", "-m", "pytest", "-p", "no:cacheprovider", "test_cart.py",
                cwd=suite, env=env)


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv holding the healloop wheel (no extra) and pytest, the user's own."""
    work = tmp_path_factory.mktemp("base-install")
    # Built from a copy: setuptools' build/ folder in the checkout could hold modules deleted since.
    source = work / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    _ok(_run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "wheel", source))
    (wheel,) = (work / "wheel").glob("healloop-*.whl")
    _ok(_run(sys.executable, "-m", "venv", work / "venv"))
    bin_ = work / "venv" / "bin"
    _ok(_run(bin_ / "python", "-m", "pip", "install", "-q", wheel, "pytest", env=_env()))
    return bin_


def test_the_base_install_brings_no_extra(small: Path) -> None:
    listed = json.loads(_ok(_run(small / "python", "-m", "pip", "list", "--format=json", env=_env())).stdout)
    names = {d["name"].lower().replace("_", "-") for d in listed}
    assert "healloop" in names and "httpx" in names and "click" in names
    assert not names & EXTRA_ONLY, f"the base install pulled in {sorted(names & EXTRA_ONLY)}"
    # and the healloop it imports is the installed wheel, not this checkout
    where = _ok(_run(small / "python", "-c", "import healloop; print(healloop.__file__)", env=_env()))
    assert str(small.parent) in where.stdout


def test_help_and_report_help_work(small: Path) -> None:
    top = _ok(_run(small / "healloop", "--help", env=_env()))
    for command in ("report", "run", "serve", "agent", "mcp", "doctor"):
        assert f"  {command} " in top.stdout or f"  {command}\n" in top.stdout, top.stdout
    report = _ok(_run(small / "healloop", "report", "--help", env=_env()))
    assert "--queue" in report.stdout


def test_plugin_and_cli_load_without_any_extra(small: Path) -> None:
    probe = ("import sys, healloop.sources.pytest_plugin, healloop.cli.main as m; m._add_commands(); "
             "print(sorted({k.split('.')[0] for k in sys.modules}))")
    loaded = set(json.loads(_ok(_run(small / "python", "-c", probe, env=_env())).stdout.replace("'", '"')))
    assert "healloop" in loaded
    assert not loaded & {"starlette", "mcp", "lxml", "uvicorn", "pydantic", "jinja2"}


@pytest.mark.parametrize(("args", "extra"), [
    (["serve", "--db", "events.db"], "queue"),
    (["mcp", "serve"], "node"),
    (["agent"], "agent"),
    (["approve", "ev-1"], "agent"),
])
def test_a_command_of_an_extra_names_it(small: Path, tmp_path: Path, args: list[str], extra: str) -> None:
    done = _run(small / "healloop", *args, cwd=tmp_path, env=_env())
    assert done.returncode != 0
    command = " ".join(["healloop", *(a for a in args if a in {"serve", "mcp", "agent", "approve"})])
    assert f"{command} needs the {extra} extra: pip install 'healloop[{extra}]'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_llm_check_runs_on_the_base_install(small: Path) -> None:
    # A model endpoint can be checked from any machine: no extra, the same client as the planner.
    from tests.agent.llm_servers import Ollama, check_brain

    ollama = Ollama(check_brain)
    try:
        done = _run(small / "healloop", "llm", "check", "--base-url", ollama.url, "--model", "qwen2.5:7b",
                    env=_env())
    finally:
        ollama.close()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK   agent mode: native tool calls (--llm-tools auto)" in done.stdout


def test_a_pytest_run_on_the_base_install_reports_a_failure(
        small: Path, server: QueueServer, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_cart.py").write_text(
        "def test_total():\n    assert 2 + 2 == 5, 'the total is off'\n\n\ndef test_empty():\n    pass\n")
    env = _env() | {"HEALLOOP_URL": server.url, "HEALLOOP_NODE": "ci-small",
                    "HEALLOOP_SPOOL": str(tmp_path / "spool")}
    done = _pytest(small, suite, env)
    assert done.returncode == 1, done.stdout + done.stderr  # the suite's own exit code
    assert f"healloop: 1 failure(s) reported to {server.url}" in done.stdout, done.stdout
    with server.client() as c:
        got = c.get("/v1/events", params={"limit": 100}).json()["events"]
    assert [(e["test"], e["nodes"]) for e in got] == [("test_total", ["ci-small"])]
    assert "the total is off" in got[0]["message"]


def test_a_broken_install_warns_and_leaves_the_users_run_alone(small: Path, tmp_path: Path) -> None:
    # httpx half-removed, as an interrupted upgrade leaves it: importing it fails.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "httpx.py").write_text("raise ImportError('httpx is half installed')\n")
    (tmp_path / "test_cart.py").write_text(
        "def test_total():\n    assert 2 + 2 == 5\n\n\ndef test_ok():\n    pass\n")
    env = _env() | {"HEALLOOP_URL": "http://127.0.0.1:9", "PYTHONPATH": str(shadow),
                    "HEALLOOP_SPOOL": str(tmp_path / "spool")}
    done = _pytest(small, tmp_path, env)
    assert done.returncode == 1, done.stdout + done.stderr  # one test failed: the suite's verdict, no more
    assert "1 failed, 1 passed" in done.stdout
    assert "healloop: failures are not reported, the install is incomplete (httpx is half installed)" \
        in done.stdout
