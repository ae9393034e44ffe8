import os

import pytest

BASE_URL = "http://127.0.0.1:8000"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Debian's Chromium: browsers cannot be downloaded on these machines.
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    return {**browser_type_launch_args, "executable_path": chromium,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run"]}


@pytest.fixture
def notes(page):
    page.set_default_timeout(3000)
    page.goto(BASE_URL + "/")
    return page
