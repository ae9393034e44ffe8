"""pytest plugin (entry point ``pytest11``): report failed tests to the queue.

Off unless ``--healloop`` is given or ``HEALLOOP_URL`` is set, so installing healloop never makes
an unrelated test suite start reporting; ``HEALLOOP_REPORT=off`` silences it even then. A failing
test's browser is captured at the moment of failure (``capture.py``: pytest-playwright's ``page``,
or a Selenium WebDriver fixture): a screenshot, the DOM and the URL, written into the run's folder
(``artifacts.py``: the node's artifacts folder from ``HEALLOOP_ARTIFACTS``, else a temporary folder
deleted at the end of the run).
Under pytest-xdist the controller reports (it sees every worker's results), the workers only
capture the page, into the controller's run folder.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from healloop.errors import HealloopError
from healloop.sources.settings import SourceSettings

# pytest loads this module in every run of every suite where healloop is installed: a broken install
# (httpx missing or half-upgraded) turns reporting off with a warning, never fails the user's run.
try:
    from healloop.sources.artifacts import RunFolder
    from healloop.sources.capture import capture, find_browser
    from healloop.sources.failure import Artifact, Failure
    from healloop.sources.reporter import OFF_NOTICE, Reporter
except ImportError as exc:
    _BROKEN: ImportError | None = exc
else:
    _BROKEN = None

log = logging.getLogger(__name__)
_ARTIFACT = "healloop_artifact"
_PAGE_URL = "healloop_page_url"
_WORKER_FOLDER = "healloop_run_folder"  # the controller's run folder, in xdist's workerinput


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("healloop", "report failures to a healloop queue")
    group.addoption("--healloop", action="store_true", default=False,
                    help="Report failed tests to the queue (also on when HEALLOOP_URL is set).")
    group.addoption("--healloop-queue", metavar="URL", help="The queue's URL (HEALLOOP_URL).")
    group.addoption("--healloop-token", metavar="TOKEN", help="The queue's token (HEALLOOP_TOKEN).")
    group.addoption("--healloop-node", metavar="NAME", help="This machine's name (HEALLOOP_NODE).")
    group.addoption("--healloop-artifacts", metavar="DIR",
                    help="The tool node's artifacts folder: screenshots and DOM snapshots go there "
                         "(HEALLOOP_ARTIFACTS; default: a temporary folder, deleted after the run).")


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("healloop") or config.getoption("healloop_queue")
                or os.environ.get("HEALLOOP_URL"))


def pytest_configure(config: pytest.Config) -> None:
    if not _enabled(config):
        return
    if _BROKEN is not None:
        config.issue_config_time_warning(pytest.PytestConfigWarning(
            f"healloop: failures are not reported, the install is incomplete ({_BROKEN}); "
            "reinstall it: pip install --force-reinstall healloop"), stacklevel=2)
        return
    try:
        settings = SourceSettings.load(url=config.getoption("healloop_queue"),
                                       token=config.getoption("healloop_token"),
                                       node=config.getoption("healloop_node"),
                                       artifacts_dir=config.getoption("healloop_artifacts"))
    except HealloopError as exc:
        raise pytest.UsageError(f"healloop: {exc.message}") from exc
    # A run under `healloop run` shares its run id, so the wrapper's JUnit pass sends no duplicates.
    run_id = os.environ.get("HEALLOOP_RUN_ID") or uuid.uuid4().hex
    worker = getattr(config, "workerinput", None)
    if worker is not None:  # an xdist worker: its controller reports, and owns the run folder
        given = worker.get(_WORKER_FOLDER)
        folder = RunFolder(settings.artifacts_dir, run_id, path=Path(given) if given else None)
        if settings.report:
            config.pluginmanager.register(PageCapture(folder), "healloop-page-capture")
        return
    reporter = Reporter(settings, run_id=run_id)
    if settings.report:  # off, no report would carry the screenshots anywhere
        config.pluginmanager.register(PageCapture(reporter.artifacts), "healloop-page-capture")
    config.pluginmanager.register(ReportFailures(reporter, config.rootpath), "healloop-reporter")


class PageCapture:
    """Screenshot, DOM and URL of the failed test's browser while the test still holds it."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if not report.failed or report.when != "call":
            return
        found = find_browser(getattr(item, "funcargs", {}))
        if found is None:
            return
        spec, _, test = item.nodeid.partition("::")
        stem = re.sub(r"[^\w.-]+", "_", item.name).strip("_")[:80]
        try:
            folder = self.folder.for_failure(spec, test or spec)
        except OSError as exc:
            log.warning("could not make a folder for the screenshot of %s: %s", item.nodeid, exc)
            return
        got = capture(*found, folder, stem, item.nodeid)
        report.user_properties.extend((_ARTIFACT, str(p)) for p in got.files)
        if got.url is not None:
            report.user_properties.append((_PAGE_URL, str(got.url)))


