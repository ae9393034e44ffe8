"""The corpus itself is sound: every case is complete, and in Chromium its broken locator finds one
element before the change and none after, and its expected target is exactly one element after."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from healloop.agent.healing.corpus import CATEGORIES, RUNNERS, Case, bound, evaluate, load, scoped
from healloop.agent.healing.dom import Dom
from healloop.agent.healing.heal import Failure, Healer, Settings
from healloop.agent.healing.locators import (
    CSS,
    HAS_TEXT,
    LABEL,
    NTH,
    PLACEHOLDER,
    PLAYWRIGHT,
    ROLE,
    TESTID,
    TEXT,
    XPATH,
    Locator,
)
from healloop.agent.healing.reader import SpecReader
from healloop.agent.healing.resolve import resolve

CASES = load()
CHROMIUM = "/usr/bin/chromium"


def test_the_corpus_is_big_and_varied_enough() -> None:
    assert len(CASES) >= 40, f"{len(CASES)} cases; the corpus needs at least 40"
    covered = {c for case in CASES for c in case.categories}
    assert {
        "generated-id",
        "class-swap",
        "text-change",
        "label-change",
        "wrapped",
        "similar-siblings",
        "list-table",
        "test-id-renamed",
        "test-id-removed",
        "removed",
        "decoy",
    } <= covered, covered
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


def playwright_locator(page: Any, locator: Locator) -> Any | None:
    """Our ``Locator`` as a Playwright locator, so Chromium can check what it finds (None where the
    runner's semantics have no Playwright twin, e.g. cy.contains's preferences)."""
    current: Any = page
    for step in locator.steps:
        exact = step.exact
        text: Any = (
            re.compile(
                step.value if step.kind != ROLE else (step.name or ""),
                re.I if "i" in (step.regex or "") else 0,
            )
            if step.regex is not None
            else None
        )
        if step.kind == CSS:
            # jQuery's :contains("x") (Cypress) is no CSS Chromium knows: the same test, a case-sensitive
            # substring of the element's text, as Playwright's filter with a regular expression.
            jq = re.search(r""":contains\((["'])(.*?)\1\)$""", step.value)
            if jq:
                current = current.locator(f"css={step.value[: jq.start()]}").filter(
                    has_text=re.compile(re.escape(jq.group(2))))
            else:
                current = current.locator(f"css={step.value}")
        elif step.kind == XPATH:
            current = current.locator(f"xpath={step.value}")
        elif step.kind in ("id", "name"):
            current = current.locator(f'css=[{step.kind}="{step.value}"]')
        elif step.kind == TESTID:
            current = current.get_by_test_id(text or step.value)
        elif step.kind == ROLE:
            kw = {} if step.name is None else {"name": text or step.name, "exact": exact}
            current = current.get_by_role(step.value, **kw)
        elif step.kind == TEXT:
            if locator.flavor != PLAYWRIGHT:
                return None  # Testing Library matches own text nodes only
            current = current.get_by_text(text or step.value, exact=exact)
        elif step.kind == LABEL:
            current = current.get_by_label(text or step.value, exact=exact)
        elif step.kind == PLACEHOLDER:
            current = current.get_by_placeholder(text or step.value, exact=exact)
        elif step.kind == HAS_TEXT:
            current = current.filter(has_text=text or step.value)
        elif step.kind == NTH:
            current = current.nth(step.index or 0)
        else:
            return None
    return current


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_our_resolver_agrees_with_chromium_on_the_probe(case: Case) -> None:
    probe = _probe(case.probe)
    assert probe is not None, f"the probe {case.probe} is not one locator"
    attr = case.options.get("test_id_attribute") or "data-testid"
    for html, want in ((case.before, 1), (case.after, 0)):
        got = resolve(Dom(html), probe, test_id_attr=attr)
        assert got is not None and len(got) == want, (case.probe, got)


def _probe(expr: str) -> Locator | None:
    uses = SpecReader(expr, flavor=PLAYWRIGHT, lang="py").uses()
    return max(uses, key=lambda u: u.end - u.start).locator if uses else None


HEALED = [v for v in (evaluate(c) for c in CASES) if v.outcome.status == "healed"]


@pytest.mark.parametrize("verdict", HEALED, ids=[v.case.name for v in HEALED])
def test_healed_locator_finds_the_same_element_in_chromium(
    browser_page: tuple[Any, Any], verdict: Any
) -> None:
    case = verdict.case
    page = _set(browser_page, case.after, case)
    healer = Healer(
        Failure(case.spec_path, case.spec, case.message, case.after, case.stack),
        Settings(test_id_attr=case.options.get("test_id_attribute")),
    )
    flavor, lang = healer.flavor, healer.lang
    uses = [
        bound(u, verdict.outcome.bindings.get(u.line))
        for u in SpecReader(verdict.outcome.new_text, flavor=flavor, lang=lang).uses()
        if u.line in verdict.outcome.uses_healed
    ]
    assert uses
    for use in uses:
        outcome = verdict.outcome
        full = scoped(use.locator, outcome.scopes.get(use.line, ()), outcome.tails.get(use.line))
        loc = playwright_locator(page, full)
        if loc is None:
            continue
        dom = Dom(case.after)
        ours = resolve(dom, full, test_id_attr=healer.test_id_attr) or []
        assert loc.count() == len(ours), (
            f"{use.locator.describe()}: Chromium finds {loc.count()}, we {len(ours)}"
        )
        if ours:
            # The same element: its position among all elements, in Chromium's tree and in ours.
            index = loc.first.evaluate("el => Array.from(document.querySelectorAll('*')).indexOf(el)")
            assert index == dom.order[ours[0]], f"{use.locator.describe()} finds another element in Chromium"
