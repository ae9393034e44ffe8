from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The agent tests' real queue + node + git workspace, for approving from the page.
from tests.agent.conftest import make_ws  # noqa: F401

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        # Failed, not skipped: scripts/setup installs it, and a skip would hide every browser test.
        pytest.fail("needs /usr/bin/chromium: run scripts/setup, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                          "--disable-background-networking", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Iterator[Any]:
    """Screenshots as test artifacts under tmp_path/shots; with HEALLOOP_DASHBOARD_SHOTS set (to
    docs/img, say), copied there too, which is how the README's pictures are made."""
    folder = tmp_path / "shots"
    folder.mkdir()
    also = os.environ.get("HEALLOOP_DASHBOARD_SHOTS")

    def take(page: Any, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if also:
            Path(also).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(also) / f"dashboard-{name}.png")
        return path

    yield take
