"""``healloop report`` and ``healloop run`` as users run them: real processes, a real queue."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.sources.test_pytest_plugin import DRIVER_SHAPED_SUITE
from tests.support import QueueServer

FIXTURES = Path(__file__).parent / "fixtures" / "junit"


def healloop(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    base.update({"HEALLOOP_SPOOL": str(cwd / "spool"), "HEALLOOP_REPORT_BUDGET": "0.5",
                 "HEALLOOP_NODE": "build-4"}, **(env or {}))
    return subprocess.run([sys.executable, "-m", "healloop", *args], cwd=cwd, env=base, text=True,
                          capture_output=True, timeout=60)


def events(server: QueueServer) -> list[dict]:
    with server.client() as c:
        return c.get("/v1/events", params={"limit": 1000}).json()["events"]


def test_report_sends_each_file_once_and_names_bad_files(server: QueueServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<testsuites><testsuite>")
    files = [str(FIXTURES / "jest-junit.xml"), str(bad), str(FIXTURES / "pytest-junit.xml")]
    first = healloop("report", "--queue", server.url, *files, cwd=tmp_path)
    assert first.returncode == 1, "a bad file is an error"
    assert f"error: {bad}: not well-formed XML at line 1" in first.stderr
    assert "jest-junit.xml: 2 failing test(s): 2 delivered" in first.stdout
    assert "pytest-junit.xml: 2 failing test(s): 2 delivered" in first.stdout
    again = healloop("report", "--queue", server.url, str(FIXTURES / "jest-junit.xml"), cwd=tmp_path)
    assert again.returncode == 0 and "2 merged" in again.stdout
    got = events(server)
    assert len(got) == 4 and all(e["count"] == 1 and e["nodes"] == ["build-4"] for e in got)


def test_report_while_the_queue_is_down_then_flush(make_server, tmp_path: Path) -> None:
    down = healloop("report", "--queue", "http://127.0.0.1:9", "--root", "/tmp/jfx/mocha",
                    str(FIXTURES / "mocha-junit.xml"), cwd=tmp_path)
    assert down.returncode == 0, "nothing is lost: the reports wait in the spool"
    assert "2 spooled" in down.stdout and down.stderr.count("is not taking reports") == 1
    server = make_server()
    flushed = healloop("report", "--flush", "--queue", server.url, cwd=tmp_path)
    assert "2 flushed; 0 waiting" in flushed.stdout
    assert {e["spec"] for e in events(server)} == {"test/checkout.spec.js"}


def test_an_absolute_spec_outside_the_root_is_still_delivered_inside_a_repository(
    server: QueueServer, tmp_path: Path
) -> None:
    # mocha-junit-reporter writes absolute paths (/tmp/jfx/mocha/test/...). Without --root they fall
    # outside the working folder; the queue refuses a spec that leaves the repository, so the reporter
    # sends the path inside the nearest git work tree, else its last two parts: never a lost report.
    r = healloop("report", "--queue", server.url, str(FIXTURES / "mocha-junit.xml"), cwd=tmp_path)
    assert r.returncode == 0 and "2 delivered" in r.stdout, r.stdout + r.stderr
    assert {e["spec"] for e in events(server)} == {"test/checkout.spec.js"}
    repo = tmp_path / "shop"
    (repo / ".git").mkdir(parents=True)
    spec = repo / "e2e" / "cart" / "cart.spec.js"
    xml = tmp_path / "abs.xml"
    xml.write_text(f"""<testsuites><testsuite name="cart" file="{spec}">
