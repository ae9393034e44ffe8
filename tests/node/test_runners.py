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


def test_playwright_grep_keeps_a_title_that_holds_the_separator() -> None:
    runner = make_runner(RunnerConfig(kind="playwright"))
    # describe('admin > users') + test('deletes a user'): the reporter sends one " > " more.
    argv = runner.argv("e2e/admin/users.spec.js", "admin > users > deletes a user")
    assert re.search(argv[5], "users.spec.js admin > users deletes a user")
    assert not re.search(argv[5], "users.spec.js admin > users edits a user")
    assert runner.failure_message("Error: No tests found.\n") == (
        "no test matched the name: Playwright found no tests to run (No tests found)")
