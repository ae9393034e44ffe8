from __future__ import annotations

from datetime import UTC, datetime

import pytest

from healloop.errors import InvalidInput
from healloop.timeutil import parse_rfc3339, to_rfc3339


@pytest.mark.parametrize("text", ["2026-01-02T03:04:05.678+08:00", "2026-01-01T19:04:05.678Z",
                                  "2026-01-01t19:04:05.678z"])
def test_parse_then_format_is_utc_with_milliseconds(text: str) -> None:
    assert to_rfc3339(parse_rfc3339(text, "at")) == "2026-01-01T19:04:05.678Z"


def test_format_matches_datetime_for_many_values() -> None:
    for us in (0, 1, 999_999, 1_764_000_000_123_456, 4_102_444_800_000_000):
        dt = datetime.fromtimestamp(us // 1_000_000, tz=UTC)
        assert to_rfc3339(us) == dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{us % 1_000_000 // 1000:03d}Z"
    assert to_rfc3339(None) is None


@pytest.mark.parametrize(("text", "why"), [("yesterday", "RFC 3339"), ("2026-01-01 10:00", "time zone"),
                                           ("", "RFC 3339")])
def test_bad_timestamps_name_the_field(text: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as info:
        parse_rfc3339(text, "occurred_at")
    assert info.value.field == "occurred_at"
