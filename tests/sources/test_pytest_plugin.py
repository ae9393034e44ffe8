"""The pytest plugin in real pytest runs (pytester, in a subprocess so the entry point loads as it
does for users) against a real queue; with pytest-playwright and Selenium in Debian's Chromium, their
files read back through the tool node's own read_artifact."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from healloop.node.config import load_config
from healloop.node.tools import Node, node_tools
from tests.support import QueueServer

CHROMIUM = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                              reason="needs /usr/bin/chromium (scripts/setup installs it)")
SELENIUM = pytest.mark.skipif(not Path("/usr/bin/chromedriver").exists(),
                              reason="needs /usr/bin/chromedriver (scripts/setup installs it)")

pytest_plugins = ["pytester"]

SUITE = '''
import pytest

def test_passes():
    assert True

def test_refund():
    refund = {"amount": 10}
    assert refund["amount"] == 12, "refund should include shipping"

@pytest.fixture
def db():
    raise RuntimeError("database is not reachable")

def test_uses_db(db):
    pass
'''


@pytest.fixture
def env(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    for name in ("HEALLOOP_URL", "HEALLOOP_TOKEN", "HEALLOOP_RUN_ID", "HEALLOOP_REPORT",
                 "HEALLOOP_ARTIFACTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HEALLOOP_SPOOL", str(tmp_path / "spool"))
    monkeypatch.setenv("HEALLOOP_NODE", "ci-7")
    monkeypatch.setenv("HEALLOOP_REPORT_BUDGET", "0.5")
    pytester.makepyfile(test_orders=SUITE)
    return pytester


def events(server: QueueServer) -> list[dict]:
    with server.client() as c:
        return c.get("/v1/events").json()["events"]


def test_inert_without_flag_or_url(env: pytest.Pytester, server: QueueServer) -> None:
    result = env.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, errors=1)
    assert events(server) == []
    assert "healloop:" not in result.stdout.str()


def test_reports_failures_with_node_id_message_and_traceback(
        env: pytest.Pytester, server: QueueServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALLOOP_URL", server.url)
    result = env.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines([f"healloop: 2 failure(s) reported to {server.url}"])
    got = {e["test"]: e for e in events(server)}
    assert set(got) == {"test_refund", "test_uses_db"}
    refund = got["test_refund"]
    assert (refund["spec"], refund["nodes"]) == ("test_orders.py", ["ci-7"])
    assert refund["message"] == "AssertionError: refund should include shipping\nassert 10 == 12"
    assert 'assert refund["amount"] == 12' in refund["stack"]
    assert refund["labels"]["phase"] == "call" and refund["source"] == "pytest"
    assert got["test_uses_db"]["labels"]["phase"] == "setup"
    assert "database is not reachable" in got["test_uses_db"]["message"]


def test_queue_down_costs_the_run_nothing_and_the_next_run_delivers(
        env: pytest.Pytester, make_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEALLOOP_URL", "http://127.0.0.1:9")
    down = env.runpytest_subprocess("--healloop")
    down.assert_outcomes(passed=1, failed=1, errors=1)
    assert down.ret == 1, "the suite's own exit code"
    assert down.stdout.str().count("is not taking reports") == 1
    assert len(list((tmp_path / "spool").glob("*.json"))) == 2

    server = make_server()
    monkeypatch.setenv("HEALLOOP_URL", server.url)
    env.makepyfile(test_orders=SUITE.replace('"amount": 10', '"amount": 12'))
    up = env.runpytest_subprocess()
    up.assert_outcomes(passed=2, errors=1)
    got = events(server)
    assert sorted(e["test"] for e in got) == ["test_refund", "test_uses_db"]
    # test_refund passes now: its report is the spooled one; test_uses_db failed in both runs.
    assert {e["test"]: e["count"] for e in got} == {"test_refund": 1, "test_uses_db": 2}
    up.stdout.fnmatch_lines(["healloop: 2 report(s) of earlier runs delivered"])
    assert not list((tmp_path / "spool").glob("*.json"))


def test_report_off_reports_nothing_even_with_a_queue_url(
        env: pytest.Pytester, server: QueueServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEALLOOP_URL", server.url)
    monkeypatch.setenv("HEALLOOP_REPORT", "off")
    result = env.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, errors=1)
    assert result.ret == 1, "the suite's own exit code"
    assert result.stdout.str().count("healloop:") == 1
    result.stdout.fnmatch_lines(["healloop: reporting is off (HEALLOOP_REPORT=off); nothing sent"])
    assert events(server) == []
    assert not (tmp_path / "spool").exists()


def test_a_bad_report_setting_stops_the_run_before_any_test(
        env: pytest.Pytester, server: QueueServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALLOOP_URL", server.url)
    monkeypatch.setenv("HEALLOOP_REPORT", "later")
    result = env.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*healloop: HEALLOOP_REPORT must be on or off*got 'later'*"])


LOCALITY_SUITE = '''
import socket
import urllib.request

def test_refund():
    refund = {"amount": 10}
    assert refund["amount"] == 12, "refund should include shipping"

def test_health():
    # Nothing listens on a port that was free a moment ago, so this machine refuses the connection.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
'''


def test_a_local_failure_is_an_event_per_node_and_an_assertion_one_event_for_all(
        env: pytest.Pytester, server: QueueServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALLOOP_URL", server.url)
    env.makepyfile(test_orders=LOCALITY_SUITE)
    for node in ("ci-7", "ci-8"):
        monkeypatch.setenv("HEALLOOP_NODE", node)
        env.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(failed=2)
    got = events(server)
    health = sorted((e for e in got if e["test"] == "test_health"), key=lambda e: e["nodes"])
    assert [(e["nodes"], e["count"]) for e in health] == [(["ci-7"], 1), (["ci-8"], 1)]
    assert health[0]["fingerprint"] != health[1]["fingerprint"]
    for e in health:
        assert e["labels"]["local_reason"].startswith("connection refused to 127.0.0.1:"), e["labels"]
    [refund] = [e for e in got if e["test"] == "test_refund"]
    assert (refund["nodes"], refund["count"]) == (["ci-7", "ci-8"], 2)
    assert "local_reason" not in refund["labels"]
    assert len(got) == 3


PAGE_SUITE = '''
def test_login_error(page):
    page.set_content("<main><h1>Sign in</h1><button data-cy=submit>Go</button></main>")
    assert page.locator("[data-cy=error]").count() == 1, "no error message shown"
'''

CHROMIUM_CONFTEST = '''
import pytest

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium",
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run"]}
'''


@pytest.fixture
def own_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """TMPDIR of the run's own, so the temporary folders it leaves behind can be counted. Short:
    Chromium puts a socket in it, and a socket path over 107 bytes stops it at launch."""
    tmp = Path(tempfile.mkdtemp(prefix="hl-"))
    monkeypatch.setenv("TMPDIR", str(tmp))
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def node_reader(workspace: Path, state: Path) -> tuple[Path, Callable[[str], Any]]:
    """The artifacts folder and the read_artifact tool of a node on ``workspace`` (not created yet:
    the reporter makes it)."""
    config = workspace / "healloop.toml"
    config.write_text('[node]\nworkspace = "."\nartifacts = "out/node-artifacts"\n')
    node = Node.from_config(load_config(config, state_dir=state))
    tools = {fn.__name__: fn for fn, _ in node_tools(node)}
    return node.config.artifacts, lambda path: tools["read_artifact"](path=path)


@CHROMIUM
def test_pytest_playwright_page_screenshot_and_dom_are_attached(
        env: pytest.Pytester, server: QueueServer, monkeypatch: pytest.MonkeyPatch, own_tmp: Path) -> None:
    monkeypatch.setenv("HEALLOOP_URL", server.url)
    env.makepyfile(test_orders="", test_login=PAGE_SUITE)
    env.makeconftest(CHROMIUM_CONFTEST)
    result = env.runpytest_subprocess("-p", "no:cacheprovider", "test_login.py")
    result.assert_outcomes(failed=1)
    [e] = events(server)
    assert e["message"].startswith("AssertionError: no error message shown")
    uploaded = {a["name"]: a for a in e["artifacts"] if a.get("url")}
    assert set(uploaded) == {"test_login_error_chromium (failed).png", "test_login_error_chromium.dom.html"}
    assert e["labels"]["url"] == "about:blank"
    with server.client() as c:
        dom = c.get(uploaded["test_login_error_chromium.dom.html"]["url"]).text
        png = c.get(uploaded["test_login_error_chromium (failed).png"]["url"]).content
    assert '<button data-cy="submit">Go</button>' in dom
    assert png.startswith(b"\x89PNG")
    # Without HEALLOOP_ARTIFACTS the files went to a temporary folder, deleted once uploaded.
    reported = [Path(a["path"]) for a in e["artifacts"] if a.get("path")]
    assert len(reported) == 2 and all(p.is_relative_to(own_tmp) and not p.exists() for p in reported)
    assert not list(own_tmp.glob("healloop-*"))


@CHROMIUM
def test_pytest_playwright_writes_where_the_node_reads(
        env: pytest.Pytester, server: QueueServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder, read_artifact = node_reader(env.path, tmp_path / "node-state")
    monkeypatch.setenv("HEALLOOP_URL", server.url)
    monkeypatch.setenv("HEALLOOP_ARTIFACTS", str(folder))
    env.makepyfile(test_orders="", test_login=PAGE_SUITE)
    env.makeconftest(CHROMIUM_CONFTEST)
    env.runpytest_subprocess("-p", "no:cacheprovider", "test_login.py").assert_outcomes(failed=1)
    [e] = events(server)
    paths = {a["name"]: a["path"] for a in e["artifacts"] if a.get("path")}
    dom_path = paths["test_login_error_chromium.dom.html"]
    assert dom_path.startswith("run-") and dom_path.count("/") == 2, "run folder / failure folder / file"
    assert dom_path.split("/")[1].startswith("test_login.py -- test_login_error_chromium-")
    url = next(a["url"] for a in e["artifacts"] if a.get("url") and a["name"].endswith(".dom.html"))
    with server.client() as c:
        uploaded = c.get(url).text
    node_copy = read_artifact(dom_path)
    assert node_copy["text"] == uploaded and '<button data-cy="submit">Go</button>' in uploaded
    shot = read_artifact(paths["test_login_error_chromium (failed).png"])
    assert shot.data.startswith(b"\x89PNG")
    # A second run writes beside the first, never over it.
    env.runpytest_subprocess("-p", "no:cacheprovider", "test_login.py").assert_outcomes(failed=1)
    runs = sorted(p.name for p in folder.iterdir())
    assert len(runs) == 2 and all(r.startswith("run-") for r in runs)


SELENIUM_SUITE = """
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service


