"""What one tool node counts, served at ``GET /metrics`` beside ``/mcp`` (``node/server.py``).

Tool calls by tool and result with their durations, refusals by kind (the sandbox's path checks, and
the allow-lists: a service, diagnostic or tool this node does not offer), and test reruns by outcome.
A tool name that is not one of this node's tools is counted as ``unknown``: a client cannot grow a
series per string it sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from healloop import __version__
from healloop.prometheus import Registry

# A read takes milliseconds, a rerun or a restart up to the runner's timeout (minutes).
CALL_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)
UNKNOWN = "unknown"


class NodeMetrics:
    def __init__(self, tools: Iterable[str] = ()) -> None:
        self.tools = frozenset(tools)
        self.registry = Registry()
        self.registry.gauge("healloop_node_info", "This tool node: its healloop version (1).",
                            ("version",)).set(1, __version__)
        self.calls = self.registry.counter(
            "healloop_node_tool_calls_total",
            "Tool calls, by tool and result: ok, the error code returned, or protocol_error.",
            ("tool", "result"))
        self.seconds = self.registry.histogram(
            "healloop_node_tool_call_seconds", "Seconds one tool call took, by tool.", ("tool",),
            CALL_BUCKETS)
        self.refusals = self.registry.counter(
            "healloop_node_refusals_total",
            "Calls refused by the sandbox (paths outside the workspace, in .git, through links) or an "
            "allow-list (a service, diagnostic or tool this node does not offer), by tool and kind.",
            ("tool", "kind"))
        self.test_runs = self.registry.counter(
            "healloop_node_test_runs_total", "Test reruns (run_test), by outcome: passed, failed, timed_out.",
            ("outcome",))

    def tool(self, name: str) -> str:
        return name if name in self.tools else UNKNOWN

    def called(self, name: str, outcome: str, seconds: float) -> None:
        """One tools/call as the audit log records it: ``outcome`` is ok, error:<code> or protocol_error."""
        tool = self.tool(name)
        self.calls.inc(tool, outcome.removeprefix("error:"))
        self.seconds.observe(seconds, tool)
        if tool == UNKNOWN:
            self.refusals.inc(tool, "allow_list")

    def refused(self, name: str, kind: str) -> None:
        self.refusals.inc(self.tool(name), kind)

    def ran_test(self, result: dict[str, Any]) -> None:
        self.test_runs.inc("timed_out" if result.get("timed_out") else str(result.get("status") or "failed"))

    def render(self) -> str:
        return self.registry.render()
