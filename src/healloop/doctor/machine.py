"""This machine's side: services, the queue and this node's registration, Chromium, and the folders
healloop writes to."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from healloop.doctor.core import (
    HTTP_TIMEOUT_S,
    JS_CONFIG_EXTS,
    Finding,
    Setup,
    check,
    fail,
    git,
    inside,
    ok,
    project_python,
    run,
    warn,
    writable,
)
from healloop.errors import HealloopError
from healloop.node import proc
from healloop.node.services import Backend
from healloop.stack import StackSettings


@check("services")
def check_services(setup: Setup) -> Iterator[Finding]:
    from healloop.node.services import Services
    from healloop.node.workspace import Workspace

    node = setup.node
    if not node.services:
        yield ok("services", "none configured ([node.services])")
        return
    ws = Workspace(node.workspace, node.state_dir, max_file_bytes=node.max_file_bytes)
    for name, backend in Services(ws, node.services, node.restarts_per_hour).backends.items():
        yield _service(f"service {name}", backend)


def _service(label: str, backend: Backend) -> Finding:
    svc = backend.svc
    try:
        usable, why = backend.check()
        running = usable and backend.running()
    except HealloopError as exc:
        usable, why, running = False, exc.message, False
    if not usable:
        if svc.autostart:
            return fail(label, f"cannot be started here: {why}; `healloop up` stops at it",
                        "fix the backend, or set autostart = false")
        return warn(label, f"agents cannot restart it here: {why}", "fix the backend or remove the service")
    if svc.autostart and not running:
        answer = _answers(svc.health_url)
        if answer:
            return warn(label, f"not started by healloop, but {answer}: `healloop up` would start a second "
                               "copy", "stop the other copy, or set autostart = false")
        return ok(label, "not running; `healloop up` starts it")
    try:
        healthy, detail = backend.healthy()
    except HealloopError as exc:
        healthy, detail = False, exc.message
    if healthy:
        return ok(label, f"healthy ({detail})")
    how = "set autostart = true so `healloop up` starts it" if not svc.autostart else "read its log"
    return warn(label, f"not healthy ({detail}): tests that need it fail until it is", f"start it, or {how}")


def _answers(url: str | None) -> str | None:
    if not url:
        return None
    try:
        response = httpx.get(url, timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError:
        return None
    return f"GET {url} answers {response.status_code}"


@check("queue")
def check_queue(setup: Setup) -> Iterator[Finding]:
    s = setup.stack
    url = s.join or _local_queue_url(s)
    if url is None:
        yield ok("queue", "not running; `healloop up` starts it (port 0: a free port)")
        yield ok("node", "not checked: the queue is not running")
        return
    where = "`queue.url`" if s.join else f"{s.host}:{s.queue_port}"
    try:
        health = httpx.get(f"{url}/healthz", timeout=HTTP_TIMEOUT_S)
    except httpx.ConnectError as exc:
        if s.join:
            yield fail("queue", f"cannot reach the queue at {url} ({where}): {exc}; `healloop up` stops",
                       "start it there (`healloop up` or `healloop serve --host 0.0.0.0`), or fix queue.url")
        else:
            yield ok("queue", f"not running at {url}; `healloop up` starts it")
            yield ok("node", "not checked: the queue is not running")
        return
    except httpx.HTTPError as exc:
        health = None
        detail = f"{type(exc).__name__}"
    else:
        detail = f"GET /healthz: {health.status_code}"
    if health is None or not health.is_success:
        yield fail("queue", f"something other than a healloop queue answers at {url} ({detail})",
                   "free the port or set [queue] port" if not s.join else "fix queue.url")
        return
    yield from _queue_token(setup, url)


def _local_queue_url(s: StackSettings) -> str | None:
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(s.host, s.host)
    host = f"[{host}]" if ":" in host else host
    if s.queue_port:
        return f"http://{host}:{s.queue_port}"
    # Port 0: the queue `healloop up` started last wrote its address first in its log.
    try:
        text = (s.data_dir / "logs" / "queue.log").read_text(errors="replace")
    except OSError:
        return None
    found = re.findall(r"listening on (http://\S+)", text)
    return found[-1] if found else None


def _queue_token(setup: Setup, url: str) -> Iterator[Finding]:
    s = setup.stack
    # What this machine's agent will send ([queue] agent_token_env), else the one [queue] token.
    own = s.part_token("agent")
    token = own[1] if own else s.token
    which = f"${own[0]}" if own else "[queue] token"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(f"{url}/v1/nodes", headers=headers, timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError as exc:
        yield fail("queue", f"GET {url}/v1/nodes failed: {type(exc).__name__}", "read the queue's log")
        return
    if response.status_code == 401:
        what = f"the token ({which}) is wrong" if token else "it needs a token and none is set"
        yield fail("queue", f"the queue at {url} refused GET /v1/nodes (401): {what}",
                   "set [queue] token or HEALLOOP_TOKEN to the queue's token")
        return
    if response.status_code == 403:
        # A role token that may not read nodes (a reporter's, a node's): the queue says which it holds.
        said = _message(response)
        yield fail("queue", f"the queue at {url} accepts the token ({which}) but refused GET /v1/nodes "
                            f"(403): {said}",
                   "this machine's agent needs an agent token: set [queue] agent_token_env to a variable "
                   "holding one (`healloop token create --role agent --name NAME` on the queue's machine),"
                   " or [queue] token / HEALLOOP_TOKEN to an admin token")
        return
    if not response.is_success:
        yield fail("queue", f"GET {url}/v1/nodes: {response.status_code} {_message(response)}".rstrip(),
                   "read the queue's log")
        return
    try:
        setup.nodes = list(response.json()["nodes"])
    except (ValueError, KeyError, TypeError):
        yield fail("queue", f"GET {url}/v1/nodes did not return a healloop node list", "check queue.url")
        return
    yield ok("queue", f"reachable at {url}" + (", token accepted" if token else " (no token)"))
    mine = [n for n in setup.nodes if n.get("name") == s.node_name]
    if mine:
        yield ok("node", f"{s.node_name!r} is registered ({mine[0].get('mcp_url')})")
    else:
        yield warn("node", f"{s.node_name!r} is not registered with the queue: agents cannot reach this "
                           "machine's failures", "`healloop up` registers it (or `healloop mcp serve --queue "
                           f"{url} --node {s.node_name}`)")


def _message(response: httpx.Response) -> str:
    """The queue's error sentence, or nothing when the answer is not one of its errors."""
    try:
        return str(response.json()["message"])
    except (ValueError, KeyError, TypeError):
        return ""