@pytest.fixture
def driver():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    yield d
    d.quit()


def test_checkout(driver):
    driver.get("data:text/html,<main><h1>Basket</h1><button data-cy=pay>Pay now</button></main>")
    assert driver.find_elements("css selector", "[data-cy=checkout]"), "no checkout button"
"""


@CHROMIUM
@SELENIUM
def test_selenium_driver_is_captured_like_a_playwright_page(
        env: pytest.Pytester, make_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        own_tmp: Path) -> None:
    env.makepyfile(test_orders="", test_checkout=SELENIUM_SUITE)
    # The queue is down and there is no artifacts folder: the spool keeps copies, the temporary
    # folder goes.
    monkeypatch.setenv("HEALLOOP_URL", "http://127.0.0.1:9")
    env.runpytest_subprocess("-p", "no:cacheprovider", "test_checkout.py").assert_outcomes(failed=1)
    kept = sorted(p.name.split("-", 1)[1] for p in (tmp_path / "spool").glob("*.files/*"))
    assert kept == ["test_checkout (failed).png", "test_checkout.dom.html"]
    assert not list(own_tmp.glob("healloop-*"))

    server = make_server()
    folder, read_artifact = node_reader(env.path, tmp_path / "node-state")
    monkeypatch.setenv("HEALLOOP_URL", server.url)
    monkeypatch.setenv("HEALLOOP_ARTIFACTS", str(folder))
    env.runpytest_subprocess("-p", "no:cacheprovider", "test_checkout.py").assert_outcomes(failed=1)
    [e] = events(server)
    assert e["count"] == 2, "the spooled report and this run's"
    assert e["message"].startswith("AssertionError: no checkout button")
    assert e["labels"]["url"].startswith("data:text/html,")
    uploaded = {a["name"] for a in e["artifacts"] if a.get("url")}
    assert uploaded == {"test_checkout (failed).png", "test_checkout.dom.html"}
    paths = {a["name"]: a["path"] for a in e["artifacts"] if a.get("path")}
    dom = read_artifact(paths["test_checkout.dom.html"])["text"]
    assert '<button data-cy="pay">Pay now</button>' in dom
    assert read_artifact(paths["test_checkout (failed).png"]).data.startswith(b"\x89PNG")


DRIVER_SHAPED_SUITE = '''
import pytest


class Driver:
    """Shaped like a Selenium WebDriver, so the run needs no browser."""
    current_url = "http://shop.test/cart"

    @property
    def page_source(self):
        return "<main><button data-cy=pay>Pay</button></main>"

    def save_screenshot(self, filename):
        with open(filename, "wb") as f:
            f.write(b"\\x89PNG fake")
        return True


@pytest.fixture
def selenium():
    return Driver()


@pytest.mark.parametrize("n", range(4))
def test_pay(selenium, n):
    assert n == 99, "no pay button"
'''


def test_xdist_workers_capture_into_the_controllers_run_folder(
        env: pytest.Pytester, server: QueueServer, monkeypatch: pytest.MonkeyPatch, own_tmp: Path) -> None:
    monkeypatch.setenv("HEALLOOP_URL", server.url)
    env.makepyfile(test_orders="", test_pay=DRIVER_SHAPED_SUITE)
    result = env.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "test_pay.py")
    result.assert_outcomes(failed=4)
    got = events(server)
    assert len(got) == 4
    for e in got:
        n = e["test"].split("[")[1].rstrip("]")
        uploaded = {a["name"] for a in e["artifacts"] if a.get("url")}
        assert uploaded == {f"test_pay_{n} (failed).png", f"test_pay_{n}.dom.html"}, e["artifacts"]
        assert e["labels"]["url"] == "http://shop.test/cart"
    # One temporary folder for the whole run, made by the controller, deleted once all were sent.
    assert not list(own_tmp.glob("healloop-*"))
