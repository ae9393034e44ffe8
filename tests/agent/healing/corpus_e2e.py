"""The healing corpus end to end: each runner family's cases as one user project, broken by real UI
changes and repaired (or not) by the real queue, tool node and agent, in Debian's Chromium.

A family is one git repository: a Playwright JS project (``@playwright/test`` from the sample
shop's packages, the healloop reporter and its ``afterEach`` DOM snapshot), or a pytest project
whose conftest gives pytest-playwright Debian's Chromium and the tests a Selenium ``driver`` (one
for the pytest-playwright cases, one for the Selenium ones). It holds its cases' specs with
``{url}`` filled in, and each case's page under ``pages/<case id>/index.html``, served by a static
server of its own: a thread of the test process on its own loopback port that reads the page from
the working tree at each request, so a committed UI change is what the next request gets. The
suite runs on ``before`` (all pass), a developer commits each case's ``after``, the suite runs
again with the real reporters on, and the agent handles what they report. ``run_family`` records
what happened per case (``CaseRun``); the test judges it against the case's expected outcome.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from healloop.agent.healing.corpus import Case
from healloop.node.config import DEFAULT_TEST_PATHS
from healloop.stack import Stack, StackSettings
from tests.support import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PW_NODE_MODULES = ROOT / "examples" / "shop" / "node_modules"
PW_INTEGRATION = ROOT / "integrations" / "playwright"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DEVELOPER = {"GIT_AUTHOR_NAME": "corpus developer", "GIT_AUTHOR_EMAIL": "dev@corpus.invalid",
             "GIT_COMMITTER_NAME": "corpus developer", "GIT_COMMITTER_EMAIL": "dev@corpus.invalid"}
FINAL = ("resolved", "escalated")

# Runner families, in the order they run: Selenium last, its DOM capture being the newest part.
FAMILIES = ("playwright-js", "playwright-python", "selenium-python")
SUITE_TIMEOUT_S = 600.0
REPORT_WAIT_S = 30.0        # the reporters deliver before the run exits; this covers a slow upload
EVENT_WAIT_S = 60.0         # per reported event: analysis, a rerun in Chromium, maybe a second attempt


# -- the projects
@dataclass
class Placed:
    """A case in its family's repository."""

    case: Case
    spec: str           # the spec's path in the repository
    page: str           # the page's path in the repository, served at ``url``
    url: str = ""


def place(cases: list[Case]) -> list[Placed]:
    """Each case's spec at its own ``spec_path``; two cases of one family naming the same path are
    both moved under ``cases/<id>/`` so neither overwrites the other."""
    taken: dict[str, int] = {}
    for c in cases:
        taken[c.spec_path] = taken.get(c.spec_path, 0) + 1
    return [Placed(c, c.spec_path if taken[c.spec_path] == 1 else f"cases/{c.id}/{c.spec_path}",
                   f"pages/{c.id}/index.html") for c in cases]


PW_CONFIG = """\
// The suite's own settings: Debian's Chromium (browsers cannot be downloaded on these machines) and
// short timeouts, so a locator that finds nothing fails in seconds. The healloop reporter reports
// failures when HEALLOOP_URL is set (the suite runs that report set it; the node's reruns do not).
const reporters = [['list'], ['junit', { outputFile: 'test-results/junit.xml' }]];

module.exports = {
  testDir: '.',
  testMatch: %(specs)s,
  timeout: 20000,
  expect: { timeout: 5000 },
  retries: 0,
  workers: 1,
  reporter: process.env.HEALLOOP_URL ? [...reporters, [%(reporter)s]] : reporters,
  use: {%(testid)s
    headless: true,
    actionTimeout: 3000,
    navigationTimeout: 10000,
    launchOptions: { executablePath: '/usr/bin/chromium', args: %(args)s },
  },
};
"""

PW_FIXTURE_SHIM = """\
// The DOM snapshot at failure (healloop-playwright's fixture): test.afterEach(healloopAfterEach).
module.exports = require(%s);
"""

PY_CONFTEST = '''\
"""The suite's browsers, both Debian's Chromium: pytest-playwright's, and a Selenium driver."""

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
ARGS = %(args)s


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ARGS}


@pytest.fixture
def context(context):
    # A locator that finds nothing fails in 3 s instead of 30.
    context.set_default_timeout(3000)
    context.set_default_navigation_timeout(10000)
    return context
%(testid)s

@pytest.fixture
def driver():
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ["--headless", *ARGS]:
        options.add_argument(arg)
    drv = webdriver.Chrome(service=Service("%(chromedriver)s"), options=options)
    yield drv
    drv.quit()
'''

