"""One event claimed through the queue MCP server, and every step an IDE may take with it.

The steps are the agent's (``agent/worker.py``), driven by the IDE's model instead of a planner: the
same context (``agent.context.gather``), the same guardrails (``agent.executor.Executor``), the same
undo of an attempt (``agent.rollback``), the same report and the same state moves. Every step first
checks the lease with a heartbeat, so a step taken after the lease was lost changes nothing.

A guardrail refusal ends the attempt exactly as in the agent: what the attempt changed is undone and
the event is escalated with the refused patch and a report. Committing, pushing and reruns are this
module's own steps (``verify``, ``resolve``, ``propose``), never a ``node_call``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio

from healloop.agent import own_commit, rollback
from healloop.agent.bounds import clip, fit
from healloop.agent.context import Context, gather, spec_in_workspace
from healloop.agent.executor import Executor
from healloop.agent.guardrails import Refused
from healloop.agent.mcpclient import SETUP_TIMEOUT_S, NodeSession, NodeUnavailable
from healloop.agent.nodetrust import NodeHosts
from healloop.agent.playbooks import Action
from healloop.agent.report import build_report
from healloop.client import QueueClient
from healloop.errors import BudgetExhausted, Conflict, Forbidden, HealloopError, InvalidInput, LeaseLost

log = logging.getLogger(__name__)

PLANNER = "ide"
PROPOSAL_PREFIX = "healloop/"
MAX_PROPOSAL_DIFF = 20_000
# Changes a node_call may make; each goes through the agent's guardrails. Reverting a commit is left to
# `healloop agent` and `healloop revert`: it needs a branch of its own and a person to merge it.
CHANGE_TOOLS = ("edit_file", "write_file", "service_restart")
# Node tools that are steps of this server, named so the refusal says which tool to call instead.
OWN_STEPS = {
    "run_test": "verify reruns the failing test",
    "git_commit": "resolve commits the verified change with the event id",
    "git_push": "resolve pushes when the node's policy says so",
    "git_push_branch": "propose commits the change on a branch for approval",
    "discard_changes": "release_event or escalate undoes the attempt's changes",
}


@dataclass(frozen=True)
class IdeConfig:
    queue_url: str
    token: str | None = None
    node_token: str | None = None
    node_hosts: tuple[str, ...] = ()
    lease_s: float = 60.0
    # An event no call has touched for this long is released: over HTTP no connection tells that the
    # IDE went away (each request stands alone), so silence does.
    idle_s: float = 600.0
    node_setup_s: float = SETUP_TIMEOUT_S
    max_data_kb: int = 256
    worker: str = field(default_factory=lambda: f"ide-{socket.gethostname()}-{os.getpid()}")


class GuardrailRefusal(Forbidden):
    """A node_call the agent's guardrails refuse; the event was escalated."""

    code = "guardrail_refused"


def run_summary(run: dict[str, Any]) -> dict[str, Any]:
    return {k: run.get(k) for k in ("passed", "exit_code", "duration_s", "failure_message")}


