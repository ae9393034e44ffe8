"""The agent loop: claim an event, keep its lease alive, analyse, fix, verify, resolve or escalate.

One process runs ``concurrency`` workers as tasks; each holds at most one event. SIGTERM (or SIGINT)
stops claiming; a worker finishes the step in hand (one state move and its tool calls), then releases
the event with a note. Every state move records what was seen and done in the history's ``data``.

Every attempt is a transaction (``rollback.py``): what it changed on a node is undone through the
node's ``discard_changes`` before the next attempt and before the event is escalated or released; only
a commit (or a verified revert, kept for a person) makes it stay. Work on a node starts by undoing what
a dead previous holder left there, and by cleaning up after finished events whose holders died.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from typing import Any

import anyio

from healloop import __version__
from healloop.agent import metrics, own_commit, plan_approval, rollback, siblings
from healloop.agent.bounds import clip, fit, size
from healloop.agent.classify import classify
from healloop.agent.context import Context, gather, spec_in_workspace
from healloop.agent.executor import Executor
from healloop.agent.forge_issue import after_escalation
from healloop.agent.guardrails import Refused
from healloop.agent.healing.heal import MARGIN, THRESHOLD, Settings
from healloop.agent.mcpclient import SETUP_TIMEOUT_S, NodeSession, NodeUnavailable
from healloop.agent.nodetrust import NodeHosts
from healloop.agent.planner import RulesPlanner
from healloop.agent.playbooks import Plan
from healloop.agent.report import build_report, pull_request_body
from healloop.agent.siblings import Sibling, SiblingSet
from healloop.client import QueueClient
from healloop.errors import BudgetExhausted, Conflict, FileOwned, HealloopError, PayloadTooLarge, Unavailable

log = logging.getLogger(__name__)
# The agent is done with an event in these states: it no longer holds a lease on it.
DONE = ("resolved", "escalated", "proposed")
# A proposed fix's branch: healloop/<event id> (`healloop approve` lands it, `reject` deletes it).
PROPOSAL_PREFIX = "healloop/"
# The proposal's diff kept in the event's history (the whole diff stays on the branch).
MAX_PROPOSAL_DIFF = 20_000
# A move's data when the queue refused it as too large (413) even within max_data_kb: a proxy in front of
# the queue may allow much less than the queue's own 1 MiB.
FALLBACK_DATA_BYTES = 48 * 1024

# Fault injection for tests only, read from the environment at the point it applies:
# * "after_fix": the worker stops dead after applying its fix and before verifying (heartbeats go on), so
#   a test can kill -9 the agent mid-fix at a known point.
# * "after_commit": the same, after the fix is committed and before the event is resolved.
# * "raise_in_analysis": the first analysis in this process raises AttributeError (a stand-in for a bug),
#   later ones run normally, so a test can see the same process go on to the next event.
# * "raise_after_fix": the same, once the fix is applied and before verifying, so a test can see the
#   fix undone before the event is escalated.
# * "pause_after_claim:<path>": after a claim the worker waits (heartbeats go on) until <path> exists, so a
#   test can signal the agent while it holds an event mid-work.
# * "pause_after_fix:<path>": the same after the fix is applied and before verifying, so a test can kill
#   the tool node between the two.
FAILPOINT_ENV = "HEALLOOP_AGENT_FAILPOINT"
_failpoints_fired: set[str] = set()


def _failpoint(name: str) -> str | None:
    """The failpoint's argument ("" when it has none) when ``name`` is set, else None."""
    value = os.environ.get(FAILPOINT_ENV, "")
    point, _, arg = value.partition(":")
    if point != name:
        return None
    print(f"failpoint {name} reached", file=sys.stderr, flush=True)
    return arg


async def _pause_at(name: str) -> None:
    """At failpoint ``name:<path>``, wait (heartbeats go on) until <path> exists."""
    path = _failpoint(name)
    while path is not None and not os.path.exists(path):
        await anyio.sleep(0.05)


@dataclass
class AgentConfig:
    queue_url: str
    token: str | None = None
    node_token: str | None = None
    node_hosts: tuple[str, ...] = ()  # hosts beyond loopback whose node URLs get the node token
    planner: str = "rules"
    concurrency: int = 1
    dry_run: bool = False
    lease_s: float = 60.0
    wait_s: float = 10.0
    name: str = field(default_factory=lambda: f"agent-{socket.gethostname()}-{os.getpid()}")
    llm: Any = None  # healloop.agent.llm.LLMConfig when planner == "llm"
    heal_threshold: float = THRESHOLD  # selector healing: least evidence for the chosen element
    heal_margin: float = MARGIN  # selector healing: lead over the runner-up
    # The most data one state move carries (bounds.fit): well below the queue's 1 MiB body limit; lower
    # it when a proxy in front of the queue allows less.
    max_data_kb: int = 256
    node_setup_s: float = SETUP_TIMEOUT_S  # opening a session to a node: connect, handshake, tool list
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None  # GET /metrics there (agent/metrics.py); None: not served