PY_TESTID = '''

@pytest.fixture(scope="session", autouse=True)
def test_id_attribute(playwright):
    playwright.selectors.set_test_id_attribute(%r)
'''

PY_INI = """\
[pytest]
# Specs of different cases may share a file name in different folders.
addopts = --import-mode=importlib
"""

GITIGNORE = "node_modules\ntest-results/\nplaywright-report/\nartifacts/\n__pycache__/\n.pytest_cache/\n"

# `const { test, expect } = require('@playwright/test');` and its `import` twin: the hook goes after it.
_PW_HEAD = re.compile(
    r"^(?:(?:const|let|var)\s*\{[^}]*\btest\b[^}]*\}\s*=\s*require\(\s*(['\"])@playwright/test\1\s*\)"
    r"|import\s*\{[^}]*\btest\b[^}]*\}\s*from\s*(['\"])@playwright/test\2);?[ \t]*$",
    re.MULTILINE,
)


def with_snapshot_hook(spec: str, shim: str) -> str:
    """The spec with healloop's ``afterEach`` DOM snapshot hooked in after its Playwright import, the
    one line a team adds to report with the snapshot (the demo adds the same)."""
    m = _PW_HEAD.search(spec)
    if m is None:
        raise ValueError("the spec does not import `test` from @playwright/test the usual way")
    esm = m.group(0).startswith("import")
    load = (f"import {{ healloopAfterEach }} from '{shim}';" if esm
            else f"const {{ healloopAfterEach }} = require('{shim}');")
    return spec[: m.end()] + f"\n{load}\ntest.afterEach(healloopAfterEach);" + spec[m.end():]


class Project:
    """One family's repository and how its suite runs."""

    runner_kind = ""

    def __init__(self, family: str, root: Path, placed: list[Placed], test_id_attr: str | None) -> None:
        self.family = family
        self.root = root
        self.repo = root / "repo"
        self.placed = placed
        self.test_id_attr = test_id_attr   # Playwright's testIdAttribute, when the project sets one

    # -- files
    def write(self) -> None:
        self.repo.mkdir(parents=True)
        git(self.repo, "init", "-q", "-b", "main")
        # The agent's commits (through the node) carry this identity; the developer's carry DEVELOPER.
        git(self.repo, "config", "user.name", "healloop agent")
        git(self.repo, "config", "user.email", "agent@corpus.invalid")
        (self.repo / ".gitignore").write_text(GITIGNORE)
        self.write_setup()
        for p in self.placed:
            self.put(p.spec, self.spec_text(p))
            self.put(p.page, p.case.before.replace("{url}", p.url))
        commit(self.repo, f"{self.family} suite: {len(self.placed)} specs and the pages they test")

    def put(self, rel: str, text: str) -> None:
        path = self.repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def spec_text(self, p: Placed) -> str:
        return p.case.spec.replace("{url}", p.url)

    def write_setup(self) -> None:
        raise NotImplementedError

    def node_config(self, data: Path) -> str:
        paths = json.dumps([*DEFAULT_TEST_PATHS, *(p.spec for p in self.placed)])
        return (
            f'[node]\nworkspace = {json.dumps(str(self.repo))}\nartifacts = "artifacts"\n\n'
            f'[node.runner]\nkind = "{self.runner_kind}"\n{self.runner_command()}timeout = 120\n\n'
            f"[node.policy]\ntest_paths = {paths}\n"
        )

    def runner_command(self) -> str:
        return ""

    # -- the suite
    def suite(self, specs: list[str], results: Path, env: dict[str, str]) -> SuiteRun:
        raise NotImplementedError


@dataclass
class SuiteRun:
    exit_code: int
    output: str
    seconds: float
    passed: dict[tuple[str, str], bool]   # (spec, test) → passed, from the runner's JUnit XML

    def of(self, spec: str) -> dict[str, bool]:
        return {t: ok for (s, t), ok in self.passed.items() if s == spec}