class Held:
    """One claimed event: its lease token, its node, what was gathered, what was changed."""

    def __init__(self, config: IdeConfig, queue: QueueClient, claim: dict[str, Any], client: str) -> None:
        self.config, self.queue, self.client = config, queue, client
        self.event: dict[str, Any] = claim["event"]
        self.id: str = self.event["id"]
        self.token: str = claim["lease"]["token"]
        self.state = str(self.event.get("status") or "processing")
        self.spec = str(self.event.get("spec") or "")
        self.test = str(self.event.get("test") or "")
        self.lost: str | None = None
        self.done = False
        self.node_name = ""
        self.node_url = ""
        self.info: dict[str, Any] = {}
        self.ctx: Context | None = None
        self.executor: Executor | None = None
        self.passed: dict[str, Any] | None = None  # the last passing rerun, since the last change
        self.extra_failure: str | None = None
        self.tried: list[dict[str, Any]] = []
        self.discarded: list[dict[str, Any]] = []
        self.lock = anyio.Lock()
        self.last_call = anyio.current_time()
        self.busy = 0

    # -- the queue
    async def _q(self, fn: Any, *args: Any, **kw: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kw))

    async def check_lease(self) -> None:
        """Every step starts here: a heartbeat proves the lease is still this server's."""
        if self.done:
            raise Conflict(f"event {self.id} is {self.state} and no longer held: claim another event")
        if self.lost is None:
            try:
                await self._q(self.queue.heartbeat, self.id, self.token)
                return
            except Conflict as exc:
                self.lost = exc.message
                self.done = True
        raise LeaseLost(f"the lease on {self.id} was lost ({self.lost}); nothing was done: another "
                        "holder may have it now, claim another event")

    async def heartbeat(self) -> None:
        """The server's beat, between steps; a lost lease is remembered, an unreachable queue retried."""
        if self.done:
            return
        try:
            await self._q(self.queue.heartbeat, self.id, self.token)
        except Conflict as exc:
            log.warning("lease on %s lost: %s", self.id, exc.message)
            self.lost, self.done = exc.message, True
        except HealloopError as exc:
            log.warning("heartbeat of %s failed, will retry: %s", self.id, exc.message)

    async def move(self, to: str, note: str, data: dict[str, Any] | None = None) -> None:
        body = {"worker": self.config.worker, "planner": PLANNER, "client": self.client, **(data or {})}
        if self.discarded:
            body["discarded"], self.discarded = self.discarded, []
        body = fit(body, self.config.max_data_kb * 1024)
        self.event = await self._q(self.queue.transition, self.id, self.token, to, clip(note, 2000), body)
        self.state = to
        self.done = to in ("resolved", "escalated", "proposed")
        log.info("%s: %s -> %s (%s)", self.client, self.id, to, note[:200])

    # -- the node
    @asynccontextmanager
    async def node(self) -> AsyncIterator[NodeSession]:
        async with NodeSession(self.node_url, self.config.node_token,
                               setup_timeout=self.config.node_setup_s) as node:
            yield node

    async def undo(self, keep_branch: bool = False) -> None:
        """Undo this event's uncommitted changes on its node; what was undone goes into the next move."""
        if not self.node_url or self.lost:
            return
        try:
            async with self.node() as node:
                done = await rollback.discard_or_say_why(node, self.node_name, self.id, keep_branch)
        except HealloopError as exc:
            done = {"event_id": self.id, "node": self.node_name, "error": exc.message}
        if done:
            self.discarded.append(done)
        self.passed = None

    async def start(self, nodes: list[dict[str, Any]]) -> dict[str, Any]:
        """After the claim: pick the event's node, undo what a dead previous holder of this event left
        there, and move to analyzing. An event with no node this server may reach is escalated."""
        trusted, refused = NodeHosts.of(self.config.node_hosts).split(nodes)
        names = [str(self.event.get("node")), *(self.event.get("nodes") or [])]
        usable = [n for n in dict.fromkeys(names) if n in trusted]
        if not usable:
            why = "; ".join(refused[n] for n in names if n in refused) or (
                f"no tool node is registered as {self.event.get('node')!r}; start `healloop mcp serve "
                "--queue ... --node NAME` on that machine and requeue")
            await self.move("escalated", why)
            return {"escalated": why}
        self.node_name, self.node_url = usable[0], trusted[usable[0]]
        try:
            await self._open_on_node()
        except NodeUnavailable as exc:
            why = f"the tool node is unreachable: {self.node_name}: {exc.message}"
            await self.move("escalated", why, {"unreachable": {self.node_name: exc.message}})
            return {"escalated": why}
        await self.move("analyzing",
                        f"claimed from an IDE ({self.client}); analysing on node {self.node_name}")
        return {}

    async def _open_on_node(self) -> None:
        async with self.node() as node:
            try:
                self.info = {**await node.call("node_info"), "name": self.node_name}
            except NodeUnavailable:
                raise
            except HealloopError:
                self.info = {"name": self.node_name}
            self.spec = await spec_in_workspace(node, self.info, self.spec)
            done = await rollback.discard_or_say_why(node, self.node_name, self.id)
            if done:
                self.discarded.append(done)

    async def gather(self, node: NodeSession) -> Context:
        """The agent's context for this event, fresh; the executor keeps its counts across calls."""
        event = await self._q(self.queue.get, self.id)
        event = {**event, "spec": self.spec}
        ctx = await gather(node, self.queue, event, self.info, self.extra_failure)
        if self.executor is None:
            self.executor = Executor(node, ctx)
        self.executor.node, self.executor.ctx = node, ctx
        self.ctx = ctx
        return ctx

    async def ready(self, node: NodeSession) -> Context:
        """The context gathered so far (gathered now when none was), on this call's node session."""
        if self.ctx is None or self.executor is None:
            return await self.gather(node)
        self.executor.node = node
        return self.ctx

    async def context(self) -> Context:
        """``gather``, and the agent's check that the failure is not at a line healloop itself just
        wrote (a second heal on top of the first is how loops start): such an event is escalated."""
        async with self.node() as node:
            ctx = await self.gather(node)
            if not ctx.previous_failures and not self.tried:
                fault = await own_commit.at_fault(node, ctx, self.id)
                if fault is not None:
                    why = (f"{ctx.spec}:{fault['line']} fails at a line healloop's own commit "
                           f"{str(fault['sha'])[:10]} (event {fault['event']}) wrote just before: not "
                           f"repaired again; undo it with `healloop revert {fault['event']}`")
                    await self.move("escalated", f"escalated: {why}", {
                        "analysis": ctx.summary(), "class": ctx.classification.kind,
                        "playbook": "own_commit", "caused_by": fault, "report": build_report(ctx, [], why)})
        return ctx

    # -- the steps
    async def call_tool(self, tool: str, arguments: dict[str, Any], why: str) -> dict[str, Any]:
        async with self.node() as node:
            tools = {t.name: t for t in await node.tools()}
            if tool not in tools:
                raise InvalidInput(f"node {self.node_name} has no tool {tool!r}; it has: "
                                   f"{', '.join(sorted(tools))}", field="tool")
            if tool in OWN_STEPS:
                raise InvalidInput(f"{tool} is not called through node_call: {OWN_STEPS[tool]}", field="tool")
            hints = tools[tool].annotations
            if tool not in CHANGE_TOOLS:
                if not (hints and hints.read_only_hint):
                    raise InvalidInput(f"{tool} changes the node and is not one of the changes an IDE may "
                                       f"make here ({', '.join(CHANGE_TOOLS)})", field="tool")
                schema = tools[tool].input_schema or {}
                if "event_id" in (schema.get("properties") or {}):
                    arguments = {**arguments, "event_id": self.id}
                return await node.call(tool, **arguments)
            return await self._change(node, Action(tool, arguments, why or "proposed in the IDE"))

    async def _change(self, node: NodeSession, action: Action) -> dict[str, Any]:
        if self.state == "verifying":
            raise Conflict("the last verify passed with the changes made so far: resolve (or propose) now, "
                           "or escalate; a further change would need its own verification")
        ctx = await self.ready(node)
        assert self.executor is not None
        problems = await self.executor.violations(action)
        if problems:
            await self._refused(Refused(problems, {"tool": action.tool, "args": action.args,
                                                   "proposed_by": self.client}))
        if self.state == "analyzing":
            try:
                await self.move("fixing", action.why, {
                    "analysis": ctx.summary(), "plan": {"playbook": PLANNER, "why": action.why,
                                                        "actions": [action.to_dict()]},
                    "class": ctx.classification.kind, "node": self.node_name})
            except BudgetExhausted as spent:
                await self.undo()
                report = build_report(ctx, self.tried,
                                      f"the budget of automatic fixes is spent: {spent.message}")
                await self.move("escalated", f"escalated: {spent.message}", {
                    "report": report, "class": ctx.classification.kind, "playbook": PLANNER,
                    "budget": spent.message})
                raise Conflict(f"{spent.message}; the event was escalated for a person") from None
        try:
            record = await self.executor.run_one(action)
        except Refused as refused:
            await self._refused(refused)
        return {k: v for k, v in record.items() if k != "why"}

    async def _refused(self, refused: Refused) -> None:
        """As the agent does: undo the attempt, escalate with the refused patch and a report; then say so."""
        assert self.ctx is not None and self.executor is not None
        tried = self.tried + self.executor.records
        await self.undo()
        await self.move("escalated", f"guardrail refused the plan: {refused}", {
            "refused": refused.violations, "patch": refused.patch, "actions": tried,
            "report": build_report(self.ctx, tried, f"a guardrail refused the proposed change: {refused}"),
            "class": self.ctx.classification.kind, "playbook": PLANNER})
        raise GuardrailRefusal(f"refused by healloop's guardrails: {'; '.join(refused.violations)}. As "
                               f"`healloop agent` does, the attempt's changes were undone and event "
                               f"{self.id} was escalated for a person.")

    async def verify(self) -> dict[str, Any]:
        async with self.node() as node:
            ctx = await self.ready(node)
            assert self.executor is not None
            if self.state == "analyzing":
                await self.move("verifying", f"rerunning {self.spec}::{self.test} unchanged", {
                    "analysis": ctx.summary(), "class": ctx.classification.kind,
                    "plan": {"playbook": PLANNER, "why": "rerun unchanged", "actions": []}})
            elif self.state == "fixing":
                await self.move("verifying", f"rerunning {self.spec}::{self.test}",
                                {"actions": self.executor.records})
            run = await node.call("run_test", spec=self.spec, test=self.test)
        summary = run_summary(run)
        if run.get("passed"):
            self.passed = summary
            return {**summary, "state": self.state,
                    "next": "resolve (or propose, when the node's policy asks for approval)"}
        failure = str(run.get("failure_message") or f"exit code {run.get('exit_code')}")
        self.tried += [*self.executor.records, {"verification": summary, "playbook": PLANNER}]
        self.executor.records = []
        await self.undo()  # the next attempt, or the escalation, starts from the workspace as it was
        try:
            await self.move("analyzing", f"verification failed: {failure[:300]}",
                            {"failure": failure, "run": summary, "output_tail": run.get("output_tail")})
        except Conflict as exc:
            await self.move("escalated", f"escalated after attempt {ctx.attempt}: {exc.message}", {
                "report": build_report(ctx, self.tried, f"the test still fails after {ctx.attempt} "
                                       f"attempt(s): {failure[:500]}"),
                "class": ctx.classification.kind, "playbook": PLANNER, "run": summary})
            return {**summary, "state": "escalated",
                    "next": f"no attempts left ({exc.message}); the event was escalated for a person"}
        self.extra_failure = failure
        return {**summary, "state": self.state, "attempt": self.event.get("attempt"),
                "next": "the changes were undone; analyse again (event_context) and try another change, "
                        "or escalate"}

    def _verified(self, what: str) -> None:
        if self.state != "verifying" or self.passed is None or self.executor is None:
            raise Conflict(f"{what} needs a passing verify of the change first (the event is {self.state})")

    def _message(self, summary: str) -> str:
        assert self.ctx is not None
        return (f"healloop: fix for {self.spec} (from an IDE)\n\n{clip(summary, 2000)}\n\n"
                f"Verified by rerunning {self.spec}::{self.test}.\n\nHealloop-Event: {self.id}\n")

    async def resolve(self, summary: str) -> dict[str, Any]:
        self._verified("resolve")
        assert self.executor is not None and self.ctx is not None
        paths = self.executor.edited_paths()
        if paths and "edit" in self.ctx.policy.approve:
            raise Conflict(f"node {self.node_name} asks for approval of edits ([node.policy] approve): call "
                           "propose instead")
        data: dict[str, Any] = {"playbook": PLANNER, "class": self.ctx.classification.kind,
                                "run": self.passed, "summary": clip(summary, 2000)}
        async with self.node() as node:
            if paths:
                data["commit"] = await node.call("git_commit", message=self._message(summary),
                                                 event_id=self.id, paths=paths)
                data["commit"].pop("message", None)
            if self.ctx.policy.push and paths:
                try:
                    data["push"] = await node.call("git_push")
                except HealloopError as exc:
                    data["push"] = {"error": exc.message}
        note = f"verified: {self.spec}::{self.test} passes on {self.node_name}"
        if data.get("commit"):
            note = f"{note}; committed {data['commit']['sha'][:10]}"
        await self.move("resolved", note, data)
        return {"state": "resolved", "commit": data.get("commit"), "push": data.get("push"), "note": note}

    async def propose(self, summary: str) -> dict[str, Any]:
        self._verified("propose")
        assert self.executor is not None and self.ctx is not None
        paths = self.executor.edited_paths()
        if not paths or "edit" not in self.ctx.policy.approve:
            raise Conflict(f"node {self.node_name} does not ask for approval of this change "
                           "([node.policy] approve has no \"edit\", or nothing was edited): call resolve")
        branch = f"{PROPOSAL_PREFIX}{self.id}"
        async with self.node() as node:
            commit = await node.call("git_commit", message=self._message(summary), event_id=self.id,
                                     paths=paths, branch=branch)
            shown = await node.call("git_show", revision=commit["sha"])
        await self.undo()
        diff = str(shown.get("diff") or "")
        proposal = {"kind": "branch", "branch": branch, "sha": commit["sha"], "base": commit.get("base"),
                    "node": self.node_name, "files": commit.get("files") or shown.get("files") or [],
                    "diff": diff[:MAX_PROPOSAL_DIFF],
                    "diff_truncated": len(diff) > MAX_PROPOSAL_DIFF or bool(shown.get("truncated"))}
        note = (f"verified: {self.spec}::{self.test} passes on {self.node_name} with the fix, proposed on "
                f"{branch} ({commit['sha'][:10]}); approve with `healloop approve {self.id}`, or "
                f"`healloop reject {self.id} --reason TEXT`")
        await self.move("proposed", note, {"playbook": PLANNER, "class": self.ctx.classification.kind,
                                           "run": self.passed, "summary": clip(summary, 2000),
                                           "proposal": proposal})
        return {"state": "proposed", "branch": branch, "sha": commit["sha"], "note": note}

    async def escalate(self, reason: str, report: str) -> dict[str, Any]:
        await self.undo()
        data: dict[str, Any] = {"playbook": PLANNER, "ide_report": clip(report, 8000)}
        if self.ctx is not None:
            data["report"] = build_report(self.ctx, self.tried + (self.executor.records if self.executor
                                                                  else []), reason)
            data["class"] = self.ctx.classification.kind
        await self.move("escalated", f"escalated from an IDE: {clip(reason, 1500)}", data)
        return {"state": "escalated"}

    async def release(self, note: str) -> None:
        """Give the event back to the queue with this attempt's changes undone; never raises."""
        if self.done:
            return
        await self.undo()
        if self.discarded:
            note = f"{note}; {rollback.describe(self.discarded)}"
            self.discarded = []
        try:
            await self._q(self.queue.release, self.id, self.token, clip(note, 2000))
        except HealloopError as exc:
            log.warning("could not release %s: %s", self.id, exc.message)
        self.done, self.state = True, "queued"
