"""Where the suite is: each runner's config file, or pytest's conftest.py and test files."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from healloop.detect.files import (
    JS_EXTS,
    files_under,
    join,
    packages,
    read,
    read_ini,
    read_toml,
    rel,
    strip_js_comments,
    walk,
)
from healloop.detect.findings import Suite

KINDS = ("cypress", "playwright", "pytest")
TEST_DIRS = ("tests", "test", "e2e")


def _count(files: list[Path], label: Callable[[str], str | None]) -> str:
    """"4 test_*.py files" or "5 test files (*.spec.ts, *.test.js)"; "" when none."""
    labels: dict[str, int] = {}
    for f in files:
        name = label(f.name)
        if name:
            labels[name] = labels.get(name, 0) + 1
    total = sum(labels.values())
    if not total:
        return ""
    if len(labels) == 1:
        (name,) = labels
        return f"{total} {name} file" + ("s" if total > 1 else "")
    return f"{total} test files ({', '.join(sorted(labels))})"


def _py_test(name: str) -> str | None:
    if not name.endswith(".py"):
        return None
    return "test_*.py" if name.startswith("test_") else "*_test.py" if name.endswith("_test.py") else None


def _js_test(pattern: str) -> Callable[[str], str | None]:
    """Labels for files named like ``x.<pattern>.<ext>``: "*.spec.ts", "*.cy.js"."""
    regex = re.compile(rf"\.({pattern})\.([cm]?[jt]sx?)$")

    def label(name: str) -> str | None:
        m = regex.search(name)
        return f"*.{m.group(1)}.{m.group(2)}" if m else None

    return label


def _under(root: Path, folder: str, sub: str, label: Callable[[str], str | None]) -> str:
    """"3 *.spec.ts files under apps/web/e2e/", or "" when there are none."""
    path = root / folder / sub
    if not path.is_dir():
        return ""
    counted = _count(list(files_under(path)), label)
    if not counted:
        return ""
    where = folder if sub == "." else join(folder, sub)
    return f"{counted} under " + ("the root" if where == "." else f"{where}/")


def _with(first: str, counts: list[str]) -> str:
    counts = [c for c in counts if c]
    return f"{first} and {', '.join(counts)}" if counts else first


def _js_suites(root: Path, folder: str) -> list[Suite]:
    suites = []
    for ext in JS_EXTS:
        name = join(folder, f"cypress.config.{ext}")
        if (root / name).is_file():
            specs = _under(root, folder, "cypress", _js_test("cy"))
            suites.append(Suite("cypress", folder, _with(name, [specs]), name))
            break
    else:
        if (root / folder / "cypress.json").is_file():       # Cypress before 10
            name = join(folder, "cypress.json")
            suites.append(Suite("cypress", folder, _with(name, [_under(root, folder, "cypress", _js_test(
                "cy|spec"))]), name))
    for ext in JS_EXTS:
        name = join(folder, f"playwright.config.{ext}")
        if (root / name).is_file():
            text = strip_js_comments(read(root / name) or "")
            m = re.search(r"\btestDir\s*:\s*['\"`]([^'\"`]+)['\"`]", text)
            test_dir = os.path.normpath(re.sub(r"^\$\{__dirname\}/?", "", m.group(1) if m else "."))
            specs = "" if test_dir.startswith(("..", "$", "/")) else \
                _under(root, folder, test_dir.replace(os.sep, "/"), _js_test("spec|test"))
            suites.append(Suite("playwright", folder, _with(name, [specs]), name))
            break
    return suites


def _pytest_config(root: Path, folder: str) -> tuple[str, list[str]] | None:
    """(the file and table that configure pytest here, its testpaths), in pytest's own order."""
    d = root / folder
    for name in ("pytest.ini", ".pytest.ini"):
        if (d / name).is_file():
            section = read_ini(d / name, "pytest") or {}
            return name, section.get("testpaths", "").split()
    tool = read_toml(d / "pyproject.toml").get("tool", {})
    pytest_table = tool.get("pytest") if isinstance(tool, dict) else None
    if isinstance(pytest_table, dict):
        options = pytest_table.get("ini_options")
        table = "[tool.pytest.ini_options]" if isinstance(options, dict) else "[tool.pytest]"
        options = options if isinstance(options, dict) else pytest_table
        paths = options.get("testpaths", [])
        paths = paths.split() if isinstance(paths, str) else [p for p in paths if isinstance(p, str)]
        return f"pyproject.toml {table}", paths
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        found = read_ini(d / name, section) if (d / name).is_file() else None
        if found is not None:
            return f"{name} [{section}]", found.get("testpaths", "").split()
    return None


def _pytest_suites(root: Path, folder: str, project: bool) -> list[Suite]:
    """An explicit pytest config in ``folder``; else, in a project folder, conftest.py and test files."""
    config = _pytest_config(root, folder)
    if config:
        where, testpaths = config
        name = join(folder, where)
        counts = [_under(root, folder, p.strip("/") or ".", _py_test) for p in testpaths if ".." not in p]
        if testpaths:
            name += f" (testpaths = {' '.join(testpaths)})"
        return [Suite("pytest", folder, _with(name, counts), join(folder, where.split()[0]))]
    if not project:
        return []
    conftests = [join(folder, "conftest.py")] if (root / folder / "conftest.py").is_file() else []
    counts = []
    for sub in TEST_DIRS:
        if (root / folder / sub).is_dir():
            files = list(files_under(root / folder / sub))
            conftests += [rel(root, f) for f in files if f.name == "conftest.py"]
            counted = _count(files, _py_test)
            counts.append(f"{counted} under {join(folder, sub)}/" if counted else "")
    if not conftests and not any(counts):
        return []
    if conftests == [join(folder, "conftest.py")] and not any(counts):
        where = "the root" if folder == "." else folder
        return [Suite("pytest", folder, f"conftest.py at {where}")]
    shown = ", ".join(conftests[:3]) + (f" and {len(conftests) - 3} more" if conftests[3:] else "")
    counts = [c for c in counts if c]
    evidence = _with(shown, counts) if shown else ", ".join(counts)
    return [Suite("pytest", folder, evidence)]


def find_suites(root: Path) -> list[Suite]:
    """Every suite found, best first.

    The order: a suite named by a config file (cypress.config.*, playwright.config.*, a pytest ini table)
    beats one inferred from conftest.py and test_*.py files, since the runner itself reads that file;
    then the shallowest folder wins (the repository's own suite over a package's or an example's); then
    Cypress, Playwright, pytest, as `init` always chose at the root; then the folder's name, so the
    answer never depends on the order the file system lists folders in.
    """
    listed = packages(root)
    folders = list(dict.fromkeys([*walk(root), *listed]))
    # Inferred pytest suites only where a Python project lives, so tests/ itself is not a second one.
    markers = ("pyproject.toml", "setup.py", "setup.cfg")
    projects = {".", *listed} | {f for f in folders if any((root / f / n).is_file() for n in markers)}
    suites: list[Suite] = []
    for folder in folders:
        found = _js_suites(root, folder) + _pytest_suites(root, folder, folder in projects)
        if folder in listed:
            found = [Suite(s.kind, s.cwd, f"{s.evidence} ({folder} is {listed[folder]})", s.config)
                     for s in found]
        suites += found
    return sorted(suites, key=lambda s: (s.config is None, s.depth, KINDS.index(s.kind), s.cwd))