class PlaywrightJs(Project):
    runner_kind = "playwright"

    def write_setup(self) -> None:
        for what, path in (("@playwright/test", PW_NODE_MODULES / "@playwright" / "test"),
                           ("healloop-playwright's packages", PW_INTEGRATION / "node_modules")):
            if not path.exists():
                raise RuntimeError(f"{what} not found at {path}: run scripts/setup")
        (self.repo / "node_modules").symlink_to(PW_NODE_MODULES)
        specs = [p.spec for p in self.placed]
        self.put("playwright.config.js", PW_CONFIG % {
            "specs": json.dumps(specs), "args": json.dumps(CHROMIUM_ARGS),
            "testid": f"\n    testIdAttribute: {json.dumps(self.test_id_attr)}," if self.test_id_attr else "",
            "reporter": json.dumps(str(PW_INTEGRATION / "index.js"))})
        self.put("healloop.fixture.js", PW_FIXTURE_SHIM % json.dumps(str(PW_INTEGRATION / "fixture.js")))

    def spec_text(self, p: Placed) -> str:
        shim = os.path.relpath(self.repo / "healloop.fixture", (self.repo / p.spec).parent)
        return with_snapshot_hook(super().spec_text(p), shim if shim.startswith(".") else f"./{shim}")

    def suite(self, specs: list[str], results: Path, env: dict[str, str]) -> SuiteRun:
        junit = self.repo / "test-results" / "junit.xml"
        junit.unlink(missing_ok=True)
        run = _run(["npx", "playwright", "test", *specs], self.repo, env)
        passed: dict[tuple[str, str], bool] = {}
        if junit.exists():
            results.write_bytes(junit.read_bytes())
            for suite in ET.parse(results).getroot().iter("testsuite"):
                spec = suite.get("name", "")
                for tc in suite.iter("testcase"):
                    title = " > ".join(t.strip() for t in tc.get("name", "").split("›"))
                    passed[(spec, title)] = _case_passed(tc)
        return SuiteRun(run.returncode, run.stdout + run.stderr, run.seconds, passed)


class PytestProject(Project):
    runner_kind = "pytest"

    def write_setup(self) -> None:
        self.put("conftest.py", PY_CONFTEST % {
            "args": repr(CHROMIUM_ARGS), "chromedriver": CHROMEDRIVER,
            "testid": PY_TESTID % self.test_id_attr if self.test_id_attr else ""})
        self.put("pytest.ini", PY_INI)

    def runner_command(self) -> str:
        return f"command = {json.dumps([sys.executable, '-m', 'pytest'])}\n"

    def suite(self, specs: list[str], results: Path, env: dict[str, str]) -> SuiteRun:
        # xunit1 names each test's file, which xunit2 leaves out.
        run = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
                    "junit_family=xunit1", f"--junitxml={results}", *specs], self.repo, env)
        passed: dict[tuple[str, str], bool] = {}
        if results.exists():
            for tc in ET.parse(results).getroot().iter("testcase"):
                test = tc.get("name", "")
                cls = tc.get("classname", "").rsplit(".", 1)[-1]
                if cls[:1].isupper() and cls.startswith("Test"):  # a test in a class
                    test = f"{cls}::{test}"
                passed[(tc.get("file", ""), test)] = _case_passed(tc)
        return SuiteRun(run.returncode, run.stdout + run.stderr, run.seconds, passed)


PROJECTS: dict[str, type[Project]] = {
    "playwright-js": PlaywrightJs, "playwright-python": PytestProject, "selenium-python": PytestProject,
}


def _case_passed(tc: ET.Element) -> bool:
    return not any(tc.find(t) is not None for t in ("failure", "error", "skipped"))


@dataclass
class _Done:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> _Done:
    started = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=SUITE_TIMEOUT_S, check=False)
    return _Done(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


# -- git
def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          env=os.environ | (env or {}), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message, env=DEVELOPER)
    return git(repo, "rev-parse", "HEAD").strip()


def tree_digest(repo: Path, paths: list[str]) -> dict[str, str]:
    """SHA-256 of each path's bytes in the working tree ('' when missing)."""
    out = {}
    for rel in paths:
        path = repo / rel
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""
    return out