def find_chromium(setup: Setup) -> str | None:
    """Where a Chromium for this machine's browser tests is, or None."""
    env = setup.env()
    named = env.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH")
    candidates = [named] if named else []
    for ext in JS_CONFIG_EXTS:
        config = setup.folder / f"playwright.config.{ext}"
        if config.is_file():
            text = config.read_text(errors="replace")
            candidates += re.findall(r"executablePath\s*:[^\n]*?['\"](/[^'\"]+)['\"]", text)
    candidates.append("/usr/bin/chromium")
    for path in candidates:
        if Path(path).is_file() and os.access(path, os.X_OK):
            return path
    for program in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(program, path=env.get("PATH"))
        if found:
            return found
    # Playwright's own download (`npx playwright install chromium`).
    browsers = Path(env.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache" / "ms-playwright")
    found_dir = next(iter(sorted(browsers.glob("chromium-*"))), None) if browsers.is_dir() else None
    return str(found_dir) if found_dir else None


def _uses_a_browser(setup: Setup) -> bool:
    """A pytest suite whose Python has Playwright or Selenium drives a browser."""
    python = project_python(setup.node.runner) or sys.executable
    probe = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('playwright') or " \
            "u.find_spec('selenium') else 3)"
    result = run([python, "-c", probe], setup.folder, setup.env())
    return isinstance(result, proc.ProcResult) and result.exit_code == 0


@check("chromium")
def check_chromium(setup: Setup) -> Iterator[Finding]:
    found = find_chromium(setup)
    if found:
        yield ok("chromium", found)
        return
    kind = setup.node.runner.kind
    fix = "apt-get install chromium (or `npx playwright install chromium`)"
    if kind == "playwright" or (kind == "pytest" and _uses_a_browser(setup)):
        yield fail("chromium", "no Chromium found: browser tests cannot run", fix)
    elif kind == "cypress":
        yield warn("chromium", "no Chromium found; Cypress runs its bundled Electron", fix)
    else:
        yield ok("chromium", "none found; this suite does not look like it drives a browser")


@check("artifacts")
def check_artifacts(setup: Setup) -> Iterator[Finding]:
    node, s = setup.node, setup.stack
    for name, path in (("artifacts", node.artifacts), ("data dir", s.data_dir)):
        usable, probe = writable(path)
        if path.exists() and not path.is_dir():
            yield fail(name, f"{path} is a file, not a folder", f"move it away, or change the {name} path")
            continue
        if not usable:
            yield fail(name, f"{path} is not writable (checked {probe})", f"chmod u+w {probe}, or move it")
            continue
        yield _ignored(setup, name, path)


def _ignored(setup: Setup, name: str, path: Path) -> Finding:
    ws = setup.node.workspace
    made = "" if path.exists() else " (made at the first `healloop up`)"
    if not inside(path, ws) or path == ws or git(ws, "rev-parse", "--git-dir").returncode != 0:
        return ok(name, f"{path} is writable{made}")
    rel = path.relative_to(ws).as_posix()
    if git(ws, "check-ignore", "-q", f"{rel}/").returncode == 0:
        return ok(name, f"{path} is writable and ignored by git{made}")
    if name == "artifacts":
        # Reporters give each run folder a .gitignore of `*`: only other files there would show.
        shown = git(ws, "status", "--porcelain", "--untracked-files=all", "--", f"{rel}/").stdout
        if not shown.strip():
            return ok(name, f"{path} is writable; its run folders ignore themselves{made}")
    return warn(name, f"{path} is inside the workspace and not ignored: healloop's files would show in "
                      f"git status and could be committed", f"add {rel}/ to .gitignore")


