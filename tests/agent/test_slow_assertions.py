"""A web-first assertion that timed out waiting (Playwright's ``to_have_text``) is decided by a rerun:
a slow page passes unchanged and is labelled flaky; a real regression fails again and is escalated
with the spec untouched. Real queue, node, agent, pytest-playwright and Debian's Chromium."""

from __future__ import annotations

import shutil

from tests.agent.conftest import git, history_data

CHROMIUM = "/usr/bin/chromium"

SERVER = '''
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!doctype html><html><body><h1>Stock</h1><p data-testid="stock"></p>
<script>setTimeout(() => {{
  document.querySelector('[data-testid=stock]').textContent = '{count} items in stock';
}}, {delay});</script></body></html>"""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = b"ok"
        else:
            slow = os.path.exists(".slow-once")
            if slow:
                os.remove(".slow-once")
            count = open("app/stock.txt").read().strip()
            body = PAGE.format(count=count, delay=4000 if slow else 0).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''

CONFTEST = f'''import sys, pathlib
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {{**browser_type_launch_args, "executable_path": "{CHROMIUM}",
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]}}
'''

SPEC = '''from playwright.sync_api import Page, expect

URL = "http://127.0.0.1:{port}/"


def test_stock_is_shown(page: Page):
    page.goto(URL)
    expect(page.get_by_test_id("stock")).to_have_text("42 items in stock", timeout=2000)
'''


def _setup(ws) -> None:  # type: ignore[no-untyped-def]
    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: run scripts/setup (it installs Chromium)"
    ws.commit("app: stock page, and its browser test", {
        "app/server.py": SERVER,
        "app/stock.txt": "42\n",
        "tests/conftest.py": CONFTEST,
        "tests/test_stock.py": SPEC.format(port=ws.web_port),
        ".gitignore": (ws.repo / ".gitignore").read_text() + ".slow-once\n",
    })
    ws.start_web()
    passed, message = ws.run_test("tests/test_stock.py", "test_stock_is_shown")
    assert passed, message


def test_a_slow_page_is_flaky_after_an_unchanged_rerun(ws) -> None:  # type: ignore[no-untyped-def]
    _setup(ws)
    (ws.repo / ".slow-once").write_text("1")
    event_id = ws.report_failure("tests/test_stock.py", "test_stock_is_shown")
    ws.start_agent()
    event = ws.wait_final(event_id, timeout=120)
    assert event["status"] == "resolved", event["history"]
    verifying = history_data(event, "verifying")[0]
    assert verifying["class"] == "assertion_timeout" and verifying["plan"]["playbook"] == "rerun"
    resolved = history_data(event, "resolved")[0]
    assert resolved["label"] == "flaky" and "commit" not in resolved
    assert git(ws.repo, "status", "--porcelain") == ""
    assert git(ws.repo, "log", "--format=%s", "-1").startswith("app: stock page")


def test_a_wrong_text_is_escalated_after_the_rerun_fails_too(ws) -> None:  # type: ignore[no-untyped-def]
    _setup(ws)
    suspect = ws.commit("stock: count from the new warehouse feed", {"app/stock.txt": "41\n"})
    spec_before = (ws.repo / "tests/test_stock.py").read_text()
    event_id = ws.report_failure("tests/test_stock.py", "test_stock_is_shown")
    ws.start_agent()
    event = ws.wait_final(event_id, timeout=120)
    assert event["status"] == "escalated", event["history"]
    reruns = [d for d in history_data(event, "analyzing") if d.get("failure")]
    assert reruns, "the failure was rerun before escalating"
    escalated = history_data(event, "escalated")[0]
    assert escalated["playbook"] == "regression"
    assert escalated["report"]["suspect_commit"]["sha"] == suspect
    assert (ws.repo / "tests/test_stock.py").read_text() == spec_before
    assert git(ws.repo, "status", "--porcelain") == ""
    assert ws.commits_for(event_id) == []