# -- the pages
class _Page(BaseHTTPRequestHandler):
    """Every path answers with the case's page, read from the working tree at each request, so the
    committed UI change is what the next request sees."""

    file: Path

    def do_GET(self) -> None:
        if self.path.startswith("/favicon.ico"):
            self.send_error(404)
            return
        body = self.file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def sites(repo: Path, placed: list[Placed]) -> Iterator[None]:
    """One static server per case on its own loopback port; sets each ``Placed.url``."""
    servers = []
    try:
        for p in placed:
            handler = type("Page", (_Page,), {"file": repo / p.page})
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            servers.append(server)
            threading.Thread(target=server.serve_forever, name=f"site-{p.case.id}", daemon=True).start()
            p.url = f"http://127.0.0.1:{server.server_address[1]}"
        yield
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


# -- one family, end to end
@dataclass
class CaseRun:
    """What happened to one case."""

    placed: Placed
    before: dict[str, bool] = field(default_factory=dict)      # its tests on `before`
    reported: dict[str, bool] = field(default_factory=dict)    # on `after`, reporting on
    final: dict[str, bool] = field(default_factory=dict)       # on `after`, once the agent is done
    events: list[dict[str, Any]] = field(default_factory=list)  # with history
    commits: list[dict[str, Any]] = field(default_factory=list)  # commits since `after` touching its spec
    spec_committed: str = ""   # the spec as the developer committed it
    spec_now: str = ""         # the spec in the working tree at the end
    digest_before: dict[str, str] = field(default_factory=dict)
    digest_after: dict[str, str] = field(default_factory=dict)
    dirty: list[str] = field(default_factory=list)             # its paths in `git status --porcelain`

    @property
    def case(self) -> Case:
        return self.placed.case

    @property
    def spec(self) -> str:
        return self.placed.spec


@dataclass
class FamilyRun:
    family: str
    root: Path
    cases: dict[str, CaseRun]       # by case id
    porcelain: list[str]            # `git status --porcelain` once every event ended
    unfinished: list[str]           # events still open at the deadline
    seconds: dict[str, float]       # where the time went
    logs: dict[str, str]            # the tails of the queue's, node's and agent's logs


def run_family(family: str, cases: list[Case], root: Path) -> FamilyRun:
    """The family's cases, as one project; those whose case sets ``test_id_attribute`` as one more
    project per attribute. One project holds one ``testIdAttribute``, as a real one does: the agent
    reads it from the project's config, so cases with different ones cannot share a repository."""
    groups: dict[str, list[Case]] = {}
    for c in cases:
        groups.setdefault(c.options.get("test_id_attribute") or "", []).append(c)
    runs = [run_project(family, mine, root / (f"testid-{attr}" if attr else "project"), attr or None)
            for attr, mine in sorted(groups.items())]
    return FamilyRun(
        family, root, {k: v for r in runs for k, v in r.cases.items()},
        [f"{r.root.name}/repo: {line}" for r in runs for line in r.porcelain],
        [i for r in runs for i in r.unfinished],
        {k: round(sum(r.seconds.get(k, 0) for r in runs), 1) for k in runs[0].seconds},
        {f"{r.root.name}/{k}": v for r in runs for k, v in r.logs.items()},
    )


