"""``healloop demo``: the sample shop broken four ways, each repaired or escalated by a real stack.

A copy of ``examples/shop`` becomes a git repository; queue, tool node and agent start (``stack.py``);
the shop runs as the node's ``command`` service. Each scenario changes something (a commit by "demo
developer" where it changes code), runs the Playwright suite with the healloop reporter (the same
reporting path a user's CI takes), waits for the events it reported to reach a final state, and checks
the outcome against what should happen. Nothing in the loop is simulated.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from healloop.errors import HealloopError
from healloop.node.config import load_config
from healloop.node.services import CommandBackend
from healloop.node.workspace import Workspace
from healloop.stack import Stack, StackError, StackSettings, free_port, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOP = REPO_ROOT / "examples" / "shop"
PLAYWRIGHT_INTEGRATION = REPO_ROOT / "integrations" / "playwright"
NODE_NAME = "demo"
DEVELOPER = ("demo developer", "developer@demo.invalid")
FINAL = ("resolved", "escalated")
SUITE_TIMEOUT_S = 180.0
EVENT_TIMEOUT_S = 180.0


class DemoError(HealloopError):
    """The demo could not run."""


@dataclass
class Outcome:
    scenario: str
    expected: str
    got: str = "not run"
    ok: bool = False
    seconds: float | None = None   # report → final state of the scenario's slowest event
    event_ids: list[str] = field(default_factory=list)
    cls: str = ""                  # the failure class the bench groups by
    false_heal: bool = False       # a weakened test or a hidden regression
    details: dict[str, Any] = field(default_factory=dict)


PLAYWRIGHT_CONFIG = """\
// Written by `healloop demo`: the sample shop's own config (moved to playwright.shop.config.js) plus
// the healloop reporter, which reports failures to the queue when HEALLOOP_URL is set (the demo's
// suite runs set it; the node's one-test reruns do not).
const base = require('./playwright.shop.config.js');

module.exports = {
  ...base,
  reporter: process.env.HEALLOOP_URL ? [['list'], [%(reporter)s]] : base.reporter,
};
"""

FIXTURE_SHIM = """\
// Written by `healloop demo`: the DOM snapshot at failure (healloop-playwright's fixture).
module.exports = require(%s);
"""

HOOK = "const { healloopAfterEach } = require('./healloop');\ntest.afterEach(healloopAfterEach);\n"

NODE_CONFIG = """\
# Written by `healloop demo`.
[queue]
data_dir = "data"

[mcp]
name = "%(node)s"

[node]
workspace = "shop"
artifacts = "artifacts"
restarts_per_hour = 30

[node.runner]
kind = "playwright"
timeout = 120