class ReportFailures:
    def __init__(self, reporter: Reporter, root: Path) -> None:
        self.reporter = reporter
        self.root = root
        # Tests that passed in this run (sent in one POST /v1/runs at the end) and those that failed in
        # any phase (a teardown failure after a passing call is not a pass).
        self.passed: dict[str, tuple[str, str]] = {}
        self.failed: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        rerun = getattr(report, "rerun", 0) or 0  # set by pytest-rerunfailures
        flaky = report.passed and report.when == "call" and rerun > 0
        spec, _, test = report.nodeid.partition("::")
        if report.failed or flaky:
            self.failed.add(report.nodeid)
        elif report.passed and report.when == "call":
            self.passed[report.nodeid] = (spec, test or spec)
        if not (report.failed or flaky):
            return
        props = [(k, v) for k, v in report.user_properties]
        labels = {"phase": report.when or ""}
        for k, v in props:
            if k == _PAGE_URL:
                labels["url"] = str(v)
        self.reporter.send(Failure(
            source="pytest", spec=spec, test=test or spec,
            message=_message(report) if report.failed else f"passed after {rerun} rerun(s)",
            stack=report.longreprtext if report.failed else None,
            attempt=rerun + 1, flaky=flaky, duration_ms=round(report.duration * 1000),
            labels=labels, artifacts=[Artifact(Path(str(v))) for k, v in props if k == _ARTIFACT],
        ))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist: workers capture into this run's folder, which this process deletes (when it is a
        temporary one) only after every worker's reports are sent."""
        node.workerinput[_WORKER_FOLDER] = str(self.reporter.artifacts.path)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        passed = [names for nodeid, names in self.passed.items() if nodeid not in self.failed]
        self.reporter.send_runs(passed, source="pytest")
        self.reporter.finish()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        # pytest's log capture hides the reporter's own warning, so the outage is told here, once.
        c, r = self.reporter.counts, self.reporter
        if r.off:
            terminalreporter.write_line(f"healloop: {OFF_NOTICE}")
            return
        sent = c["delivered"] + c["merged"]
        if sent:
            terminalreporter.write_line(f"healloop: {sent} failure(s) reported to {r.settings.url}")
        if c["quarantined"]:
            terminalreporter.write_line(f"healloop: {c['quarantined']} of them quarantined (reported, not "
                                        "healed; `healloop quarantine list`)")
        if c["passes_sent"]:
            terminalreporter.write_line(f"healloop: {c['passes_sent']} passing test(s) recorded")
        if c["flushed"]:
            terminalreporter.write_line(f"healloop: {c['flushed']} report(s) of earlier runs delivered")
        if r.down:
            terminalreporter.write_line(
                f"healloop: the queue at {r.settings.url} is not taking reports ({r.down}); "
                f"{c['spooled']} report(s) kept in {r.spool.dir}, delivered by the next run or "
                "'healloop report --flush'")
        if c["rejected"]:
            terminalreporter.write_line(f"healloop: {c['rejected']} report(s) refused by the queue, "
                                        f"kept in {r.spool.dir / 'rejected'}")
        for message in r.refused_artifacts:
            terminalreporter.write_line(f"healloop: {message}")


def _message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    text = report.longreprtext.strip().splitlines()
    errors = [line[1:].strip() for line in text if line.startswith("E ")]
    return "\n".join(errors) or (text[-1] if text else "failed")
