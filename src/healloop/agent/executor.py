"""Carries out a plan's actions through the node, with every guardrail checked first.

Each action is recorded with its arguments, its result (bulky text trimmed) and its diff, for the
event's history. A refused action raises ``Refused`` with the patch; nothing after it runs. With
``dry_run`` actions are checked and recorded, never sent.
"""

from __future__ import annotations

from typing import Any

from healloop.agent import guardrails, metrics
from healloop.agent.context import Context
from healloop.agent.mcpclient import NodeSession
from healloop.agent.playbooks import Action
from healloop.errors import HealloopError

MUTATING = {
    "edit_file", "write_file", "git_commit", "git_revert", "git_push", "git_pull", "service_restart"
}
TRIM = 4000


def _trim(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= TRIM else value[:TRIM] + f"... [{len(value) - TRIM} more characters]"
    if isinstance(value, dict):
        return {k: _trim(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trim(v) for v in value[:50]]
    return value


class Executor:
    def __init__(self, node: NodeSession, ctx: Context, *, dry_run: bool = False) -> None:
        self.node, self.ctx, self.dry_run = node, ctx, dry_run
        self.records: list[dict[str, Any]] = []
        self.restarts = dict(ctx.restarts_done)
        self.reverts = ctx.reverts_done

    @property
    def event_id(self) -> str:
        return str(self.ctx.event["id"])

    async def violations(self, action: Action) -> list[str]:
        """Every reason to refuse ``action``; reads the current file for a whole-file write. Each is
        counted by its guardrail (``healloop_agent_refusals_total``): a refusal follows every one."""
        problems = await self._violations(action)
        for rule in sorted({guardrails.rule_of(p) for p in problems}):
            metrics.REFUSALS.inc(rule)
        return problems

    async def _violations(self, action: Action) -> list[str]:
        args, policy = action.args, self.ctx.policy
        if action.tool == "edit_file":
            problems = guardrails.check_path(str(args.get("path", "")), policy)
            for edit in args.get("edits") or []:
                problems += [
                    p
                    for p in guardrails.check_patch(
                        str(args.get("path", "")),
                        str(edit.get("old_text", "")),
                        str(edit.get("new_text", "")),
                        policy,
                    )
                    if p not in problems
                ]
            return problems
        if action.tool == "write_file":
            path = str(args.get("path", ""))
            problems = guardrails.check_path(path, policy)
            if problems:
                return problems
            try:
                old = (await self.node.call("read_file", path=path))["content"]
            except HealloopError:
                old = ""
            return guardrails.check_patch(path, old, str(args.get("content", "")), policy)
        if action.tool == "service_restart":
            name = str(args.get("name"))
            return guardrails.check_restart(self.restarts.get(name, 0), policy, name)
        if action.tool == "git_revert":
            return guardrails.check_revert(self.reverts, policy)
        if action.tool in ("git_commit", "git_push", "git_pull"):
            return [guardrails.Violation(
                f"{action.tool} is done by the agent itself after a passing verification, never by a plan",
                "agent_only")]
        return []

    async def run(self, actions: list[Action]) -> list[dict[str, Any]]:
        for action in actions:
            await self.run_one(action)
        return self.records

    async def run_one(self, action: Action) -> dict[str, Any]:
        problems = await self.violations(action)
        record: dict[str, Any] = {"tool": action.tool, "args": _trim(action.args), "why": action.why}
        if problems:
            record.update(ok=False, refused=problems)
            self.records.append(record)
            raise guardrails.Refused(problems, {"tool": action.tool, "args": action.args})
        args = dict(action.args)
        if action.tool in ("edit_file", "write_file", "service_restart", "git_revert"):
            args["event_id"] = self.event_id
        if self.dry_run and action.tool in MUTATING:
            if action.tool == "edit_file":
                args["dry_run"] = True
            else:
                record.update(ok=True, dry_run=True, result="not run (--dry-run)")
                self.records.append(record)
                return record
        try:
            result = await self.node.call(action.tool, **args)
        except HealloopError as exc:
            record.update(ok=False, error=exc.message)
            self.records.append(record)
            raise
        record.update(ok=True, result=_trim({k: v for k, v in result.items() if k != "diff"}))
        if "diff" in result:
            record["diff"] = _trim(result["diff"])
        if action.tool == "service_restart":
            self.restarts[str(args["name"])] = self.restarts.get(str(args["name"]), 0) + 1
        if action.tool == "git_revert":
            self.reverts += 1
        self.records.append(record)
        return record

    def edited_paths(self) -> list[str]:
        return sorted(
            {
                str(r["args"]["path"])
                for r in self.records
                if r.get("ok") and r["tool"] in ("edit_file", "write_file") and not r.get("dry_run")
            }
        )
