"""How long to wait after an HTTP 429 from the model endpoint: the server's ``Retry-After`` (read by
``timeutil.retry_after_s``) when it sends one, else exponential backoff. Pure: the caller passes ``now``
and does the waiting."""

from __future__ import annotations

from healloop.timeutil import retry_after_s


def delay_s(retry_after: str | None, attempt: int, base_s: float, now: float) -> float:
    """The wait before retry number ``attempt`` (0 for the first): ``Retry-After`` when given, else
    ``base_s`` doubled per attempt."""
    asked = retry_after_s(retry_after, now)
    return asked if asked is not None else base_s * 2**attempt