<testcase name="adds" classname="cart"><failure message="boom">Error: boom</failure></testcase>
</testsuite></testsuites>""")
    elsewhere = tmp_path / "ci-workdir"
    elsewhere.mkdir()
    r = healloop("report", "--queue", server.url, str(xml), cwd=elsewhere)
    assert r.returncode == 0 and "1 delivered" in r.stdout, r.stdout + r.stderr
    assert "e2e/cart/cart.spec.js" in {e["spec"] for e in events(server)}


def test_repo_spec_keeps_inside_paths_and_brings_others_inside() -> None:
    from healloop.sources.failure import repo_spec

    assert repo_spec("e2e/login.spec.ts") == "e2e/login.spec.ts"
    assert repo_spec("e2e\\login.spec.ts") == "e2e\\login.spec.ts"  # as sent: the fingerprint's
    assert repo_spec("../../etc/passwd", cwd="/nonexistent/a/b") == "etc/passwd"
    assert repo_spec("C:\\ci\\shop\\e2e\\a.spec.js") == "e2e/a.spec.js"
    assert repo_spec("tests/../tests/test_a.py", cwd="/nonexistent") == "tests/test_a.py"


def test_report_needs_files_or_flush(tmp_path: Path) -> None:
    r = healloop("report", cwd=tmp_path)
    assert r.returncode == 2 and "name one or more JUnit XML files, or --flush" in r.stderr


# The queue is up in these tests: a slow, loaded machine must not pass for an outage (after the
# default 5 s budget a reporter spools instead of sending, which is right in production).
DELIVER = {"HEALLOOP_REPORT_BUDGET": "120"}

SUITE = '''
def test_ok():
    pass

def test_checkout_total():
    assert 10 == 12, "total includes shipping"
'''


def test_run_reports_the_suites_junit_and_keeps_its_exit_code(server: QueueServer, tmp_path: Path) -> None:
    (tmp_path / "test_shop.py").write_text(SUITE)
    r = healloop("run", "--queue", server.url, "--", sys.executable, "-m", "pytest", "-q",
                 "-p", "no:cacheprovider", "--junitxml=reports/junit.xml", "test_shop.py", cwd=tmp_path,
                 env=DELIVER)
    assert r.returncode == 1, r.stderr
    [e] = events(server)
    assert (e["spec"], e["test"], e["source"]) == ("test_shop.py", "test_checkout_total", "pytest")
    assert "total includes shipping" in e["message"]


def test_run_with_pytest_plugin_on_reports_once(server: QueueServer, tmp_path: Path) -> None:
    # The plugin and the wrapper's JUnit pass share the run id, so the idempotency key matches.
    (tmp_path / "test_shop.py").write_text(SUITE)
    r = healloop("run", "--queue", server.url, "--", sys.executable, "-m", "pytest", "-q", "--healloop",
                 "-p", "no:cacheprovider", "--junitxml=junit.xml", "test_shop.py", cwd=tmp_path,
                 env={"HEALLOOP_URL": server.url, **DELIVER})
    assert r.returncode == 1
    [e] = events(server)
    assert e["count"] == 1


def test_run_passes_a_green_suites_exit_code_and_a_missing_command(tmp_path: Path) -> None:
    ok = healloop("run", "--queue", "http://127.0.0.1:9", "--", sys.executable, "-c", "pass", cwd=tmp_path)
    assert ok.returncode == 0
    gone = healloop("run", "--", "no-such-test-command", cwd=tmp_path)
    assert gone.returncode == 127 and "cannot start 'no-such-test-command'" in gone.stderr


def test_report_and_run_with_report_off_send_nothing(server: QueueServer, tmp_path: Path) -> None:
    off = {"HEALLOOP_REPORT": "off", **DELIVER}
    notice = "healloop: reporting is off (HEALLOOP_REPORT=off); nothing sent"
    r = healloop("report", "--queue", server.url, str(FIXTURES / "jest-junit.xml"), cwd=tmp_path, env=off)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(notice) == 1 and "jest-junit.xml: 2 failing test(s): 2 not sent" in r.stdout

    (tmp_path / "test_shop.py").write_text(SUITE)
    # The plugin is on through HEALLOOP_URL too: neither it nor the wrapper's JUnit pass may report.
    run = healloop("run", "--queue", server.url, "--", sys.executable, "-m", "pytest", "-q",
                   "-p", "no:cacheprovider", "--junitxml=junit.xml", "test_shop.py", cwd=tmp_path,
                   env={"HEALLOOP_URL": server.url, **off})
    assert run.returncode == 1, "the suite's own exit code"
    assert run.stderr.count(notice) == 1, run.stderr
    assert events(server) == []
    assert not (tmp_path / "spool").exists()


def test_run_gives_the_suite_the_nodes_artifacts_folder(server: QueueServer, tmp_path: Path) -> None:
    (tmp_path / "healloop.toml").write_text('[node]\nworkspace = "."\nartifacts = "out/node-artifacts"\n')
    (tmp_path / "test_pay.py").write_text(DRIVER_SHAPED_SUITE)
    r = healloop("run", "--queue", server.url, "--", sys.executable, "-m", "pytest", "-q",
                 "-p", "no:cacheprovider", "--junitxml=junit.xml", "test_pay.py", cwd=tmp_path,
                 env={"HEALLOOP_URL": server.url, **DELIVER})
    assert r.returncode == 1, r.stderr
    got = events(server)
    assert len(got) == 4 and all(e["count"] == 1 for e in got), "the plugin's reports, not repeated"
    paths = [a["path"] for e in got for a in e["artifacts"] if a.get("path")]
    assert len(paths) == 8
    assert len({p.split("/")[0] for p in paths}) == 1, "one run folder, named after the shared run id"
    folder = tmp_path / "out" / "node-artifacts"
    assert all((folder / p).is_file() for p in paths)


def test_run_names_a_broken_node_config(tmp_path: Path) -> None:
    (tmp_path / "healloop.toml").write_text('[node]\nworkspace = "no-such-folder"\n')
    r = healloop("run", "--", sys.executable, "-c", "pass", cwd=tmp_path)
    assert r.returncode == 2 and "is not a directory" in r.stderr and "--artifacts" in r.stderr
    named = healloop("run", "--artifacts", "mine", "--", sys.executable, "-c", "pass", cwd=tmp_path)
    assert named.returncode == 0, named.stderr


def test_report_copies_junit_attachments_into_the_nodes_folder(server: QueueServer, tmp_path: Path) -> None:
    # Playwright's JUnit report as written, beside the test-results/ files it names.
    (tmp_path / "reports").mkdir()
    xml = tmp_path / "reports" / "junit.xml"
    xml.write_text((FIXTURES / "playwright-junit.xml").read_text())
    results = tmp_path / "test-results" / "login-login-shows-an-error-for-a-bad-password"
    results.mkdir(parents=True)
    (results / "test-failed-1.png").write_bytes(b"\x89PNG shot")
    (results / "error-context.md").write_text("# Page snapshot\n- button \"Sign in\"\n")
    folder = tmp_path / "node-artifacts"
    r = healloop("report", "--queue", server.url, "--artifacts", str(folder), str(xml), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [e] = events(server)
    paths = {a["name"]: a["path"] for a in e["artifacts"] if a.get("path")}
    assert set(paths) == {"test-failed-1.png", "error-context.md"}
    assert (folder / paths["test-failed-1.png"]).read_bytes() == b"\x89PNG shot"
    assert paths["error-context.md"].startswith("run-")
    assert {a["name"] for a in e["artifacts"] if a.get("url")} == set(paths)
