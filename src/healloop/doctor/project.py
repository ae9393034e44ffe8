"""The project's side: config, the runner and a collection of its suite, its Python, its reporters."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from healloop.doctor.core import (
    COLLECT_TIMEOUT_S,
    JS_CONFIG_EXTS,
    Finding,
    Setup,
    check,
    fail,
    last_error,
    node_bin,
    ok,
    project_python,
    run,
    warn,
)
from healloop.errors import HealloopError
from healloop.node import proc

JS_REPORTERS = {"playwright": "healloop-playwright", "cypress": "healloop-cypress"}


@check("config", needs=(), unmet="no valid config")
def check_config(setup: Setup) -> Iterator[Finding]:
    from healloop.node.config import load_config
    from healloop.stack import load_settings

    try:
        setup.settings = load_settings(setup.path)
        # The state dir `healloop up` gives the node, so pid files are found where `up` wrote them.
        setup.node_config = load_config(setup.path, state_dir=setup.settings.data_dir / "node")
    except HealloopError as exc:
        fix = (f"edit {setup.path} (docs/node.md lists every key)" if setup.path.exists()
               else "run `healloop init` in the project, or pass --config")
        yield fail("config", exc.message, fix)
        return
    node = setup.node
    services = f", {len(node.services)} service(s)" if node.services else ""
    yield ok("config", f"{setup.path} is valid: runner {node.runner.kind}{services}, "
                       f"workspace {node.workspace}")


@check("runner", unmet="the runner is not there")
def check_runner(setup: Setup) -> Iterator[Finding]:
    from healloop.node.runners import make_runner

    runner = make_runner(setup.node.runner)
    found, why = runner.check(setup.folder)
    if not found:
        yield fail("runner", why, "install the runner in the project or set node.runner.command")
        return
    prefix = runner.prefix
    if prefix[0] == "npx" and len(prefix) > 1 and node_bin(setup, prefix[1]) is None:
        yield fail("runner", f"`npx {prefix[1]}` finds no node_modules/.bin/{prefix[1]} in {setup.folder}: "
                             "every rerun would try to download it",
                   f"npm install in {setup.folder} (or set node.runner.command)")
        return
    yield ok("runner", f"{why} (in {setup.folder})")


@check("collect", needs=("config", "runner"))
def check_collect(setup: Setup) -> Iterator[Finding]:
    kind = setup.node.runner.kind
    if kind == "pytest":
        yield _collect_pytest(setup)
    elif kind == "playwright":
        yield _collect_playwright(setup)
    elif kind == "cypress":
        yield _cypress_binary(setup)
    else:
        yield ok("collect", "not checked for kind = 'command' (no way to list its tests)")


def _collect_pytest(setup: Setup) -> Finding:
    from healloop.node.runners import make_runner

    prefix = list(make_runner(setup.node.runner).prefix)
    argv = [*prefix, "--collect-only", "-q", "-p", "no:cacheprovider"]
    result = run(argv, setup.folder, setup.env())
    fix = f"run `{' '.join(argv)}` in {setup.folder} and fix what it reports"
    if isinstance(result, str):
        return fail("collect", result, fix)
    if result.timed_out:
        return fail("collect", f"pytest did not finish collecting in {COLLECT_TIMEOUT_S:.0f} s", fix)
    m = re.search(r"^(\d+) tests? collected", result.output, re.MULTILINE)
    count = int(m.group(1)) if m else sum("::" in ln for ln in result.output.splitlines())
    if result.exit_code != 0 or count == 0:
        why = "no tests collected" if result.exit_code == 5 else last_error(result.output)
        return fail("collect", f"pytest cannot collect the suite (exit code {result.exit_code}): {why}", fix)
    return ok("collect", f"pytest collects {count} test(s) in {setup.folder}")


def _collect_playwright(setup: Setup) -> Finding:
    from healloop.node.runners import make_runner

    prefix = list(make_runner(setup.node.runner).prefix)
    if prefix[0] == "npx":
        local = node_bin(setup, prefix[1])
        assert local is not None, "the runner check found it"
        prefix = [str(local), *prefix[2:]]
    argv = [*prefix, "--list"]
    result = run(argv, setup.folder, setup.env())
    fix = f"run `{' '.join(argv)}` in {setup.folder} and fix what it reports"
    if isinstance(result, str):
        return fail("collect", result, fix)
    m = re.search(r"^Total: (\d+) tests? in", result.output, re.MULTILINE)
    if result.timed_out or result.exit_code != 0 or not m or m.group(1) == "0":
        why = "timed out" if result.timed_out else last_error(result.output)
        return fail("collect", f"playwright cannot list the suite (exit code {result.exit_code}): {why}", fix)
    return ok("collect", f"playwright lists {m.group(1)} test(s) in {setup.folder}")


def _cypress_binary(setup: Setup) -> Finding:
    """Cypress's app is a separate download; `cypress verify` would start it and write its cache, so
    only whether the binary is where Cypress looks is checked."""
    env = setup.env()
    if env.get("CYPRESS_RUN_BINARY"):
        binary = Path(env["CYPRESS_RUN_BINARY"])
    else:
        package = next((p / "node_modules" / "cypress" / "package.json"
                        for p in (setup.folder, *setup.folder.parents)
                        if (p / "node_modules" / "cypress" / "package.json").is_file()), None)
        if package is None:
            return fail("collect", f"the cypress package is not installed in {setup.folder}",
                        "npm install -D cypress")
        try:
            version = json.loads(package.read_text())["version"]
        except (ValueError, KeyError) as exc:
            return fail("collect", f"cannot read Cypress's version from {package}: {exc}", "npm install")
        cache = Path(env.get("CYPRESS_CACHE_FOLDER") or Path.home() / ".cache" / "Cypress")
        binary = cache / version / "Cypress" / "Cypress"
    if not binary.exists():
        return warn("collect", f"Cypress's app is not at {binary}; not verified",
                    "npx cypress install (or set CYPRESS_RUN_BINARY), then `npx cypress verify`")
    return ok("collect", f"Cypress's app is at {binary} (not verified: `npx cypress verify` starts it)")


@check("python")
def check_python(setup: Setup) -> Iterator[Finding]:
    runner = setup.node.runner
    if runner.kind != "pytest":
        return
    if runner.python is not None:
        yield ok("python", f"reruns use the project's interpreter {runner.python}")
        return
    if runner.command:
        yield ok("python", f"reruns run `{' '.join(runner.command)}`")
        return
    for root in dict.fromkeys((setup.folder, setup.node.workspace)):
        for venv in (".venv", "venv"):
            python = root / venv / "bin" / "python"
            if python.exists():
                rel = os.path.relpath(python, setup.node.workspace)
                yield warn("python", f"{python} exists, but reruns use healloop's interpreter "
                                     f"({sys.executable}); set node.runner.python",
                           f'python = "{rel}" in [node.runner]')
                return
    yield ok("python", f"reruns use healloop's interpreter {sys.executable} (no .venv or venv found)")


@check("reporter")
def check_reporter(setup: Setup) -> Iterator[Finding]:
    kind = setup.node.runner.kind
    if kind == "pytest":
        yield _pytest_plugin(setup)
    elif kind in JS_REPORTERS:
        yield from _js_reporter(setup, kind, JS_REPORTERS[kind])
    else:
        yield ok("reporter", "kind = 'command': report with `healloop run -- <your command>`")


def _pytest_plugin(setup: Setup) -> Finding:
    python = project_python(setup.node.runner)
    if python is None:
        return ok("reporter", f"not checked: cannot tell which Python `{setup.node.runner.command[0]}` "
                              "runs; it needs `import healloop.sources.pytest_plugin` to work")
    result = run([python, "-c", "import healloop.sources.pytest_plugin"], setup.folder, setup.env())
    if isinstance(result, proc.ProcResult) and result.exit_code == 0:
        return ok("reporter", f"the pytest plugin is importable by {python}")
    why = result if isinstance(result, str) else last_error(result.output)
    return warn("reporter", f"{python} cannot import healloop's pytest plugin ({why}): "
                            "the suite's failures are not reported",
                f"`{python} -m pip install healloop`, or run the suite as "
                f"`healloop run -- {python} -m pytest`")


def _js_reporter(setup: Setup, kind: str, package: str) -> Iterator[Finding]:
    manifest = setup.folder / "package.json"
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        yield warn("reporter", f"cannot read {manifest}: {exc}", f"npm init, then npm install -D {package}")
        return
    listed = any(package in (data.get(key) or {}) for key in ("dependencies", "devDependencies"))
    if not listed:
        yield warn("reporter", f"{manifest} does not list {package}: the suite's failures are not reported",
                   f"npm install -D {package} (healloop's integrations/{kind})")
    configs = [p for ext in JS_CONFIG_EXTS if (p := setup.folder / f"{kind}.config.{ext}").is_file()]
    use = ("reporter: [['list'], ['healloop-playwright']] in playwright.config" if kind == "playwright" else
           "return require('healloop-cypress')(on, config) in setupNodeEvents of cypress.config")
    if not configs:
        yield warn("reporter", f"no {kind}.config.* in {setup.folder}", use)
    elif not any(package in p.read_text(errors="replace") for p in configs):
        yield warn("reporter", f"{configs[0].name} does not use {package}", use)
    elif listed:
        yield ok("reporter", f"{package} is in package.json and {configs[0].name}")


