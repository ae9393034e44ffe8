"""The project's own toolchain: its Python (a venv, poetry's, uv's) or its node_modules' runner."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from healloop.detect.files import chain, is_venv, join, read_toml, subdirs
from healloop.detect.findings import Suite, Toolchain


def _venv_python(venv: Path) -> Path | None:
    for exe in ("bin/python", "Scripts/python.exe"):
        if (venv / exe).is_file():
            return venv / exe     # not resolved: the venv's link is what makes it the venv's Python
    return None


def poetry_env(folder: Path) -> Path | None:
    """``poetry env info -p`` in ``folder``: the project's virtualenv, or None (no poetry, no env)."""
    exe = shutil.which("poetry")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "env", "info", "-p"], cwd=folder, capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = done.stdout.strip()
    return Path(out) if done.returncode == 0 and out else None


def _uses_poetry(folder: Path) -> bool:
    if (folder / "poetry.lock").is_file():
        return True
    tool = read_toml(folder / "pyproject.toml").get("tool", {})
    return isinstance(tool, dict) and "poetry" in tool


def _shown(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def find_python(root: Path, cwd: str = ".", poetry: Callable[[Path], Path | None] = poetry_env) -> Toolchain:
    """The project's Python, nearest the runner's folder first: .venv, venv, any folder holding a
    pyvenv.cfg (``.env``, ``env``), then poetry's env, then uv's (``.venv`` once ``uv sync`` ran)."""
    for folder in chain(cwd):
        d = root / folder
        for name in (".venv", "venv"):
            exe = _venv_python(d / name)
            if exe:
                what = "the virtualenv" if is_venv(d / name) else "the environment"
                return Toolchain(python=_shown(root, exe), evidence=f"{what} {_shown(root, d / name)}")
        for sub in subdirs(d):
            exe = _venv_python(sub) if is_venv(sub) else None
            if exe:
                why = f"the virtualenv {_shown(root, sub)} (it holds a pyvenv.cfg)"
                return Toolchain(python=_shown(root, exe), evidence=why)
    for folder in chain(cwd):
        d = root / folder
        if _uses_poetry(d):
            env = poetry(d)
            exe = _venv_python(env) if env else None
            if exe:
                why = "poetry's virtualenv (`poetry env info -p`)"
                return Toolchain(python=_shown(root, exe), evidence=why)
            return Toolchain(fix="a poetry project without a virtualenv: run `poetry install`"
                             + ("" if folder == "." else f" in {folder}"))
        if (d / "uv.lock").is_file():
            return Toolchain(fix=f"{join(folder, 'uv.lock')} is there but not its .venv: run `uv sync`"
                             + ("" if folder == "." else f" in {folder}"))
    return Toolchain(fix="no project virtualenv found (.venv, venv, poetry, uv): reruns use healloop's own "
                         "Python, so install the test dependencies there, or create .venv and rerun init")


def package_manager(root: Path, cwd: str) -> tuple[str, str]:
    """(the manager named by the nearest lockfile, the folder of that lockfile); npm when none."""
    for folder in chain(cwd):
        for lockfile, manager in (("pnpm-lock.yaml", "pnpm"), ("yarn.lock", "yarn"), ("bun.lockb", "bun"),
                                  ("bun.lock", "bun"), ("package-lock.json", "npm")):
            if (root / folder / lockfile).is_file():
                return manager, folder
    return "npm", cwd


def find_node(root: Path, suite: Suite) -> Toolchain:
    """The nearest ``node_modules/.bin/<runner>`` from the runner's folder up (hoisted monorepos)."""
    verb = "test" if suite.kind == "playwright" else "run"
    for folder in chain(suite.cwd):
        exe = root / folder / "node_modules" / ".bin" / suite.kind
        if exe.exists():
            where = "in the runner's folder" if folder == suite.cwd else \
                "hoisted to the repository root" if folder == "." else f"hoisted to {folder}"
            program = Path(os.path.relpath(exe, root / suite.cwd)).as_posix()
            return Toolchain(command=(program, verb), evidence=f"the project's node_modules, {where}")
    manager, folder = package_manager(root, suite.cwd)
    install = {"npm": "npm ci", "pnpm": "pnpm install", "yarn": "yarn install", "bun": "bun install"}[manager]
    if manager == "npm" and not (root / folder / "package-lock.json").is_file():
        install = "npm install"
    where = "" if folder == "." else f" in {folder}"
    return Toolchain(command=("npx", suite.kind, verb), evidence="npx",
                     fix=f"the project's node_modules were not found: run `{install}`{where}")
