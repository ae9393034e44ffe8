"""``healloop init``: detect the project (``healloop.detect``), write a commented ``healloop.toml`` from
what was found, and keep healloop's own files (``.healloop/``) out of git.

``plan`` decides everything and writes nothing; ``apply`` writes; ``report`` says what was found and
done, one line each, for the CLI.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from healloop.detect import App, Detection, Suite, Toolchain, detect, poetry_env
from healloop.errors import Conflict, HealloopError

DATA_DIR = ".healloop"
IGNORE_LINE = f"{DATA_DIR}/"
# Lines of a .gitignore that already keep .healloop/ out of git.
_IGNORED = {".healloop", ".healloop/", "/.healloop", "/.healloop/", ".healloop/*", "/.healloop/*"}
_LOOKED_FOR = ("cypress.config.*, playwright.config.*, pytest.ini, tox.ini [pytest], "
               "setup.cfg [tool:pytest], pyproject.toml [tool.pytest], "
               "conftest.py or test_*.py under tests/, test/ or e2e/")

TEMPLATE = """\
{header}
# `healloop up` starts the queue, this machine's tool node, one agent and the services marked autostart.

[queue]
host = "127.0.0.1"      # the queue listens here; reporters use http://HOST:PORT as HEALLOOP_URL
port = 8787             # 0 picks a free port
data_dir = "{data_dir}"  # events.db (SQLite), logs and the node's state; .gitignore keeps it out of git
# url = "http://queue-host:8787"   # another machine of the team: join its queue, start none here

[mcp]
port = 8788             # this machine's MCP tool node (http://127.0.0.1:8788/mcp); 0 picks a free one
# name = "ci-1"         # the node name reporters send as HEALLOOP_NODE (default: the host name)
# host = "0.0.0.0"      # several machines: listen beyond loopback so agents elsewhere reach the node,
# public_url = "http://ci-1.internal:8788/mcp"   # at this address

[agent]
planner = "rules"       # "rules" needs no model; "llm" reads HEALLOOP_LLM_BASE_URL and HEALLOOP_LLM_MODEL
concurrency = 1
# enabled = false       # several machines: agents run elsewhere
# heal_threshold = 0.5  # selector healing: least evidence for the element chosen (higher: fewer heals)
# heal_margin = 0.2     # selector healing: lead it needs over the runner-up (higher: fewer heals)
# node_setup_timeout = 30   # seconds to open a session to a tool node; slower counts as unreachable
# metrics_port = 9101  # Prometheus metrics at http://127.0.0.1:9101/metrics (metrics_host to widen)

[node]
workspace = "."         # the repository agents read and repair
artifacts = "{data_dir}/artifacts"   # reporters write screenshots and DOM snapshots here
                        # (HEALLOOP_ARTIFACTS), a folder per run; read_artifact reads only here. Not
                        # test-results/ or cypress/screenshots: Playwright and Cypress empty those.

{runner}
{services}
# Several machines on one suite (README, "Several machines"): the branch they all follow. With push
# and pull below, one machine's verified fix is pushed and the others pull it before rerunning.
# [node.git]
# remote = "origin"
# branch = "main"

