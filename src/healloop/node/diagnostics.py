"""Named diagnostic commands: an agent picks one by name; it can never send a command line."""

from __future__ import annotations

from typing import Any

from healloop.errors import NotOnAllowList
from healloop.node import proc
from healloop.node.config import DiagnosticConfig
from healloop.node.workspace import Workspace


def run_diagnostic(ws: Workspace, diagnostics: dict[str, DiagnosticConfig], name: str) -> dict[str, Any]:
    diag = diagnostics.get(name)
    if diag is None:
        known = ", ".join(sorted(diagnostics)) or "none configured"
        raise NotOnAllowList(f"no diagnostic named {name!r}; diagnostics on this node: {known}", field="name")
    result = proc.run(diag.command, cwd=ws.root, timeout=diag.timeout)
    return {
        "name": name,
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "duration_s": round(result.duration_s, 3),
        "output_tail": result.tail(),
    }
