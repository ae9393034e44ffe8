"""How each runner adapter turns (spec, test) into one argv."""

from __future__ import annotations

import re

from healloop.node.config import RunnerConfig
from healloop.node.runners import make_runner


def test_playwright_grep_matches_the_title_path_the_reporter_sends() -> None:
    runner = make_runner(RunnerConfig(kind="playwright"))
    argv = runner.argv("e2e/checkout.spec.js", "checkout > shows the total")
    assert argv[:4] == ["npx", "playwright", "test", "e2e/checkout.spec.js"]
    assert argv[4] == "-g"
    # Playwright matches --grep against the title path joined with spaces (file name first).
    assert re.search(argv[5], "checkout.spec.js checkout shows the total")