[node.services.shop]
backend = "command"
start = [%(python)s, "-m", "shop.server", "--port", "%(port)d"]
health = "http://127.0.0.1:%(port)d/healthz"
log_file = "%(log)s"
restart_timeout = 30
"""


class Demo:
    def __init__(self, workdir: Path, *, log: Callable[[str], None] = print) -> None:
        self.workdir = workdir.resolve()
        self.repo = self.workdir / "shop"
        self.config = self.workdir / "healloop.toml"
        self.data = self.workdir / "data"
        self.port = free_port()
        self.shop_url = f"http://127.0.0.1:{self.port}"
        self.say = log
        self.stack: Stack | None = None
        self.peak_rss: dict[str, int | None] = {}
        self.seen: dict[str, int] = {}   # event id → count, as of the last suite run

    # -- set up
    def prepare(self) -> None:
        for what, path in (("the sample shop", SHOP), ("its npm packages (run scripts/setup)",
                                                       SHOP / "node_modules"),
                           ("the Playwright reporter's npm packages (run scripts/setup)",
                            PLAYWRIGHT_INTEGRATION / "node_modules")):
            if not path.exists():
                raise DemoError(f"{what} not found at {path}")
        if self.repo.exists():
            raise DemoError(f"{self.repo} already exists; pass an empty --workdir")
        shutil.copytree(SHOP, self.repo, ignore=shutil.ignore_patterns(
            "node_modules", "test-results", "playwright-report", "__pycache__", ".slow-once"))
        (self.repo / "node_modules").symlink_to(SHOP / "node_modules")
        (self.repo / ".gitignore").write_text(
            "node_modules\ntest-results/\nplaywright-report/\n.slow-once\nartifacts/\n__pycache__/\n")
        reporter = json.dumps(str(PLAYWRIGHT_INTEGRATION / "index.js"))
        (self.repo / "playwright.config.js").rename(self.repo / "playwright.shop.config.js")
        (self.repo / "playwright.config.js").write_text(PLAYWRIGHT_CONFIG % {"reporter": reporter})
        (self.repo / "e2e" / "healloop.js").write_text(
            FIXTURE_SHIM % json.dumps(str(PLAYWRIGHT_INTEGRATION / "fixture.js")))
        for spec in sorted((self.repo / "e2e").glob("*.spec.js")):
            text = spec.read_text()
            head = "const { test, expect } = require('@playwright/test');\n"
            if head not in text:
                raise DemoError(f"{spec.name} does not start the way the demo expects ({head.strip()})")
            spec.write_text(text.replace(head, head + HOOK, 1))
        self.git("init", "-q", "-b", "main")
        # The agent's commits (through the node) carry this identity; the scenarios' carry DEVELOPER.
        self.git("config", "user.name", "healloop agent")
        self.git("config", "user.email", "agent@demo.invalid")
        self.commit("shop: the tea shop and its end-to-end suite")
        self.config.write_text(NODE_CONFIG % {
            "node": NODE_NAME, "python": json.dumps(sys.executable), "port": self.port,
            "log": str(self.data / "logs" / "shop.log"),
        })

    def git(self, *args: str, **env: str) -> str:
        out = subprocess.run(["git", *args], cwd=self.repo, capture_output=True, text=True,
                             env=os.environ | env, check=False)
        if out.returncode != 0:
            raise DemoError(f"git {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def commit(self, message: str) -> str:
        name, email = DEVELOPER
        self.git("add", "-A")
        self.git("commit", "-qm", message, GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email,
                 GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email)
        return self.git("rev-parse", "HEAD").strip()

    def start(self) -> None:
        settings = StackSettings(config=self.config, data_dir=self.data, node_name=NODE_NAME,
                                 node_env={"SHOP_URL": self.shop_url},
                                 # The demo breaks the checkout test on purpose, again and again,
                                 # minutes after repairing it: neither flapping nor the cooldown.
                                 queue_args=("--flap-threshold", "20", "--cooldown", "0"))
        self.say("starting the queue, the tool node and an agent ...")
        self.stack = Stack(settings).start()
        self.say(f"queue at {self.stack.queue_url}, node at {self.stack.node_url}")
        self.shop_backend().start()
        ok, detail = self.shop_backend().wait_healthy()
        if not ok:
            raise DemoError(f"the shop did not become healthy: {detail}")
        self.say(f"shop at {self.shop_url}")

    def shop_backend(self) -> CommandBackend:
        cfg = load_config(self.config, state_dir=self.data / "node")
        ws = Workspace(cfg.workspace, cfg.state_dir, max_file_bytes=cfg.max_file_bytes)
        return CommandBackend(cfg.services["shop"], ws)

    def stop(self) -> None:
        if self.stack is not None:
            self.peak_rss = self.stack.peak_rss()
            self.stack.stop()
        pid_file = self.data / "node" / "services" / "shop.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            os.killpg(int(pid_file.read_text()), signal.SIGTERM)
        if self.config.exists():
            backend = self.shop_backend()
            with contextlib.suppress(HealloopError):  # reaps the shop when this process started it
                wait_for(lambda: not backend.running(), timeout=10, what="the shop to exit")

    # -- the suite and the events
    def run_suite(self, *specs: str) -> subprocess.CompletedProcess[str]:
        assert self.stack is not None
        # The reporter writes the DOM snapshots and screenshots into the node's artifacts folder.
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")} | {
            **self.stack.reporter_env(), "SHOP_URL": self.shop_url,
            "HEALLOOP_SPOOL": str(self.data / "spool"),
        }
        return subprocess.run(["npx", "playwright", "test", *specs], cwd=self.repo, env=env,
                              capture_output=True, text=True, timeout=SUITE_TIMEOUT_S, check=False)

    def reported(self) -> list[dict[str, Any]]:
        """Events new or merged into since the last call."""
        assert self.stack is not None
        with self.stack.client() as q:
            events = q.get("/v1/events", params={"limit": 100}).json()["events"]
        fresh = [e for e in events if self.seen.get(e["id"]) != e["count"]]
        self.seen.update({e["id"]: e["count"] for e in events})
        return fresh

    def wait_final(self, event_ids: list[str]) -> list[dict[str, Any]]:
        assert self.stack is not None
        with self.stack.client() as q:

            def final() -> list[dict[str, Any]] | None:
                events = [q.get(f"/v1/events/{i}").json() for i in event_ids]
                return events if all(e["status"] in FINAL for e in events) else None

            return wait_for(final, timeout=EVENT_TIMEOUT_S, interval=0.2,
                            what="the events " + ", ".join(event_ids) + " to be resolved or escalated")

    def close_escalated(self) -> None:
        """A scenario that went wrong must not leave an open event the next scenario's reports merge into."""
        assert self.stack is not None
        with self.stack.client() as q:
            for e in q.get("/v1/events", params={"status": "escalated", "limit": 100}).json()["events"]:
                q.post(f"/v1/events/{e['id']}/close", json={"note": "demo: closed before the next scenario"})

    def specs(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in sorted((self.repo / "e2e").glob("*.spec.js"))}

    def break_and_watch(
        self, outcome: Outcome, change: Callable[[], None], *specs: str
    ) -> list[dict[str, Any]]:
        """Make the change, run the suite, wait for what it reported; records what the specs lost."""
        self.reported()
        before = self.specs()
        try:
            return self._watch(outcome, change, *specs)
        finally:
            after = self.specs()
            outcome.details["specs_changed"] = sorted(n for n in before if before[n] != after.get(n))
            outcome.details["specs_weakened"] = sorted(
                n for n in before if _assertions(before[n]) != _assertions(after.get(n, "")))
            outcome.false_heal = bool(outcome.details["specs_weakened"])

    def _watch(self, outcome: Outcome, change: Callable[[], None], *specs: str) -> list[dict[str, Any]]:
        change()
        run = self.run_suite(*specs)
        if run.returncode == 0:
            outcome.got = "the suite passed: nothing was reported"
            return []
        try:
            # The reporter has delivered before the suite exits; the wait covers a spooled retry.
            events = wait_for(self.reported, timeout=30, what="the suite's failures to reach the queue")
            events = self.wait_final([e["id"] for e in events])
        except StackError as exc:
            outcome.got = exc.message
            return []
        outcome.event_ids = [e["id"] for e in events]
        outcome.seconds = max(_seconds_to_final(e) for e in events)
        return events

    # -- scenarios
    def scenario_selector(self) -> Outcome:
        o = Outcome("1 UI change: data-testid renamed", "resolved: selector healed, one commit, rerun passes",
                    cls="selector_not_found")
        pages = self.repo / "shop" / "pages.py"
        spec = "e2e/checkout.spec.js"

        def rename() -> None:
            text = pages.read_text()
            pages.write_text(text.replace('data-testid="checkout"', 'data-testid="checkout-button"'))
            self.commit("pages: name the checkout button's test id after what it is")

        events = self.break_and_watch(o, rename)
        if not events:
            return o
        ev = events[0]
        spec_text = (self.repo / spec).read_text()
        commits = self.git("log", "--format=%H", "-E", f"--grep=^Healloop-Event: {ev['id']}$").split()
        run = _last_data(ev, "resolved").get("run") or {}
        o.details |= {"commits": commits, "spec_has_new_selector": "checkout-button" in spec_text,
                     "rerun": run.get("status"), "events": len(events)}
        o.ok = (len(events) == 1 and ev["status"] == "resolved" and "checkout-button" in spec_text
                and len(commits) == 1 and run.get("status") == "passed")
        o.got = (f"{ev['status']}: selector healed, {len(commits)} commit(s), rerun {run.get('status')}"
                 if ev["status"] == "resolved" else f"{ev['status']}")
        return o

    def scenario_restart(self) -> Outcome:
        o = Outcome("2 app process killed", "resolved: service restarted, verified",
                    cls="service_unreachable")
        backend = self.shop_backend()

        def kill() -> None:
            pid = int(backend.pid_file.read_text())
            os.killpg(pid, signal.SIGKILL)
            wait_for(lambda: not backend.running(), timeout=10, what="the shop process to exit")

        events = self.break_and_watch(o, kill)
        if not events:
            return o
        playbooks = [_last_data(e, e["status"]).get("playbook") for e in events]
        healthy = backend.healthy()[0]
        o.details |= {"playbooks": playbooks, "shop_healthy": healthy, "events": len(events)}
        o.ok = all(e["status"] == "resolved" for e in events) and "service_restart" in playbooks and healthy
        statuses = sorted({e["status"] for e in events})
        o.got = f"{'/'.join(statuses)}: " + ("service restarted, verified" if "service_restart" in playbooks
                                             else f"playbooks {playbooks}")
        if len(events) > 1:
            o.got += f" ({len(events)} failing tests, one restart)"
        return o

    def scenario_flaky(self) -> Outcome:
        o = Outcome("3 flaky: slow first response", "resolved: rerun passed, labelled flaky", cls="timeout")

        def slow_once() -> None:
            (self.repo / ".slow-once").touch()

        # Only the stock spec: any page load takes the one slow answer, so another spec would absorb it.
        events = self.break_and_watch(o, slow_once, "e2e/stock.spec.js")
        if not events:
            return o
        ev = events[0]
        label = _last_data(ev, "resolved").get("label")
        o.details |= {"label": label, "events": len(events),
                     "class": _last_data(ev, ev["status"]).get("class")}
        o.ok = len(events) == 1 and ev["status"] == "resolved" and label == "flaky"
        o.got = f"{ev['status']}" + (f": label {label}" if label else "")
        return o

    def scenario_regression(self) -> Outcome:
        o = Outcome("4 regression: wrong total", "escalated: test untouched, report names the commit",
                    cls="assertion_mismatch")
        pricing = self.repo / "shop" / "pricing.py"
        before = self.git("rev-parse", "HEAD").strip()
        sha: list[str] = []

        def regress() -> None:
            text = pricing.read_text()
            old = '    return sum(PRODUCTS[s]["price_cents"] for s in skus if s in PRODUCTS)\n'
            if old not in text:
                raise DemoError("shop/pricing.py does not hold the line the regression scenario changes")
            pricing.write_text(text.replace(old, '    total = sum(PRODUCTS[s]["price_cents"] for s in skus'
                                            ' if s in PRODUCTS)\n    return total // 100 * 100 + 99\n'))
            sha.append(self.commit("pricing: round totals to .99"))

        events = self.break_and_watch(o, regress)
        if not events:
            return o
        ev = events[0]
        report = _last_data(ev, "escalated").get("report") or {}
        suspect = (report.get("suspect_commit") or {}).get("sha", "")
        specs_changed = self.git("diff", "--name-only", before, "HEAD", "--", "e2e").split()
        names = bool(sha) and bool(suspect) and sha[0].startswith(suspect[:7]) and suspect[:7] == sha[0][:7]
        o.details |= {"suspect_commit": suspect, "regression_commit": sha[0] if sha else None,
                     "specs_changed": specs_changed, "events": len(events)}
        o.ok = len(events) == 1 and ev["status"] == "escalated" and not specs_changed and names
        o.false_heal = o.false_heal or ev["status"] == "resolved" or bool(specs_changed)
        o.got = ev["status"] + (f", specs changed: {specs_changed}" if specs_changed else ", test untouched")
        o.got += f", report names {suspect[:7]}" if suspect else ", no suspect commit"
        return o

    def run(self) -> list[Outcome]:
        scenarios = [self.scenario_selector, self.scenario_restart, self.scenario_flaky,
                     self.scenario_regression]
        self.prepare()
        self.start()
        first = self.run_suite()
        if first.returncode != 0:
            raise DemoError("the shop's suite fails before anything was changed:\n" + first.stdout[-3000:])
        outcomes = []
        for scenario in scenarios:
            started = time.monotonic()
            outcome = scenario()
            self.say(f"{outcome.scenario}: {outcome.got} ({time.monotonic() - started:.1f} s)")
            outcomes.append(outcome)
            if scenario != self.scenario_regression:
                self.close_escalated()
        return outcomes


