"""The standing reliability suite (issue 13): every test in this folder is marked `reliability`, so
`pytest -m reliability` runs it alone; it also runs in the normal test command, bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.reliability)
