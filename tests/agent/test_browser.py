"""A selector failure seen in a real browser: the workspace's test loads the app's page in headless
Chromium (Debian's /usr/bin/chromium, installed by scripts/setup), the agent heals the selector and the
rerun passes in the same browser."""

from __future__ import annotations

import shutil

from tests.agent.conftest import git, history_data

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

BROWSER_SPEC = '''import subprocess
import tempfile

from dom import find

CHROMIUM = {chromium!r}
URL = "http://127.0.0.1:{port}/"


def rendered_dom():
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             "--user-data-dir=" + profile, "--dump-dom", URL],
            capture_output=True, text=True, timeout=90,
        )
    assert proc.returncode == 0 and "<body" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def test_checkout_link():
    assert find(rendered_dom(), "[data-testid=checkout]", "test_checkout_link")
'''


def test_selector_healed_and_verified_in_chromium(ws):
    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: run scripts/setup (it installs Chromium)"
    html = (ws.repo / "app/index.html").read_text()
    link = '<a data-testid="checkout" href="/checkout">Checkout</a>'
    ws.commit(
        "app: checkout link, and a browser test for it",
        {
            "app/index.html": html.replace("</form>", f"</form>\n  {link}"),
            "tests/test_browser.py": BROWSER_SPEC.format(chromium=CHROMIUM, port=ws.web_port),
        },
    )
    ws.start_web()
    passed, message = ws.run_test("tests/test_browser.py", "test_checkout_link")
    assert passed, message  # the page, as Chromium renders it, has the link

    ws.commit(
        "app: rename the checkout link's test id",
        {"app/index.html": (ws.repo / "app/index.html").read_text().replace('"checkout"', '"checkout-now"')},
    )
    event_id = ws.report_failure(
        "tests/test_browser.py",
        "test_checkout_link",
        artifacts=[{"name": "dom", "content_type": "text/html", "path": "dom/test_checkout_link.html"}],
    )
    # The snapshot is what Chromium rendered, not the file on disk.
    snapshot = (ws.repo / "artifacts/dom/test_checkout_link.html").read_text()
    assert snapshot.startswith("<html><head></head><body>") and 'data-testid="checkout-now"' in snapshot

    ws.start_agent()
    event = ws.wait_final(event_id, timeout=120)
    assert event["status"] == "resolved", event["history"]
    fixing = history_data(event, "fixing")[0]
    assert fixing["class"] == "selector_not_found"
    assert fixing["plan"]["details"]["new_locator"] == "css=[data-testid=checkout-now]"
    resolved = history_data(event, "resolved")[0]
    assert resolved["run"]["status"] == "passed", resolved["run"]
    assert resolved["commit"]["files"] == ["tests/test_browser.py"]
    assert len(ws.commits_for(event_id)) == 1
    assert '"[data-testid=checkout-now]"' in (ws.repo / "tests/test_browser.py").read_text()
    assert git(ws.repo, "status", "--porcelain") == ""
    passed, message = ws.run_test("tests/test_browser.py", "test_checkout_link")
    assert passed, message
