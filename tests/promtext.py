"""Reads a real ``GET /metrics`` page: samples by name and labels, and the metric names it declares."""

from __future__ import annotations

import re

import httpx

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url: str) -> str:
    """The page at ``url`` (an HTTP 200 in the Prometheus text format, or the test fails)."""
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    return r.text


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample line as {(name, {(label, value)}): value}; a malformed line fails the test."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(_LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly these labels, 0 when the page has none yet."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def names(text: str) -> set[str]:
    """The names a query may use: each declared family (``# TYPE``) and, for a histogram, its
    _bucket, _sum and _count series, plus every sample's name."""
    out = {name for name, _ in samples(text)}
    for kind_line in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        name, kind = kind_line
        out.add(name)
        if kind == "histogram":
            out |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return out
