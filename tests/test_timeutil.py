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


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "0001-01-01T13:59:59+14:00",
                                  "9999-12-31T23:59:59-00:01", "9999-12-31T20:00:00-12:00"])
def test_times_outside_years_1_to_9999_in_utc_are_refused(text: str) -> None:
    # Each is a valid datetime; in UTC it falls in year 0 or 10000, which RFC 3339 cannot write.
    with pytest.raises(InvalidInput, match="outside years 0001 to 9999") as info:
        parse_rfc3339(text, "occurred_at")
    assert info.value.field == "occurred_at"


@pytest.mark.parametrize(("text", "back"), [
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
    ("0001-01-01T14:00:00+14:00", "0001-01-01T00:00:00.000Z"),
    ("0999-05-01T00:00:00Z", "0999-05-01T00:00:00.000Z"),
    ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500Z"),
    ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999Z"),
])
def test_times_in_range_come_back_as_rfc_3339_with_a_four_digit_year(text: str, back: str) -> None:
    assert to_rfc3339(parse_rfc3339(text, "at")) == back
