"""The Prometheus text format (version 0.0.4), by hand: counters and histograms by label, rendered for
``GET /metrics`` on the queue, the agent and the tool node.

No client library: three kinds of series cover what healloop counts, and a dependency would be one more
thing to install on every test machine. Values live in the memory of one process and start from zero
when it starts, as Prometheus expects of counters. Label values are escaped as the format requires; the
callers keep them to small known sets (tool names, outcomes, error codes), never paths or messages.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from healloop.errors import ConfigError

_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


@dataclass
class Histogram:
    buckets: tuple[float, ...] = _BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.total += value
        self.n += 1
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
                return
        self.counts[-1] += 1

    def render(self, name: str, labels: str = "") -> list[str]:
        """``labels`` is the inside of the braces (``tool="x"``), shared by every line."""
        lines, running = [], 0
        sep = "," if labels else ""
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            lines.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {running}')
        lines.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.n}')
        braces = f"{{{labels}}}" if labels else ""
        lines.append(f"{name}_sum{braces} {self.total:.6f}")
        lines.append(f"{name}_count{braces} {self.n}")
        return lines


class Family:
    """One metric: its name, help text, kind and label names; one value (or histogram) per label set."""

    def __init__(self, name: str, text: str, kind: str, labels: tuple[str, ...] = (),
                 buckets: tuple[float, ...] = _BUCKETS) -> None:
        self.name, self.text, self.kind, self.labels, self.buckets = name, text, kind, labels, buckets
        self.values: dict[tuple[str, ...], float] = {}
        self.histograms: dict[tuple[str, ...], Histogram] = {}
        self._lock = threading.Lock()  # the agent's metrics are read by a server thread

    def _key(self, values: tuple[str, ...]) -> tuple[str, ...]:
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {values}")
        return tuple(str(v) for v in values)

    def inc(self, *values: str, by: float = 1) -> None:
        key = self._key(values)
        with self._lock:
            self.values[key] = self.values.get(key, 0) + by

    def set(self, value: float, *values: str) -> None:
        key = self._key(values)
        with self._lock:
            self.values[key] = value

    def observe(self, seconds: float, *values: str) -> None:
        key = self._key(values)
        with self._lock:
            self.histograms.setdefault(key, Histogram(self.buckets)).observe(seconds)

    def value(self, *values: str) -> float:
        return self.values.get(self._key(values), 0)

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.text}", f"# TYPE {self.name} {self.kind}"]
        with self._lock:
            if self.kind == "histogram":
                for key, hist in sorted(self.histograms.items()):
                    out += hist.render(self.name, _labels(self.labels, key)[1:-1])
            else:
                for key, value in sorted(self.values.items()):
                    shown = int(value) if float(value).is_integer() else value
                    out.append(f"{self.name}{_labels(self.labels, key)} {shown}")
        return out


class Registry:
    """The families of one process, rendered in the order they were made."""

    def __init__(self) -> None:
        self.families: list[Family] = []

    def add(self, family: Family) -> Family:
        self.families.append(family)
        return family

    def counter(self, name: str, text: str, labels: tuple[str, ...] = ()) -> Family:
        return self.add(Family(name, text, "counter", labels))

    def gauge(self, name: str, text: str, labels: tuple[str, ...] = ()) -> Family:
        return self.add(Family(name, text, "gauge", labels))

    def histogram(self, name: str, text: str, labels: tuple[str, ...] = (),
                  buckets: tuple[float, ...] = _BUCKETS) -> Family:
        return self.add(Family(name, text, "histogram", labels, buckets))

    def render(self) -> str:
        return "\n".join(line for f in self.families for line in f.render()) + "\n"


def serve_in_thread(render: Callable[[], str], host: str, port: int, what: str) -> http.server.HTTPServer:
    """Answer ``GET /metrics`` with ``render()`` from a daemon thread, as the Prometheus clients do: no
    event loop or signal handling of the caller's is touched. ``what`` names the setting in the error
    when the port cannot be bound."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404, "only /metrics is served here")
                return
            body = render().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a scrape every few seconds is not worth a log line

    try:
        server = http.server.ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {host}:{port} ({what}): {exc.strerror or exc}; choose "
                          "another port, or leave it out to serve none", field=what) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
