"""The other failures one heal repairs: when a renamed element breaks ten tests, ten events arrive with
the same broken locator. The agent that healed one takes the others that are still queued on the same
node (claimed by id, so no other agent works on them), heals each one's spec the same way (a spec
already healed needs nothing more), reruns each one's test, and the fix is committed once with one
``Healloop-Event`` trailer per event it resolves. A sibling whose rerun fails has its own edit undone
and goes back to the queue, to be handled on its own.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import anyio

from healloop.agent.classify import SELECTOR_NOT_FOUND, classify
from healloop.agent.guardrails import Policy, is_test_path
from healloop.agent.healing.heal import flavor_of
from healloop.agent.healing.locators import Locator, Step, same_target
from healloop.agent.healing.messages import from_message
from healloop.client import QueueClient
from healloop.errors import BudgetExhausted, Conflict, HealloopError

log = logging.getLogger(__name__)

SCAN = 200  # queued events looked at for siblings; more waits for the next agent


@dataclass
class Sibling:
    event: dict[str, Any]
    token: str
    state: str = "processing"
    edits: list[dict[str, Any]] = field(default_factory=list)  # applied for it: undone if it fails
    run: dict[str, Any] | None = None
    why: str = ""

    @property
    def id(self) -> str:
        return str(self.event["id"])


def locator_of(details: dict[str, Any]) -> Locator | None:
    """The broken locator a selector heal recorded in its plan's details."""
    steps = details.get("old_steps")
    if not steps:
        return None
    return Locator(tuple(Step(**s) for s in steps), str(details.get("flavor") or "playwright"))


def names_locator(event: dict[str, Any], broken: Locator) -> bool:
    """Whether ``event`` failed because ``broken`` found nothing (as its message or stack says)."""
    message, stack = str(event.get("message") or ""), str(event.get("stack") or "")
    if classify(message, stack).kind != SELECTOR_NOT_FOUND:
        return False
    flavor, _ = flavor_of(str(event.get("spec") or ""), "", str(event.get("source") or ""))
    for named in from_message(message, flavor) + from_message(stack, flavor):
        if same_target(named, broken):
            return True
        n = len(broken.steps)
        if len(named.steps) > n and same_target(Locator(named.steps[-n:], named.flavor), broken):
            return True
    return False


def candidates(
    queue: QueueClient, primary: dict[str, Any], broken: Locator, node: str
) -> list[dict[str, Any]]:
    """Queued events on ``node`` whose failure is the same broken locator (the primary excluded)."""
    out = []
    for ev in queue.list(status="queued", limit=SCAN):
        nodes = {ev.get("node"), *(ev.get("nodes") or [])}
        if ev["id"] == primary["id"] or node not in nodes or ev.get("kind", "test_failure") != "test_failure":
            continue
        if ev.get("spec") and ev.get("test") and names_locator(ev, broken):
            out.append(ev)
    return out


class SiblingSet:
    """Siblings claimed by one agent: their leases kept alive, their moves made with their tokens."""

    def __init__(self, queue: QueueClient, worker: str, planner: str, lease_s: float) -> None:
        self.queue, self.worker, self.planner, self.lease_s = queue, worker, planner, lease_s
        self.held: list[Sibling] = []

    async def _q(self, fn: Any, *args: Any, **kw: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kw))

    async def claim(self, events: list[dict[str, Any]], primary_id: str) -> None:
        for ev in events:
            try:
                got = await self._q(self.queue.claim_event, ev["id"], self.worker, lease=self.lease_s)
            except Conflict:
                continue  # another agent took it first: it heals it on its own
            sib = Sibling(got["event"], got["lease"]["token"])
            self.held.append(sib)
            await self.move(sib, "analyzing", f"taken with event {primary_id}: the same locator broke here")

    async def move(self, sib: Sibling, to: str, note: str, data: dict[str, Any] | None = None) -> None:
        body = {"worker": self.worker, "planner": self.planner, **(data or {})}
        sib.event = await self._q(self.queue.transition, sib.id, sib.token, to, note[:2000], body)
        sib.state = to

    async def heartbeat(self) -> None:
        """Keep every held sibling's lease alive (run in the job's task group)."""
        while True:
            await anyio.sleep(max(0.5, self.lease_s / 3))
            for sib in list(self.held):
                try:
                    await self._q(self.queue.heartbeat, sib.id, sib.token)
                except Conflict as exc:
                    log.warning("%s: lease on sibling %s lost: %s", self.worker, sib.id, exc.message)
                    self.held.remove(sib)
                except HealloopError as exc:
                    log.warning("%s: heartbeat for sibling %s failed: %s", self.worker, sib.id, exc.message)

    async def escalate(self, sib: Sibling, note: str, data: dict[str, Any]) -> None:
        await self.move(sib, "escalated", note, data)
        self.held.remove(sib)

    async def release(self, sib: Sibling, note: str) -> None:
        if sib in self.held:
            self.held.remove(sib)
        try:
            await self._q(self.queue.release, sib.id, sib.token, note[:2000])
        except HealloopError as exc:
            log.warning("%s: could not release sibling %s: %s", self.worker, sib.id, exc.message)

    async def resolve(self, fixed: list[Sibling], commit: dict[str, Any], primary_id: str, kind: str) -> None:
        """After the primary is resolved: each sibling the shared commit fixed, with a note that points
        to the commit."""
        sha = str(commit.get("sha") or "")[:10]
        for sib in fixed:
            what = f"{sib.event.get('spec')}::{sib.event.get('test')}"
            await self.move(sib, "resolved", f"verified: {what} passes; resolved by commit {sha} of event "
                            f"{primary_id} (the same broken locator)",
                            {"commit": commit, "resolved_with": primary_id, "playbook": "selector",
                             "class": kind, "run": sib.run})
            self.held.remove(sib)

    async def release_all(self, note: str) -> None:
        for sib in list(self.held):
            await self.release(sib, note)


