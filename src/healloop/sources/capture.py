"""The browser a failed pytest test holds, captured while it is still open: screenshot, DOM and URL.

Two kinds are known: pytest-playwright's ``page``, and a Selenium WebDriver in a fixture named
``driver``, ``selenium`` or ``browser`` (pytest-selenium's names and the usual hand-written ones).
The driver is recognised by what it can do (``page_source`` and ``save_screenshot``), so healloop
needs no Selenium import, and pytest-playwright's own ``browser`` fixture, which has neither, is left
alone. Each piece is taken on its own: a screenshot that fails does not cost the DOM.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SELENIUM_FIXTURES = ("driver", "selenium", "browser")


@dataclass
class Capture:
    files: list[Path] = field(default_factory=list)
    url: str | None = None


def find_browser(funcargs: dict[str, Any]) -> tuple[str, Any] | None:
    """``("playwright", page)``, ``("selenium", driver)`` or None."""
    page = funcargs.get("page")
    if page is not None and hasattr(page, "content") and hasattr(page, "screenshot"):
        return "playwright", page
    for name in SELENIUM_FIXTURES:
        driver = funcargs.get(name)
        if hasattr(driver, "page_source") and hasattr(driver, "save_screenshot"):
            return "selenium", driver
    return None


def _step(what: str, nodeid: str, fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a closed or crashed browser must not fail the test run
        log.warning("could not take the %s of %s: %s", what, nodeid, exc)
        return None


def capture(kind: str, browser: Any, folder: Path, stem: str, nodeid: str) -> Capture:
    """Screenshot (``<stem> (failed).png``, Cypress's naming) and DOM (``<stem>.dom.html``) into
    ``folder``, and the page's URL."""
    got = Capture()
    shot, dom = folder / f"{stem} (failed).png", folder / f"{stem}.dom.html"
    if kind == "playwright":
        _step("screenshot", nodeid, lambda: browser.screenshot(path=str(shot), full_page=True))
        html = _step("DOM", nodeid, browser.content)
        got.url = _step("URL", nodeid, lambda: browser.url)
    else:
        # save_screenshot answers False (and warns) instead of raising when it cannot write.
        _step("screenshot", nodeid, lambda: browser.save_screenshot(str(shot)))
        html = _step("DOM", nodeid, lambda: browser.page_source)
        got.url = _step("URL", nodeid, lambda: browser.current_url)
    if shot.is_file():
        got.files.append(shot)
    if isinstance(html, str):
        _step("DOM", nodeid, lambda: dom.write_text(html, encoding="utf-8"))
        if dom.is_file():
            got.files.append(dom)
    return got
