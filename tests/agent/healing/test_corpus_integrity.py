"""The corpus itself is sound: every case is complete, and in Chromium its broken locator finds one
element before the change and none after, and its expected target is exactly one element after."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agent.healing.corpus import CATEGORIES, RUNNERS, Case, load

CASES = load()
CHROMIUM = "/usr/bin/chromium"


def test_the_corpus_is_big_and_varied_enough() -> None:
    assert len(CASES) >= 40, f"{len(CASES)} cases; the corpus needs at least 40"
    covered = {c for case in CASES for c in case.categories}
    assert {"generated-id", "class-swap", "text-change", "label-change", "wrapped", "similar-siblings",
            "list-table", "test-id-renamed", "test-id-removed", "removed", "decoy"} <= covered, covered
    assert {case.runner for case in CASES} == set(RUNNERS)
    assert {case.outcome for case in CASES} == {"heal", "escalate"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_is_complete(case: Case) -> None:
    assert case.runner in RUNNERS
    assert case.categories and set(case.categories) <= set(CATEGORIES), case.categories
    assert case.outcome in ("heal", "escalate")
    assert (case.target is not None) == (case.outcome == "heal"), "a target exactly when healing"
    assert case.why.strip() and case.summary.strip()
    assert case.before != case.after
    assert case.message.strip() and case.spec.strip()


@pytest.fixture(scope="module")
def browser_page() -> Iterator[tuple[Any, Any]]:
    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: run scripts/setup (it installs Chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield pw, browser.new_page()
        finally:
            browser.close()


def _set(browser_page: tuple[Any, Any], html: str, case: Case) -> Any:
    pw, page = browser_page
    pw.selectors.set_test_id_attribute(case.options.get("test_id_attribute") or "data-testid")
    page.set_content(html)
    return page


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_in_chromium(browser_page: tuple[Any, Any], case: Case) -> None:
    page = _set(browser_page, case.before, case)
    probe = eval(case.probe, {"page": page})  # our own test data: a Playwright expression over `page`
    assert probe.count() == 1, f"the probe {case.probe} finds {probe.count()} elements before the change"
    page = _set(browser_page, case.after, case)
    probe = eval(case.probe, {"page": page})
    assert probe.count() == 0, f"the probe {case.probe} still finds {probe.count()} after the change"
    if case.target is not None:
        found = page.locator(case.target).count()
        assert found == 1, f"the target {case.target} matches {found} elements after the change"
