"""The Prometheus text healloop writes: escaped label values, cumulative buckets, families in order."""

from __future__ import annotations

from healloop.prometheus import Registry
from tests.promtext import names, samples, value


def test_labels_are_escaped_and_buckets_cumulative() -> None:
    reg = Registry()
    calls = reg.counter("x_calls_total", "Calls.", ("tool",))
    secs = reg.histogram("x_seconds", "Seconds.", ("tool",), buckets=(0.1, 1.0))
    calls.inc('a"b\\c\nd')
    calls.inc('a"b\\c\nd', by=2)
    for s in (0.05, 0.5, 5.0):
        secs.observe(s, "t")
    text = reg.render()
    assert 'x_calls_total{tool="a\\"b\\\\c\\nd"} 3' in text
    assert value(text, "x_seconds_bucket", tool="t", le="0.1") == 1
    assert value(text, "x_seconds_bucket", tool="t", le="1.0") == 2
    assert value(text, "x_seconds_bucket", tool="t", le="+Inf") == 3
    assert value(text, "x_seconds_count", tool="t") == 3
    assert value(text, "x_seconds_sum", tool="t") == 5.55
    assert text.index("# TYPE x_calls_total counter") < text.index("# TYPE x_seconds histogram")
    assert len(samples(text)) == 6  # one counter; three buckets, a sum and a count


def test_an_empty_family_is_still_declared() -> None:
    reg = Registry()
    reg.histogram("x_wait_seconds", "Waits.", ("part",))
    assert {"x_wait_seconds", "x_wait_seconds_bucket", "x_wait_seconds_count"} <= names(reg.render())
