"""Playbooks of the rules planner, one module per failure class, each with ``applies(ctx)`` and
``plan(ctx)``. ``PLAYBOOKS`` is the order they are tried in; history can move one to the front."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Action:
    tool: str
    args: dict[str, Any]
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": self.args, "why": self.why}


@dataclass
class Plan:
    playbook: str
    actions: list[Action] = field(default_factory=list)
    why: str = ""
    label: str | None = None  # resolved with this label (e.g. "flaky")
    escalate: bool = False  # no repair: build the root-cause report and escalate
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "why": self.why,
            "actions": [a.to_dict() for a in self.actions],
            "label": self.label,
            "escalate": self.escalate,
            "details": self.details,
        }
