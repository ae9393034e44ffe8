"""The pure parts of retention: ages and the digests an event's artifacts name."""

from __future__ import annotations

import pytest

from healloop.errors import InvalidInput
from healloop.queue.prune import digests_named, parse_age


@pytest.mark.parametrize(("text", "seconds"), [
    ("90d", 90 * 86400), ("2w", 14 * 86400), ("24h", 86400), (" 1d ", 86400), ("365d", 365 * 86400)])
def test_ages_in_hours_days_and_weeks(text: str, seconds: int) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize(("text", "says"), [
    ("90", "a whole number and a unit"), ("1.5d", "got '1.5d'"), ("-1d", "got '-1d'"),
    ("90D", "got '90D'"), ("", "got ''"), ("0w", "--older-than 0 would remove every resolved event"),
    ("23h", "--older-than 23h is under a day"), ("1h", "pass --force if you mean it")])
def test_bad_or_dangerous_ages_are_refused(text: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        parse_age(text)


def test_under_a_day_with_force() -> None:
    assert parse_age("1h", force=True) == 3600
    with pytest.raises(InvalidInput, match="--older-than 0"):
        parse_age("0h", force=True)


def test_digests_by_field_and_by_url() -> None:
    a, b = "a" * 64, "0123456789abcdef" * 4
    refs = (f'[{{"name":"x","digest":"sha256:{a}","url":"/v1/artifacts/sha256:{a}"}},'
            f'{{"name":"y","url":"http://q:8787/v1/artifacts/sha256:{b}"}},{{"name":"z","path":"/tmp/z"}}]')
    assert digests_named(refs) == {a, b}
    assert digests_named("[]") == set()