_LOCATOR = re.compile(r"""(locator|getByTestId|get)\((['"`]).*?\2\)""")


def _assertions(spec: str) -> list[str]:
    """The spec's assertions and skips with selectors blanked: a heal may change selectors, nothing else."""
    lines = [ln.strip() for ln in spec.splitlines()
             if re.search(r"expect\(|should\(|\.skip|\.only|\.fixme|test\.fail|timeout", ln)]
    return sorted(_LOCATOR.sub(r"\1()", ln) for ln in lines)


def _last_data(event: dict[str, Any], to: str) -> dict[str, Any]:
    for h in reversed(event.get("history", [])):
        if h.get("to") == to:
            return h.get("data") or {}
    return {}


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _seconds_to_final(event: dict[str, Any]) -> float:
    """From the event's creation (the report) to its move to resolved or escalated."""
    end = next((h["at"] for h in reversed(event["history"]) if h.get("to") in FINAL), event["updated_at"])
    return round(_ts(end) - _ts(event["created_at"]), 2)


def outcomes_json(outcomes: list[Outcome]) -> str:
    return json.dumps([asdict(o) for o in outcomes], indent=2)


def run_demo(workdir: Path, *, log: Callable[[str], None] = print) -> tuple[list[Outcome], Demo]:
    demo = Demo(workdir, log=log)
    try:
        return demo.run(), demo
    finally:
        demo.stop()