def run_project(family: str, cases: list[Case], root: Path, test_id_attr: str | None) -> FamilyRun:
    started = time.monotonic()
    placed = place(cases)
    project = PROJECTS[family](family, root, placed, test_id_attr)
    data = root / "data"
    config = root / "healloop.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    seconds: dict[str, float] = {}
    runs = {p.case.id: CaseRun(p) for p in placed}
    with sites(project.repo, placed):
        project.write()
        config.write_text(project.node_config(data))
        before = project.suite([p.spec for p in placed], root / "before.xml", env)
        seconds["suite on before"] = before.seconds
        for p in placed:
            runs[p.case.id].before = before.of(p.spec)
        # A case whose own tests fail before the change is a broken case, not the agent's to judge.
        good = [p for p in placed if runs[p.case.id].before and all(runs[p.case.id].before.values())]
        if not good:
            raise RuntimeError(f"no {family} case passes on `before`:\n{before.output[-4000:]}")
        for p in good:
            project.put(p.page, p.case.after.replace("{url}", p.url))
            commit(project.repo, f"{p.case.id}: {p.case.summary}"[:72].rstrip()
                   + f"\n\n{p.case.summary}\n")
        base = git(project.repo, "rev-parse", "HEAD").strip()
        tracked = [p.spec for p in good] + [p.page for p in good]
        digest = tree_digest(project.repo, tracked)
        # The healer is measured here, not the budget per node: every case of a family heals on its one
        # node within the hour (12 with CORPUS_E2E_MAX=all, up to 3 attempts each).
        settings = StackSettings(config=config, data_dir=data, node_name=f"corpus-{family}",
                                 concurrency=1, start_timeout=120,
                                 queue_args=("--actions-per-hour-node", "0"))
        t = time.monotonic()
        with Stack(settings) as stack:
            seconds["stack start"] = time.monotonic() - t
            # What a user's suite on the node's machine gets (`healloop up` prints it): the queue, the
            # node's name and its artifacts folder, where the reporters write the DOM snapshots.
            report_env = env | stack.reporter_env() | {"HEALLOOP_SPOOL": str(data / "spool")}
            reported = project.suite([p.spec for p in good], root / "reported.xml", report_env)
            seconds["suite on after, reporting"] = reported.seconds
            failed = sum(not ok for ok in reported.passed.values())
            t = time.monotonic()
            events, unfinished = _wait_for_events(stack, failed)
            seconds["events to end"] = time.monotonic() - t
            logs = {part: stack.log(part).read_text(errors="replace")[-6000:] for part in
                    ("queue", "node", "agent")}
        porcelain = git(project.repo, "status", "--porcelain").splitlines()
        # Only the heal cases' specs: the escalate cases' still fail, which the reporting run showed.
        final = project.suite([p.spec for p in good if p.case.outcome == "heal"], root / "final.xml", env)
        seconds["suite on after, healed"] = final.seconds
        porcelain_after_final = git(project.repo, "status", "--porcelain").splitlines()
        if porcelain_after_final != porcelain:
            raise RuntimeError("the last suite run itself changed the working tree: "
                               f"{porcelain} → {porcelain_after_final}")
        history = _commits_since(project.repo, base)
        for p in good:
            run = runs[p.case.id]
            run.reported = reported.of(p.spec)
            run.final = final.of(p.spec)
            run.events = [e for e in events if e.get("spec") == p.spec]
            run.commits = [c for c in history if p.spec in c["files"]]
            run.spec_committed = git(project.repo, "show", f"{base}:{p.spec}")
            run.spec_now = (project.repo / p.spec).read_text(encoding="utf-8")
            run.digest_before = {k: digest[k] for k in (p.spec, p.page)}
            run.digest_after = tree_digest(project.repo, [p.spec, p.page])
            run.dirty = [line for line in porcelain if line[3:].strip() in (p.spec, p.page)]
    seconds["total"] = time.monotonic() - started
    return FamilyRun(family, root, runs, porcelain, unfinished, seconds, logs)


def _wait_for_events(stack: Stack, failed: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Every reported event with its history once all are resolved or escalated, or at the deadline
    (then the ids still open come back too). ``failed`` failing tests were reported: as many reports."""
    with stack.client() as q:

        def listed() -> list[dict[str, Any]]:
            return q.get("/v1/events", params={"limit": 1000}).json()["events"]

        deadline = time.monotonic() + REPORT_WAIT_S
        events = listed()
        while sum(e["count"] for e in events) < failed and time.monotonic() < deadline:
            time.sleep(0.2)
            events = listed()
        deadline = time.monotonic() + 60 + EVENT_WAIT_S * max(1, len(events))
        while any(e["status"] not in FINAL for e in events) and time.monotonic() < deadline:
            time.sleep(0.5)
            events = listed()
        unfinished = [e["id"] for e in events if e["status"] not in FINAL]
        full = [q.get(f"/v1/events/{e['id']}").json() for e in events]
        for e in full:
            # The DOM snapshot the agent read, to judge its heal by the element (`snapshot`).
            dom = next((a for a in e.get("artifacts") or [] if a.get("url")
                        and "html" in str(a.get("content_type"))), None)
            e["snapshot"] = q.get(dom["url"]).text if dom else None
        return full, unfinished


def _commits_since(repo: Path, base: str) -> list[dict[str, Any]]:
    out = git(repo, "log", "--format=%x00%H%x01%an%x01%B%x01", "--name-only", f"{base}..HEAD")
    commits = []
    for chunk in out.split("\x00")[1:]:
        sha, author, body, files = chunk.split("\x01")
        trailers = re.findall(r"^Healloop-Event: (\S+)$", body, re.MULTILINE)
        commits.append({"sha": sha, "author": author, "subject": body.splitlines()[0] if body else "",
                        "events": trailers, "files": [f for f in files.split("\n") if f.strip()]})
    return commits