async def repair(
    sset: SiblingSet, node: Any, executor: Any, ctx: Any, details: dict[str, Any]
) -> list[Sibling]:
    """After the primary heal passed its rerun and before it is committed: take the queued events the
    same heal resolves, heal each one's spec (if the primary's edit did not already), rerun each one's
    test. Returns the siblings that pass, held in ``verifying``; the rest are undone and released."""
    from healloop.agent.context import gather
    from healloop.agent.guardrails import Refused
    from healloop.agent.playbooks import selector

    broken = locator_of(details)
    if broken is None:
        return []
    primary_id = str(ctx.event["id"])
    node_name = str(ctx.info["name"])
    found = await anyio.to_thread.run_sync(candidates, sset.queue, ctx.event, broken, node_name)
    await sset.claim(found, primary_id)
    passing: list[Sibling] = []
    for sib in list(sset.held):
        spec, test = str(sib.event["spec"]), str(sib.event["test"])
        if spec in executor.edited_paths():
            await sset.move(sib, "verifying", f"{spec} was healed with event {primary_id}; rerunning {test}",
                            {"with": primary_id, "class": SELECTOR_NOT_FOUND, "playbook": "selector"})
        else:
            event = await anyio.to_thread.run_sync(sset.queue.get, sib.id)
            sctx = await gather(node, sset.queue, event, ctx.info)
            sctx.heal_settings = ctx.heal_settings
            plan = selector.plan(sctx) if selector.applies(sctx) else None
            if plan is None or plan.escalate or not plan.actions:
                why = plan.why if plan is not None else "no spec source or DOM snapshot to heal it from"
                await sset.release(sib, f"not healed with event {primary_id}: {why}")
                continue
            data = {"with": primary_id, "plan": plan.to_dict(), "class": SELECTOR_NOT_FOUND,
                    "analysis": sctx.summary(), "node": node_name}
            try:
                await sset.move(sib, "fixing", plan.why, data)
            except BudgetExhausted as spent:
                # Its test or the node had its automatic fixes for the hour: a person's, as it would be
                # if an agent had taken it up alone. Nothing was edited for it yet.
                why = spent.message.removesuffix(" (HTTP 409)")
                await sset.escalate(sib, f"escalated: {why}", {**data, "budget": why,
                                                               "playbook": "selector"})
                continue
            records = []
            try:
                for action in plan.actions:
                    records.append(await executor.run_one(action))
                    sib.edits.append(action.args)
            except (Refused, HealloopError) as exc:
                await undo(node, executor, sib)
                await sset.release(sib, f"its heal could not be applied with event {primary_id}: {exc}")
                continue
            await sset.move(sib, "verifying", f"rerunning {spec}::{test}", {"actions": records})
        run = await node.call("run_test", spec=spec, test=test)
        sib.run = {k: run.get(k) for k in ("status", "exit_code", "duration_s", "failure_message")}
        if run.get("passed"):
            passing.append(sib)
            continue
        await undo(node, executor, sib)
        failure = str(run.get("failure_message") or f"exit code {run.get('exit_code')}")
        await sset.release(sib, f"still fails after the heal of event {primary_id}: {failure[:300]}")
    return passing


async def undo(node: Any, executor: Any, sib: Sibling) -> None:
    """Put back what was edited for one sibling (the reverse edits, under the primary event's id)."""
    for args in reversed(sib.edits):
        edits = [{"old_text": e["new_text"], "new_text": e["old_text"]} for e in args.get("edits") or []]
        try:
            await node.call("edit_file", path=args["path"], edits=edits, event_id=executor.event_id)
        except HealloopError as exc:
            log.warning("could not undo the edit of %s for sibling %s: %s", args["path"], sib.id, exc.message)
    sib.edits = []


async def other_uses(node: Any, details: dict[str, Any], edited: list[str]) -> list[str]:
    """Test files that still write the broken locator's value but reported no failure (a test not run
    yet, or on another page): not edited without a failing test to verify them; named for a person."""
    broken = locator_of(details)
    value = broken.last.value if broken is not None else ""
    if len(value) < 3:
        return []
    try:
        found = await node.call("search_text", pattern=re.escape(value))
    except HealloopError:
        return []
    policy = Policy.from_node_info(details.get("policy") or {})
    return sorted({m["path"] for m in found.get("matches", [])
                   if m["path"] not in edited and is_test_path(m["path"], policy)})


def trailers(primary_id: str, siblings: list[Sibling]) -> str:
    """One ``Healloop-Event`` trailer per event a commit resolves, the primary first."""
    return "\n".join(f"Healloop-Event: {i}" for i in [primary_id, *(s.id for s in siblings)])
