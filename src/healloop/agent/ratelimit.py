"""How long to wait after an HTTP 429 from the model endpoint: the server's ``Retry-After`` (seconds or an
HTTP date, RFC 9110 10.2.3) when it sends one, else exponential backoff. Pure: the caller passes ``now``
and does the waiting."""

from __future__ import annotations

import email.utils
import math


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds the server asks us to wait (0 for a date already past); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an HTTP date is always GMT; a date without a zone is read as such
            return None
        return max(0.0, when.timestamp() - now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def delay_s(retry_after: str | None, attempt: int, base_s: float, now: float) -> float:
    """The wait before retry number ``attempt`` (0 for the first): ``Retry-After`` when given, else
    ``base_s`` doubled per attempt."""
    asked = retry_after_s(retry_after, now)
    return asked if asked is not None else base_s * 2**attempt
