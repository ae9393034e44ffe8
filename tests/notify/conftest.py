from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notify.receivers import Receivers


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    with Receivers() as r:
        yield r