class _Stop(Exception):
    """The worker gives the event up: stopping, or the lease is gone."""


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.node_hosts = NodeHosts.of(config.node_hosts)
        self.stopping = False
        if config.planner == "llm":
            from healloop.agent.llm import LLMPlanner

            self.planner: Any = LLMPlanner(config.llm)
        else:
            self.planner = RulesPlanner()

    def stop(self) -> None:
        if not self.stopping:
            log.warning(
                "agent %s stopping: no new claims; events in hand are released after their step",
                self.config.name,
            )
        self.stopping = True

    async def run(self) -> None:
        metrics.INFO.set(1, self.planner.name, __version__)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._signals, tg.cancel_scope)
            async with anyio.create_task_group() as workers:
                for i in range(self.config.concurrency):
                    workers.start_soon(self._worker, f"{self.config.name}/{i}")
            tg.cancel_scope.cancel()

    async def _signals(self, scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                self.stop()

    async def _worker(self, name: str) -> None:
        with QueueClient(self.config.queue_url, self.config.token, timeout=30) as queue:
            while not self.stopping:
                try:
                    claim = await anyio.to_thread.run_sync(
                        lambda: queue.claim(name, wait=self.config.wait_s, lease=self.config.lease_s)
                    )
                except Unavailable as exc:
                    log.warning("%s: %s; retrying in 2 s", name, exc.message)
                    await anyio.sleep(2)
                    continue
                if claim is None:
                    continue
                job = EventJob(self, queue, claim, name)
                if self.stopping:
                    await job.release("the agent was stopping when the claim arrived")
                    break
                # The boundary of handling one event. Expected failures (queue or node errors, a lost
                # lease, stopping) are handled inside EventJob.run; anything else is a bug in the agent
                # or a planner. It must cost this one event, not the worker: log it with its traceback,
                # put it on the event, and go on claiming. BaseException (cancellation, KeyboardInterrupt)
                # is not caught here.
                metrics.IN_HAND.inc()
                started = anyio.current_time()
                try:
                    await job.run()
                except Exception as exc:  # noqa: BLE001 - see above: the one catch-all, by design
                    await job.agent_error(_unwrap(exc))
                finally:
                    metrics.IN_HAND.inc(by=-1)
                    outcome = job.state if job.state in DONE else "lost" if job.lost else "released"
                    metrics.EVENTS.inc(outcome)
                    metrics.EVENT_SECONDS.observe(anyio.current_time() - started, outcome)


def _run_summary(run: dict[str, Any]) -> dict[str, Any]:
    return {k: run.get(k) for k in ("status", "exit_code", "duration_s", "failure_message")}


def _unwrap(exc: Exception) -> Exception:
    """The one error inside task-group wrappers (anyio raises ExceptionGroup out of EventJob.run)."""
    while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class EventJob:
    """One claimed event, from claim to resolved, escalated or released."""

    def __init__(self, agent: Agent, queue: QueueClient, claim: dict[str, Any], worker: str) -> None:
        self.agent, self.queue, self.worker = agent, queue, worker
        self.event: dict[str, Any] = claim["event"]
        self.token: str = claim["lease"]["token"]
        self.id: str = self.event["id"]
        self.lost = False
        self.state = self.event.get("status", "processing")
        # What was undone (rollback.discard summaries) and not yet recorded: the next move carries it
        # as data.discarded.
        self.discarded: list[dict[str, Any]] = []
        self.touched: dict[str, str] = {}  # name -> mcp_url of every node this job worked on
        # How long, in all, this job may wait for files another event holds (two leases), and how many
        # times it may analyse again after one came free.
        self.owned_wait_s = 2 * agent.config.lease_s
        self.owned_retries = 3
        # Queued events the same heal resolves (siblings.py): claimed, heartbeated, resolved together.
        self.siblings = SiblingSet(queue, worker, agent.planner.name, agent.config.lease_s)

    # -- queue calls (sync client, run in a thread)
    async def _q(self, fn: Any, *args: Any, **kw: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kw))

    async def move(self, to: str, note: str, data: dict[str, Any] | None = None) -> None:
        if self.lost:
            raise _Stop("the lease was lost")
        body = {"worker": self.worker, "planner": self.agent.planner.name, **(data or {})}
        if self.discarded:
            body["discarded"] = self.discarded
        note = clip(note, 2000)
        body = fit(body, self.agent.config.max_data_kb * 1024)
        try:
            self.event = await self._q(self.queue.transition, self.id, self.token, to, note, body)
        except PayloadTooLarge as exc:
            # Something in front of the queue (a proxy) or the queue itself allows less than we sent: the
            # move and the report matter more than their detail, so they go again, cut much harder.
            sent = size(body)
            log.warning("%s: the queue refused %d bytes of data for %s -> %s (%s); sending it cut to %d",
                        self.worker, sent, self.id, to, exc.message, FALLBACK_DATA_BYTES,
                        extra={"event_id": self.id})
            body = {**fit(body, FALLBACK_DATA_BYTES), "trimmed": (
                f"the queue refused this data at {sent} bytes ({clip(exc.message, 200)}); it was cut to "
                f"{FALLBACK_DATA_BYTES} bytes: see the agent's log for the rest")}
            self.event = await self._q(self.queue.transition, self.id, self.token, to, note, body)
        self.discarded = []
        self.state = to
        log.info("%s: %s -> %s (%s)", self.worker, self.id, to, note[:200], extra={"event_id": self.id})
        if to == "escalated" and not self.agent.config.dry_run:
            await after_escalation(self.event, body, self.touched, self.agent.config.node_token)

    async def checkpoint(self) -> None:
        """Between steps: give the event back if the agent is stopping or the lease is gone."""
        if self.lost:
            raise _Stop("the lease was lost")
        if self.agent.stopping:
            raise _Stop(f"agent stopping (SIGTERM) after finishing the {self.state} step")

    # -- undoing this event's changes (see rollback.py)
    async def undo(self, node: NodeSession | None = None, name: str = "", keep_branch: bool = False) -> None:
        """Undo this event's uncommitted changes: on ``node`` (a live session), else on every node this
        job worked on, each through a session of its own. Never when the lease is lost: the event's
        next holder owns its changes now and undoes them itself. A node that cannot undo is recorded
        as such; the event goes on to its next step either way."""
        if self.lost or self.agent.config.dry_run:  # a dry run changes nothing, undoing included
            return
        if node is not None:
            done = [await rollback.discard_or_say_why(node, name, self.id, keep_branch)]
        else:
            done = await rollback.discard_everywhere(self.touched, self.agent.config.node_token, self.id,
                                                     setup_timeout=self.agent.config.node_setup_s)
        for d in filter(None, done):
            log.info("%s: %s", self.worker, rollback.describe([d]), extra={"event_id": self.id})
            self.discarded.append(d)

    async def _start_on(self, node: NodeSession, name: str) -> None:
        """Before work on a node: clean what finished events' dead holders left there, then undo what a
        dead previous holder of this event left (the changes of an attempt that never ended)."""
        held = await self._clean_leftovers(node, name)
        if any(c.get("event_id") == self.id for c in held):
            await self.undo(node, name)

    async def _clean_leftovers(
        self, node: NodeSession, name: str, only: str | None = None
    ) -> list[dict[str, Any]]:
        """The janitor (rollback.clean_leftovers), for every event or ``only`` one; returns what was
        pending before. A failure costs the cleaning, not the event."""
        if self.agent.config.dry_run:
            return []
        held: list[dict[str, Any]] = []
        try:
            held = await rollback.pending(node)
            self.discarded += await rollback.clean_leftovers(
                node, name, self.id, lambda event_id: self._q(self.queue.get, event_id),
                [c for c in held if only is None or c.get("event_id") == only],
            )
        except NodeUnavailable:
            raise
        except HealloopError as exc:
            log.warning("%s: could not clean leftovers on %s: %s", self.worker, name, exc.message)
        return held

    async def agent_error(self, exc: BaseException) -> None:
        """An unexpected error while handling this event: logged with its traceback, then its changes
        are undone and the event is escalated with a note naming it while the lease is held, else
        released."""
        note = f"agent error: {type(exc).__name__}: {exc}"
        log.error(
            "%s: unexpected error on %s while %s",
            self.worker,
            self.id,
            self.state,
            exc_info=exc,
            extra={"event_id": self.id},
        )
        if self.state in DONE:
            return
        await self.undo()
        try:
            await self.move("escalated", note, {"error": {"type": type(exc).__name__, "state": self.state}})
        except (HealloopError, _Stop) as move_failed:
            log.warning("%s: could not escalate %s (%s); releasing it", self.worker, self.id, move_failed)
            await self.release(self._with_undo(note))

    def _with_undo(self, note: str) -> str:
        """A release carries no data: what was undone goes into its note."""
        if not self.discarded:
            return note
        note, self.discarded = f"{note}; {rollback.describe(self.discarded)}", []
        return note

    async def release(self, note: str) -> None:
        try:
            await self._q(self.queue.release, self.id, self.token, note)
        except HealloopError as exc:
            log.warning("%s: could not release %s: %s", self.worker, self.id, exc.message)

    async def _heartbeat(self) -> None:
        interval = max(0.5, self.agent.config.lease_s / 3)
        while True:
            await anyio.sleep(interval)
            try:
                await self._q(self.queue.heartbeat, self.id, self.token)
            except Conflict as exc:
                log.warning("%s: lease on %s lost: %s", self.worker, self.id, exc.message)
                self.lost = True
                return
            except Unavailable as exc:
                log.warning("%s: heartbeat failed, will retry: %s", self.worker, exc.message)

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._heartbeat)
            tg.start_soon(self.siblings.heartbeat)
            try:
                await self._process()
            except _Stop as stop:
                if not self.lost and self.state not in DONE:
                    await self.undo()
                    await self.release(self._with_undo(str(stop)))
            except Conflict as exc:
                # Lease lost or the event moved under us: another holder owns it now.
                log.warning("%s: gave up %s: %s", self.worker, self.id, exc.message)
            except HealloopError as exc:
                log.error("%s: %s failed: %s", self.worker, self.id, exc.message)
                await self.undo()
                try:
                    await self.move("escalated", f"agent error while {self.state}: {exc.message}")
                except HealloopError:
                    await self.release(self._with_undo(f"agent error while {self.state}: {exc.message}"))
            finally:
                # Siblings still held did not get their fix committed: they go back to the queue.
                await self.siblings.release_all(f"released by {self.worker}: event {self.id} ended "
                                                f"{self.state} without committing the shared fix")
                tg.cancel_scope.cancel()

    def _session(self, url: str) -> NodeSession:
        config = self.agent.config
        return NodeSession(url, config.node_token, setup_timeout=config.node_setup_s)

    async def _registered(self) -> tuple[dict[str, str], dict[str, str]]:
        """The registered nodes whose URL may get the node token, and why each other may not."""
        return self.agent.node_hosts.split(await self._q(self.queue.nodes))

    async def _node_urls(self) -> tuple[list[tuple[str, str]], dict[str, str]]:
        """(name, mcp_url) of the registered nodes that reported this event, its first reporter first,
        and why each of its nodes on a host not trusted is left out."""
        registered, refused = await self._registered()
        first = str(self.event.get("node"))
        names = [first, *(n for n in self.event.get("nodes") or [] if n != first)]
        left_out = {name: refused[name] for name in names if name in refused}
        for why in left_out.values():
            log.warning("%s: %s", self.worker, why, extra={"event_id": self.id})
        return [(name, registered[name]) for name in names if name in registered], left_out

    async def _process(self) -> None:
        await _pause_at("pause_after_claim")
        nodes, untrusted = await self._node_urls()
        if not nodes and untrusted:
            await self.move("escalated", "; ".join(untrusted.values()), {"untrusted_nodes": untrusted})
            return
        if not nodes:
            await self.move(
                "escalated",
                f"no tool node is registered as {self.event.get('node')!r}; "
                "start `healloop mcp serve --queue ... --node NAME` on that machine and requeue",
            )
            return
        # A failure seen on several machines can be repaired on any of them: when one node is down (or
        # dies mid-repair), go on with the next. A node-local failure has one node, so it escalates.
        unreachable: dict[str, str] = {}
        for i, (name, url) in enumerate(nodes):
            self.touched[name] = url
            try:
                async with self._session(url) as node:
                    await self._with_node(node, name)
                return
            except NodeUnavailable as exc:
                if self.state in DONE:
                    raise
                unreachable[name] = exc.message
                log.warning("%s: node %s unreachable for %s: %s", self.worker, name, self.id, exc.message)
                if i + 1 < len(nodes) and self.state in ("fixing", "verifying"):
                    # Start the analysis again on the next node; from verifying this costs an attempt.
                    await self.move(
                        "analyzing",
                        f"node {name} became unreachable; going on on node {nodes[i + 1][0]}",
                        {"unreachable": {name: exc.message}},
                    )
        await self.move(
            "escalated",
            "the tool node is unreachable: "
            + "; ".join(f"{name}: {message}" for name, message in unreachable.items()),
            {"unreachable": unreachable},
        )

    async def _with_node(self, node: NodeSession, name: str) -> None:
        try:
            info = await node.call("node_info")
        except NodeUnavailable:
            raise
        except HealloopError:
            info = {}  # an older node without node_info: default policy, no services known
        info = {**info, "name": name}
        spec, test = str(self.event.get("spec") or ""), str(self.event.get("test") or "")
        reported = spec
        spec = await spec_in_workspace(node, info, spec)
        await self._start_on(node, name)
        if self.state == "processing":
            await self.move("analyzing", f"analysing on node {info['name']}")
        await self.checkpoint()
        extra_failure: str | None = None
        tried: list[dict[str, Any]] = []
        if (info.get("policy") or {}).get("pull"):
            extra_failure = await self._catch_up(node, spec, test)
            if self.state == "resolved":
                return
        while True:
            event = await self._q(self.queue.get, self.id)
            if spec != reported:
                event = {**event, "spec": spec}
            ctx = await gather(node, self.queue, event, info, extra_failure)
            ctx.heal_settings = Settings(self.agent.config.heal_threshold, self.agent.config.heal_margin,
                                         ctx.test_id_attr)
            if "raise_in_analysis" not in _failpoints_fired and _failpoint("raise_in_analysis") is not None:
                _failpoints_fired.add("raise_in_analysis")
                raise AttributeError("'Context' object has no attribute 'injected' (failpoint)")
            if not tried and not ctx.previous_failures and await self._caused_by_own_commit(node, ctx):
                return
            executor = Executor(node, ctx, dry_run=self.agent.config.dry_run)
            try:
                plan: Plan = await self.agent.planner.plan(ctx, executor)
            except Refused as refused:
                await self._refused(node, name, ctx, refused, tried + executor.records, "llm")
                return
            analysis = ctx.summary()
            if plan.escalate:
                await self.undo(node, name)
                report = build_report(ctx, tried, plan.why)
                await self.move(
                    "escalated",
                    f"escalated: {plan.why}",
                    {
                        "analysis": analysis,
                        "plan": plan.to_dict(),
                        "playbook": plan.playbook,
                        "class": ctx.classification.kind,
                        "report": report,
                    },
                )
                return
            if self.agent.config.dry_run:
                await self._dry_run(ctx, executor, plan, analysis)
                return
            waiting = plan_approval.waiting_for(plan, ctx.policy.approve, event.get("history") or [])
            if waiting:
                await self._propose_plan(ctx, plan, analysis, waiting)
                return
            if plan.actions:
                try:
                    # `node` is what the queue counts against the node's budget of automatic fixes.
                    await self.move(
                        "fixing",
                        plan.why,
                        {"analysis": analysis, "plan": plan.to_dict(), "class": ctx.classification.kind,
                         "node": ctx.info["name"]},
                    )
                except BudgetExhausted as spent:
                    await self._over_budget(ctx, plan, analysis, tried, spent)
                    return
                try:
                    records = await self._apply(executor, plan)
                except Refused as refused:
                    await self._refused(node, name, ctx, refused, tried + executor.records, plan.playbook)
                    return
                except FileOwned:
                    tried += executor.records
                    if await self._wait_for_file(node, name, ctx, plan, executor.records, tried):
                        continue  # free again: analyse afresh, in the same attempt
                    return
                except HealloopError as exc:
                    records = executor.records
                    log.warning("%s: action failed on %s: %s", self.worker, self.id, exc.message)
                tried += records
                if _failpoint("after_fix") is not None:
                    await anyio.sleep_forever()
                if _failpoint("raise_after_fix") is not None:
                    raise AttributeError("'Plan' object has no attribute 'injected' (failpoint)")
                await _pause_at("pause_after_fix")
                await self.checkpoint()
                await self.move("verifying", f"rerunning {spec}::{test}", {"actions": records})
            else:
                await self.move(
                    "verifying",
                    f"{plan.why}; rerunning {spec}::{test}",
                    {"analysis": analysis, "plan": plan.to_dict(), "class": ctx.classification.kind},
                )
            run = await node.call("run_test", spec=spec, test=test)
            run_summary = _run_summary(run)
            metrics.ATTEMPTS.inc(metrics.label(plan.playbook), "passed" if run.get("passed") else "failed")
            if run.get("passed"):
                await self._resolve(node, ctx, plan, executor, run_summary)
                return
            failure = str(run.get("failure_message") or f"exit code {run.get('exit_code')}")
            tried.append({"verification": run_summary, "playbook": plan.playbook})
            # The next attempt, or the escalation, starts from the workspace as it was.
            await self.undo(node, name)
            try:
                await self.move(
                    "analyzing",
                    f"verification failed: {failure[:300]}",
                    {"failure": failure, "run": run_summary, "output_tail": run.get("output_tail")},
                )
            except Conflict as exc:
                await self.move(
                    "escalated",
                    f"escalated after attempt {ctx.attempt}: {exc.message}",
                    {
                        "report": build_report(
                            ctx,
                            tried,
                            f"the test still fails after {ctx.attempt} attempt(s): {failure[:500]}",
                        ),
                        "class": ctx.classification.kind,
                        "playbook": plan.playbook,
                        "run": run_summary,
                    },
                )
                return
            extra_failure = failure
            await self.checkpoint()

    @staticmethod
    async def _apply(executor: Executor, plan: Plan) -> list[dict[str, Any]]:
        """Carry out the plan's actions, each counted by what became of it, whatever stops the run."""
        try:
            return await executor.run(plan.actions)
        finally:
            metrics.count_actions(plan.playbook, executor.records)

    async def _caused_by_own_commit(self, node: NodeSession, ctx: Context) -> bool:
        """Escalate, proposing the undo, a failure at a line one of healloop's own recent commits wrote
        (``agent/own_commit.py``): a second heal on top of the first is how loops start."""
        try:
            fault = await own_commit.at_fault(node, ctx, self.id)
        except NodeUnavailable:
            raise
        except HealloopError as exc:
            log.warning("%s: %s: could not check healloop's own commits: %s", self.worker, self.id,
                        exc.message)
            return False
        if fault is None:
            return False
        why = (f"{ctx.spec}:{fault['line']} fails at a line healloop's own commit {str(fault['sha'])[:10]} "
               f"(event {fault['event']}) wrote just before: treated as caused by that heal, not repaired "
               f"again; undo it with `healloop revert {fault['event']}`")
        await self.move("escalated", f"escalated: {why}", {
            "analysis": ctx.summary(), "class": ctx.classification.kind, "playbook": "own_commit",
            "caused_by": fault, "report": build_report(ctx, [], why)})
        return True

    async def _catch_up(self, node: NodeSession, spec: str, test: str) -> str | None:
        """A node that follows a shared branch first takes what other nodes pushed (another agent's fix
        for this very failure, say) and, when anything came, reruns the test: a failure repaired
        elsewhere is not repaired twice. Returns the failure when the test still fails after pulling."""
        try:
            pulled = await node.call("git_pull")
        except NodeUnavailable:
            raise
        except HealloopError as exc:
            log.warning("%s: %s: could not pull: %s", self.worker, self.id, exc.message)
            return None
        if not pulled.get("updated"):
            return None
        where = f"{pulled.get('remote')}/{pulled.get('branch')}"
        commits = pulled.get("commits") or []
        subjects = ", ".join(f"{c['sha'][:10]} {c['subject']}" for c in commits[:5])
        await self.move(
            "verifying",
            f"pulled {len(commits)} commit(s) from {where} ({subjects}); rerunning {spec}::{test}",
            {"pull": pulled},
        )
        run = await node.call("run_test", spec=spec, test=test)
        summary = _run_summary(run)
        kind = classify(str(self.event.get("message") or ""), self.event.get("stack")).kind
        if run.get("passed"):
            await self.move(
                "resolved",
                f"verified: {spec}::{test} passes after pulling {str(pulled.get('after'))[:10]} from "
                f"{where}; nothing was changed on this node",
                {"playbook": "upstream", "class": kind, "pull": pulled, "run": summary},
            )
            return None
        failure = str(run.get("failure_message") or f"exit code {run.get('exit_code')}")
        await self.move(
            "analyzing",
            f"still fails after pulling from {where}: {failure[:300]}",
            {"failure": failure, "run": summary, "output_tail": run.get("output_tail")},
        )
        return failure

    async def _other_nodes(
        self, ctx: Context, push: dict[str, Any] | None, spec: str, test: str
    ) -> dict[str, dict[str, Any]]:
        """The other nodes that reported this failure (read now, so late reports count) and what each
        saw: with the fix pushed, each pulls it and reruns the test before the event is resolved."""
        event = await self._q(self.queue.get, self.id)
        others = [n for n in event.get("nodes") or [] if n != ctx.info["name"]]
        if not others:
            return {}
        if push and "error" not in push:
            return await self._verify_elsewhere(others, spec, test)
        why = "the fix was not pushed: " + str((push or {}).get("error", "node.policy.push is off"))
        return {name: {"skipped": why} for name in others}

    async def _verify_elsewhere(self, names: list[str], spec: str, test: str) -> dict[str, dict[str, Any]]:
        """After a pushed fix: every other node that reported the failure pulls it and reruns the test."""
        registered, refused = await self._registered()
        # A node on a host not trusted is not asked (it would get the node token): its entry says why.
        results: dict[str, dict[str, Any]] = {n: {"error": refused[n]} for n in names if n in refused}
        limiter = anyio.CapacityLimiter(4)

        async def one(name: str) -> None:
            async with limiter:
                results[name] = await self._pull_and_rerun(name, registered.get(name), spec, test)

        async with anyio.create_task_group() as tg:
            for name in names:
                if name not in refused:
                    tg.start_soon(one, name)
        return {name: results[name] for name in names}

    async def _pull_and_rerun(self, name: str, url: str | None, spec: str, test: str) -> dict[str, Any]:
        if url is None:
            return {"error": "not registered with the queue"}
        try:
            async with self._session(url) as other:
                info = await other.call("node_info")
                if not (info.get("policy") or {}).get("pull"):
                    return {"skipped": "node.policy.pull is off on this node"}
                pulled = await other.call("git_pull")
                run = await other.call("run_test", spec=spec, test=test)
        except HealloopError as exc:
            return {"error": exc.message}
        return {
            "pulled": pulled.get("after"),
            "updated": bool(pulled.get("updated")),
            "passed": bool(run.get("passed")),
            "run": _run_summary(run),
        }

    async def _wait_for_file(
        self,
        node: NodeSession,
        name: str,
        ctx: Context,
        plan: Plan,
        records: list[dict[str, Any]],
        tried: list[dict[str, Any]],
    ) -> bool:
        """An edit was refused because another event has uncommitted changes to the file. Undo what this
        attempt applied, then wait (bounded by ``owned_wait_s`` over the whole job; heartbeats go on)
        for the other event to commit or undo them. True: the file is free and the event is back in
        analyzing. False: it stayed held and the event is escalated with a note saying so."""
        path = str(records[-1]["args"].get("path"))
        await self.undo(node, name)
        interval = min(2.0, max(0.2, self.agent.config.lease_s / 10))
        started = anyio.current_time()
        owner = await self._owner_of(node, path)
        log.info("%s: %s: %s is held by event %s; waiting up to %.0f s", self.worker, self.id, path, owner,
                 self.owned_wait_s, extra={"event_id": self.id})
        while owner not in (None, self.id) and anyio.current_time() - started < self.owned_wait_s:
            await anyio.sleep(interval)
            await self.checkpoint()
            # Its holder may have died and the queue finished the event since: clean up after it.
            await self._clean_leftovers(node, name, only=owner)
            owner = await self._owner_of(node, path)
        waited = anyio.current_time() - started
        self.owned_wait_s = max(0.0, self.owned_wait_s - waited)
        self.owned_retries -= 1
        if owner in (None, self.id) and self.owned_retries >= 0:
            await self.move(
                "analyzing",
                f"{path} was held by another event's uncommitted changes; free after {waited:.1f} s, "
                "analysing again",
                {"actions": records},
            )
            return True
        why = (
            f"{path} has uncommitted changes for event {owner} on node {name} that were neither committed "
            f"nor undone within {waited:.0f} s, so this event's change to it was not made; finish or "
            f"discard {owner} (discard_changes on the node) and requeue this event"
            if owner not in (None, self.id)
            else f"{path} was taken by other events' changes again each time it came free; requeue this "
            "event when they are done"
        )
        await self.move(
            "escalated",
            f"escalated: {why}",
            {
                "actions": tried,
                "held_by": {"event_id": owner, "path": path, "node": name},
                "report": build_report(ctx, tried, why),
                "class": ctx.classification.kind,
                "playbook": plan.playbook,
            },
        )
        return False

    async def _owner_of(self, node: NodeSession, path: str) -> str | None:
        owner = rollback.owner_of(await rollback.pending(node), path)
        return str(owner["event_id"]) if owner else None

    async def _over_budget(
        self, ctx: Context, plan: Plan, analysis: dict[str, Any], tried: list[dict[str, Any]],
        spent: BudgetExhausted,
    ) -> None:
        """The queue refused the move to fixing: this test or node had its automatic fixes for the hour.
        Nothing is undone: this attempt changed nothing yet, and an earlier one was undone when its rerun
        failed. The plan goes to a person with the event."""
        why = spent.message.removesuffix(" (HTTP 409)")
        await self.move(
            "escalated",
            f"escalated: {why}",
            {
                "budget": why,
                "analysis": analysis,
                "plan": plan.to_dict(),
                "playbook": plan.playbook,
                "class": ctx.classification.kind,
                "report": build_report(ctx, tried, why),
            },
        )

    async def _refused(
        self,
        node: NodeSession,
        name: str,
        ctx: Context,
        refused: Refused,
        tried: list[dict[str, Any]],
        playbook: str,
    ) -> None:
        await self.undo(node, name)  # actions applied before the refused one
        await self.move(
            "escalated",
            f"guardrail refused the plan: {refused}",
            {
                "refused": refused.violations,
                "patch": refused.patch,
                "actions": tried,
                "report": build_report(ctx, tried, f"a guardrail refused the proposed change: {refused}"),
                "class": ctx.classification.kind,
                "playbook": playbook,
            },
        )

    async def _resolve(
        self, node: NodeSession, ctx: Context, plan: Plan, executor: Executor, run: dict[str, Any]
    ) -> None:
        data: dict[str, Any] = {"playbook": plan.playbook, "class": ctx.classification.kind, "run": run}
        if executor.edited_paths() and "edit" in ctx.policy.approve:
            await self._propose(node, ctx, plan, executor, data)
            return
        reverts = [r for r in executor.records if r["tool"] == "git_revert" and r.get("ok")]
        if reverts and "revert" in ctx.policy.approve:
            await self._propose(node, ctx, plan, executor, data, revert=reverts[-1]["result"])
            return
        fixed: list[Sibling] = []
        if plan.playbook == "selector" and executor.edited_paths():
            fixed = await siblings.repair(self.siblings, node, executor, ctx, plan.details)
        paths = executor.edited_paths()
        if paths:
            data["commit"] = await node.call("git_commit", message=self._message(ctx, plan, fixed),
                                             event_id=self.id, paths=paths)
            data["commit"].pop("message", None)
            if _failpoint("after_commit") is not None:
                await anyio.sleep_forever()
        if fixed:
            data["siblings"] = {s.id: {"spec": s.event.get("spec"), "test": s.event.get("test"),
                                       "run": s.run} for s in fixed}
        if plan.playbook == "selector" and paths:
            details = {**plan.details, "policy": ctx.info.get("policy")}
            unverified = await siblings.other_uses(node, details, paths)
            if unverified:
                data["also_used_in"] = unverified  # no failure reported there: not edited
        if reverts:
            data["revert"] = reverts[-1]["result"]
        # A revert stays on its healloop/ branch for a person to merge: git_push would send HEAD to the
        # node's configured branch, so only edits committed on the branch in hand are pushed.
        if ctx.policy.push and paths and not reverts:
            try:
                data["push"] = await node.call("git_push")
            except HealloopError as exc:
                data["push"] = {"error": exc.message}
            if data["push"].get("rebased") and data.get("commit"):
                data["commit"]["pushed_as"] = data["push"]["sha"]  # rebased onto another node's push
        if reverts:
            await rollback.keep(node, self.id)  # verified: the revert branch stays for a person to merge
        spec, test = ctx.spec, str(ctx.event.get("test") or "")
        if paths and not reverts:
            others = await self._other_nodes(ctx, data.get("push"), spec, test)
            if others:
                data["other_nodes"] = others
            failed = [name for name, r in others.items() if r.get("passed") is False]
            if failed:
                why = (
                    f"the fix passes on {ctx.info['name']} but {spec}::{test} still fails on "
                    f"{', '.join(failed)} after pulling it"
                )
                data["report"] = build_report(ctx, executor.records, why)
                await self.undo(node, ctx.info["name"])
                await self.move("escalated", f"escalated: {why}", data)
                return
        note = f"verified: {spec}::{test} passes on {ctx.info['name']}"
        if plan.label and not plan.actions:
            data["label"] = plan.label
            data["flaky_count"] = 1 + sum(1 for p in ctx.past if p.get("label") == plan.label)
            note = f"{note} unchanged: labelled {plan.label} ({data['flaky_count']} time(s) for this test)"
        elif data.get("commit"):
            note = f"{note}; committed {data['commit']['sha'][:10]}"
        elif reverts:
            revert = data["revert"]
            note = f"{note} after reverting on {revert.get('branch')} ({str(revert.get('sha'))[:10]})"
        verified = [name for name, r in (data.get("other_nodes") or {}).items() if r.get("passed")]
        if verified:
            note = f"{note}; pulled and passing on {', '.join(verified)}"
        unverified = sorted(set(data.get("other_nodes") or {}) - set(verified))
        if unverified:
            note = f"{note}; not verified on {', '.join(unverified)} (see data.other_nodes)"
        if fixed:
            ids = ", ".join(s.id for s in fixed)
            note = f"{note}; the same fix resolves {len(fixed)} other event(s): {ids}"
        await self.move("resolved", note, data)
        await self.siblings.resolve(fixed, data.get("commit") or {}, self.id, ctx.classification.kind)

    async def _propose(
        self, node: NodeSession, ctx: Context, plan: Plan, executor: Executor, data: dict[str, Any],
        revert: dict[str, Any] | None = None,
    ) -> None:
        """``[node.policy] approve = ["edit"]``: the verified edit is committed on ``healloop/<event id>``
        (HEAD and the followed branch do not move), the working tree is put back as it was, and the event
        waits in ``proposed`` with the diff until a person runs ``healloop approve`` or ``reject``.
        Siblings are not repaired along: each proposal holds one event's verified fix. With ``approve =
        ["revert"]`` a verified ``revert`` (already a commit on its ``healloop/revert-<id>`` branch) is
        proposed the same way: HEAD goes back to the followed branch and the branch stays."""
        name = ctx.info["name"]
        if revert is None:
            branch = f"{PROPOSAL_PREFIX}{self.id}"
            commit = await node.call("git_commit", message=self._message(ctx, plan, []), event_id=self.id,
                                     paths=executor.edited_paths(), branch=branch)
        else:
            branch, commit = str(revert["branch"]), revert
        shown = await node.call("git_show", revision=commit["sha"])
        await self.undo(node, name, keep_branch=revert is not None)
        diff = str(shown.get("diff") or "")
        proposal = {
            "kind": "branch", "branch": branch, "sha": commit["sha"], "base": commit.get("base"),
            "node": name, "files": commit.get("files") or shown.get("files") or [],
            "diff": diff[:MAX_PROPOSAL_DIFF],
            "diff_truncated": len(diff) > MAX_PROPOSAL_DIFF or bool(shown.get("truncated")),
        }
        if revert is not None:
            proposal["reverts"] = (plan.details.get("suspect") or {}).get("sha")
            data["revert"] = revert
        spec, test = ctx.spec, str(ctx.event.get("test") or "")
        what = "the revert" if revert is not None else "the fix"
        note = (f"verified: {spec}::{test} passes on {name} with {what}, proposed on {branch} "
                f"({commit['sha'][:10]}); approve with `healloop approve {self.id}`, or "
                f"`healloop reject {self.id} --reason TEXT`")
        if (ctx.info.get("git") or {}).get("pull_requests"):
            proposal["pull_request"] = await self._pull_request(node, ctx, plan, commit, proposal, data)
            if proposal["pull_request"].get("url"):
                note = f"{note}; or merge or close {proposal['pull_request']['url']}"
        await self.move("proposed", note, {**data, "proposal": proposal})

    async def _propose_plan(
        self, ctx: Context, plan: Plan, analysis: dict[str, Any], classes: list[str]
    ) -> None:
        """``[node.policy] approve = ["restart"]`` or ``["rerun"]``: the plan waits for a person before any
        of it is carried out (see ``plan_approval``). Nothing was changed by this attempt."""
        spec, test = ctx.spec, str(ctx.event.get("test") or "")
        steps = [f"{a.tool} " + ", ".join(f"{k}={v}" for k, v in a.args.items()) for a in plan.actions]
        what = "; ".join(steps) if steps else f"rerun {spec}::{test} unchanged"
        note = (f"planned {what} on {ctx.info['name']} waits for approval ([node.policy] approve has "
                f"{', '.join(classes)}): {plan.why}; approve with `healloop approve {self.id}`, or "
                f"`healloop reject {self.id} --reason TEXT`")
        await self.move("proposed", note, {
            "analysis": analysis, "plan": plan.to_dict(), "class": ctx.classification.kind,
            "playbook": plan.playbook,
            "proposal": {"kind": "plan", "classes": classes, "node": ctx.info["name"],
                         "plan": plan.to_dict()},
        })

    async def _pull_request(self, node: NodeSession, ctx: Context, plan: Plan, commit: dict[str, Any],
                            proposal: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """``[node.git] pull_requests``: the node pushes the proposal's branch and opens a pull request
        from it (the node holds the token). A forge that refuses does not lose the proposal: the error is
        recorded and `healloop approve|reject` still decides it."""
        branch = proposal["branch"]
        try:
            await node.call("git_push_branch", branch=branch)
            pr = await node.call("forge_open_pull_request", event_id=self.id, branch=branch,
                                 title=str(commit.get("subject") or f"healloop: fix for {ctx.spec}"),
                                 body=pull_request_body(ctx, plan, proposal, data.get("run") or {}))
        except HealloopError as exc:
            log.warning("pull request for %s not opened: %s", self.id, exc.message,
                        extra={"event_id": self.id})
            return {"error": exc.message}
        return {k: pr.get(k) for k in ("url", "number", "forge", "existing")}

    def _message(self, ctx: Context, plan: Plan, fixed: list[Sibling]) -> str:
        """The commit message: what was healed and verified, and one trailer per event it resolves."""
        more = f" and {len(fixed)} more" if fixed else ""
        subject = f"healloop: {plan.playbook} fix for {ctx.spec}{more}"
        body = f"{plan.why}\n\nVerified by rerunning {ctx.spec}::{ctx.event.get('test')}"
        for sib in fixed:
            body += f", {sib.event.get('spec')}::{sib.event.get('test')}"
        return f"{subject}\n\n{body}.\n\n{siblings.trailers(self.id, fixed)}\n"

    async def _dry_run(self, ctx: Context, executor: Executor, plan: Plan, analysis: dict[str, Any]) -> None:
        try:
            await self._apply(executor, plan)
            verdict = "planned and checked; nothing was changed"
        except Refused as refused:
            verdict = f"the plan would be refused: {refused}"
        await self.move(
            "escalated",
            f"dry run: {verdict}",
            {
                "dry_run": True,
                "analysis": analysis,
                "plan": plan.to_dict(),
                "actions": executor.records,
                "class": ctx.classification.kind,
                "playbook": plan.playbook,
            },
        )