[node.policy]
app_edits = false       # agents edit test files only
revert = false          # never revert a suspect commit; escalate with a report instead
push = false            # push a verified fix to [node.git]
pull = false            # fast-forward from [node.git] before analysing and to verify another node's fix
"""

EXAMPLE_SERVICE = """\
# A service the tests need, which agents may restart and `healloop up` starts (uncomment and adapt):
# [node.services.web]
# backend = "command"
# start = ["npm", "run", "start"]
# health = "http://127.0.0.1:3000/healthz"
# env = { PORT = "3000" }
# autostart = true
"""


@dataclass(frozen=True)
class Plan:
    folder: Path
    detection: Detection
    config: Path
    text: str                   # the healloop.toml to write
    exists: bool                # config is there already
    gitignore: Path
    gitignore_text: bytes | None  # the new .gitignore, None when it already ignores .healloop/
    gitignore_change: str       # "create", "append" or "keep"


def _s(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def _argv(argv: tuple[str, ...]) -> str:
    return "[" + ", ".join(_s(part) for part in argv) + "]"


def _comment(text: str, prefix: str = "# ") -> list[str]:
    return textwrap.wrap(" ".join(text.split()), width=108, initial_indent=prefix,
                         subsequent_indent=prefix + "  ")


def _where(cwd: str) -> str:
    return "the repository root" if cwd == "." else cwd


def _header(name: str, d: Detection) -> str:
    lines = [f"# healloop.toml for {name}, written by `healloop init`."]
    if d.suite:
        lines += _comment(f"Detected {d.suite.kind} in {_where(d.suite.cwd)}, from {d.suite.evidence}.")
    else:
        lines += _comment(f"No test suite found (looked for {_LOOKED_FOR}); [node.runner] below is a "
                          "guess to edit.")
    for other in d.also:
        lines += _comment(f"Also found: {other.kind} in {_where(other.cwd)} ({other.evidence}); to use it, "
                          "change [node.runner].")
    if d.toolchain:
        program = d.toolchain.python or " ".join(d.toolchain.command)
        lines += _comment(f"Toolchain: {program}, {d.toolchain.evidence}." if not d.toolchain.fix
                          else f"Toolchain not found: {d.toolchain.fix}.")
    if d.app:
        lines += _comment(f"App: {d.app.source}; health {d.app.health} ({d.app.why}).")
    for other in d.other_apps:
        lines += _comment(f"Also a start command: {other.source}.")
    return "\n".join(lines)


def _runner(d: Detection) -> str:
    suite = d.suite or Suite("pytest", ".", "")
    why = (suite.config or "inferred from the test files") if d.suite else "a guess: edit it"
    lines = ["[node.runner]", f"kind = {_s(suite.kind)}".ljust(23) + f" # {why}"]
    if suite.cwd != ".":
        lines += [f"# The runner's folder, relative to the repository: {suite.kind} runs from there.",
                  f"cwd = {_s(suite.cwd)}"]
    tools = d.toolchain or Toolchain()
    if suite.kind == "pytest":
        if tools.python:
            lines += _comment(f"The project's own Python ({tools.evidence}): reruns import its test "
                              "dependencies, not healloop's.")
            lines.append(f"python = {_s(tools.python)}")
        elif d.suite:
            lines += _comment(f"Reruns use healloop's own Python: {tools.fix}.")
            lines.append('# python = ".venv/bin/python"')
    elif tools.fix:
        lines += _comment(f"The default runs {' '.join(tools.command)}: {tools.fix}, then set the project's "
                          "own runner:")
        lines.append(f"# command = {_argv((f'node_modules/.bin/{suite.kind}', *tools.command[2:]))}")
    else:
        lines += _comment(f"The project's own {suite.kind} ({tools.evidence}), relative to the runner's "
                          "folder:")
        lines.append(f"command = {_argv(tools.command)}")
    lines.append("timeout = 300           # seconds for one rerun of one test")
    return "\n".join(lines) + "\n"


def _service(app: App) -> str:
    block = [f"[node.services.{app.name}]", 'backend = "command"', f"start = {_argv(app.start)}"]
    if app.cwd != ".":
        block.append(f"cwd = {_s(app.cwd)}")
    if app.env:
        block.append("env = { " + ", ".join(f"{k} = {_s(v)}" for k, v in app.env) + " }")
    block += [f"health = {_s(app.health)}", "autostart = true"]
    if app.sure:
        head = _comment(f"The app the tests need, from {app.source}; health: {app.why}. "
                        "`healloop up` starts it and agents may restart it.")
        return "\n".join([*head, *block]) + "\n"
    head = _comment(f"The app the tests need, from {app.source}; written commented out because the "
                    f"health URL is a guess ({app.why}). Check it, then uncomment:")
    return "\n".join([*head, *("# " + line for line in block)]) + "\n"


def render(name: str, d: Detection) -> str:
    services = _service(d.app) if d.app else EXAMPLE_SERVICE
    return TEMPLATE.format(header=_header(name, d), data_dir=DATA_DIR, runner=_runner(d), services=services)


def _gitignore(path: Path) -> tuple[bytes | None, str]:
    """(the new .gitignore, what changes): the old one plus ``.healloop/``, its own lines and line
    endings kept; None when a line already ignores it."""
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        return IGNORE_LINE.encode() + b"\n", "create"
    except OSError as exc:
        raise HealloopError(f"cannot read {path}: {exc.strerror}", field="gitignore") from None
    if any(line.strip().decode(errors="replace") in _IGNORED for line in old.splitlines()):
        return None, "keep"
    newline = b"\r\n" if b"\r\n" in old else b"\n"
    joint = b"" if not old or old.endswith(b"\n") else newline
    return old + joint + IGNORE_LINE.encode() + newline, "append"


def plan(folder: Path, *, poetry: Callable[[Path], Path | None] = poetry_env) -> Plan:
    folder = folder.resolve()
    detection = detect(folder, poetry=poetry)
    config = folder / "healloop.toml"
    gitignore = folder / ".gitignore"
    text, change = _gitignore(gitignore)
    return Plan(folder, detection, config, render(folder.name, detection), config.exists(), gitignore,
                text, change)


def apply(p: Plan, *, force: bool = False) -> None:
    """Write the config and the .gitignore; ``Conflict`` when the config exists and ``force`` is off."""
    if p.exists and not force:
        raise Conflict(f"{p.config} already exists; pass --force to overwrite it", field="config")
    try:
        p.config.write_text(p.text)
        if p.gitignore_text is not None:
            p.gitignore.write_bytes(p.gitignore_text)
    except OSError as exc:
        raise HealloopError(f"cannot write {exc.filename}: {exc.strerror}", field="config") from None


def report(p: Plan, *, dry_run: bool = False) -> list[str]:
    """What was found and done, one line each, as `healloop init` prints it."""
    d = p.detection
    lines = []
    if d.suite:
        where = "" if d.suite.cwd == "." else f" in {d.suite.cwd}"
        lines.append(f"detected {d.suite.kind}{where}: {d.suite.evidence}")
    else:
        lines.append(f"no test suite found (looked for {_LOOKED_FOR}); wrote kind = \"pytest\" as a guess: "
                     "edit [node.runner]")
    lines += [f"also found {s.kind}{'' if s.cwd == '.' else ' in ' + s.cwd}: {s.evidence} (not used)"
              for s in d.also]
    tools = d.toolchain
    if tools and tools.fix:
        lines.append(f"toolchain: {tools.fix}")
    elif tools:
        lines.append(f"toolchain: {tools.python or ' '.join(tools.command)} ({tools.evidence})")
    if d.app and d.app.sure:
        lines.append(f"app: service {d.app.name!r} runs `{' '.join(d.app.start)}`, health {d.app.health} "
                     f"({d.app.source}; {d.app.why}); `healloop up` starts it")
    elif d.app:
        lines.append(f"app: service {d.app.name!r} runs `{' '.join(d.app.start)}` ({d.app.source}), written "
                     f"commented out: {d.app.why}; check {d.app.health} and uncomment it")
    else:
        lines.append("app: no start command found; add one under [node.services]")
    verb = "would " if dry_run else ""
    if p.gitignore_change == "keep":
        lines.append(f".gitignore already ignores {IGNORE_LINE}")
    elif p.gitignore_change == "create":
        lines.append(f".gitignore: {verb}{'create' if dry_run else 'created'} it with {IGNORE_LINE} "
                     "(healloop's queue, logs and artifacts)")
    else:
        lines.append(f".gitignore: {verb}{'add' if dry_run else 'added'} {IGNORE_LINE} "
                     "(healloop's queue, logs and artifacts)")
    if dry_run:
        overwrite = " (it exists: pass --force to overwrite it)" if p.exists else ""
        lines.append(f"dry run: would write {p.config}{overwrite}; nothing written")
    else:
        lines.append(f"wrote {p.config}")
    lines.append("next: `healloop doctor` checks the setup, then `healloop up` starts the loop")
    return lines


def init_project(folder: Path, *, force: bool = False, dry_run: bool = False,
                 poetry: Callable[[Path], Path | None] = poetry_env) -> list[str]:
    """``healloop init``: detect, write (unless ``dry_run``) and return the lines to print."""
    if not (dry_run or force) and (folder / "healloop.toml").exists():
        raise Conflict(f"{folder.resolve() / 'healloop.toml'} already exists; pass --force to overwrite it",
                       field="config")
    p = plan(folder, poetry=poetry)
    if not dry_run:
        apply(p, force=force)
    return report(p, dry_run=dry_run)
