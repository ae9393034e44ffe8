"""What one agent process counts, for ``GET /metrics`` on ``--metrics-port``.

One registry per process, as the Prometheus clients keep one: every worker, node session and executor
of the process counts into it, whatever created them. Served only when ``--metrics-port`` is given
(``healloop.prometheus.serve_in_thread``); otherwise it is counted and never read.
"""

from __future__ import annotations

import re
from typing import Any

from healloop.prometheus import Registry

# An event's handling runs from seconds (an escalation) to many minutes (reruns of a slow suite); a
# tool call from milliseconds (a read) to minutes (a rerun, a restart).
EVENT_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
CALL_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")

REGISTRY = Registry()
INFO = REGISTRY.gauge("healloop_agent_info", "This agent process: its planner and healloop version (1).",
                      ("planner", "version"))
IN_HAND = REGISTRY.gauge("healloop_agent_events_in_hand", "Events the workers of this process hold now.")
EVENTS = REGISTRY.counter(
    "healloop_agent_events_total",
    "Events handled, by how the agent left them: resolved, escalated, proposed, released or lost (the "
    "lease lapsed).", ("outcome",))
EVENT_SECONDS = REGISTRY.histogram(
    "healloop_agent_event_seconds", "Seconds from claiming an event to leaving it, by outcome.", ("outcome",),
    EVENT_BUCKETS)
ATTEMPTS = REGISTRY.counter(
    "healloop_agent_attempts_total",
    "Attempts verified by a rerun, by playbook and whether the rerun passed.", ("playbook", "result"))
ACTIONS = REGISTRY.counter(
    "healloop_agent_actions_total",
    "Plan actions, by playbook, tool and result (ok, failed, refused, dry_run).",
    ("playbook", "tool", "result"))
TOOL_CALLS = REGISTRY.counter(
    "healloop_agent_node_tool_calls_total",
    "Tool calls made on nodes, by tool and result: ok, the node's error code, or unreachable.",
    ("tool", "result"))
TOOL_SECONDS = REGISTRY.histogram(
    "healloop_agent_node_tool_call_seconds", "Seconds one tool call on a node took, by tool.", ("tool",),
    CALL_BUCKETS)
REFUSALS = REGISTRY.counter(
    "healloop_agent_refusals_total", "Actions a guardrail refused, by guardrail.", ("guardrail",))


def label(name: str) -> str:
    """A tool or playbook name as a label: names come from planners (a model, say), so anything that
    is not a plain identifier is counted as ``other`` rather than growing a series per string."""
    return name if _NAME.match(name) else "other"


def count_actions(playbook: str, records: list[dict[str, Any]]) -> None:
    """The executor's records of one plan: each action once, by what became of it."""
    for r in records:
        result = ("refused" if r.get("refused") else "dry_run" if r.get("dry_run")
                  else "ok" if r.get("ok") else "failed")
        ACTIONS.inc(label(playbook), label(str(r.get("tool"))), result)
