"""End to end, as a user's machine runs it: a pytest-playwright suite in Debian's Chromium reports a
failure through the pytest plugin, writing the page's DOM snapshot and screenshot into the node's
artifacts folder (HEALLOOP_ARTIFACTS) and uploading them; the agent reads the snapshot with nothing
recorded missing, heals the selector from it, and the node's rerun passes in the same browser."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.agent.conftest import PY, history_data

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                                reason="needs /usr/bin/chromium (scripts/setup installs it)")

CONFTEST = '''import sys, pathlib
sys.path.insert(0, str(pathlib.Path(__file__).parent))

import pytest


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium",
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run"]}
'''

SPEC = '''URL = "http://127.0.0.1:{port}/"


def test_submit_order(page):
    page.goto(URL)
    page.locator("[data-cy=submit]").click(timeout=2000)
'''


def test_an_agent_heals_a_pytest_playwright_failure_from_its_dom_snapshot(ws):
    ws.commit("tests: a browser test of the order form", {
        "tests/conftest.py": CONFTEST, "tests/test_order_page.py": SPEC.format(port=ws.web_port)})
    ws.start_web()
    ws.rename_submit_button()
    artifacts = ws.repo / "artifacts"  # the node's [node] artifacts
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")} | {
        "HEALLOOP_URL": ws.queue.url, "HEALLOOP_NODE": "node-a", "HEALLOOP_ARTIFACTS": str(artifacts),
        "HEALLOOP_SPOOL": str(ws.root / "spool")}
    run = subprocess.run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_order_page.py"],
                         cwd=ws.repo, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 1 and "1 failure(s) reported" in run.stdout, run.stdout + run.stderr
    with ws.client() as q:
        [event] = q.list()
    paths = [a["path"] for a in event["artifacts"] if a.get("path")]
    assert paths and all((artifacts / p).is_file() for p in paths), paths

    ws.start_agent()
    event = ws.wait_final(event["id"], timeout=180)
    analysis = next(d["analysis"] for h in event["history"] if "analysis" in (d := h.get("data") or {}))
    assert analysis["dom_snapshot"] is True and analysis["screenshot"] is True
    assert analysis["missing"] == []
    assert event["status"] == "resolved", event["history"]
    assert history_data(event, "fixing")[0]["plan"]["details"]["new_locator"] == "css=[data-cy=submit-order]"
    assert history_data(event, "resolved")[0]["run"]["status"] == "passed"
    assert '"[data-cy=submit-order]"' in (ws.repo / "tests/test_order_page.py").read_text()
