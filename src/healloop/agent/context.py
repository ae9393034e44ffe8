"""Evidence for one event, gathered through the node's MCP tools and the queue.

What is gathered: the failure message and stack; the spec source (whole, and the lines around the
failing line); the DOM snapshot (and a last passing one) when reported; recent git history of the spec
and of the whole repository; the status of every configured service; past events with the same
fingerprint; how recent finished events of the same class ended (any fingerprint); and earlier
attempts' failures on this event. Failing to read one piece is recorded in
``missing`` and never stops the analysis.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import anyio

from healloop.agent.bounds import MAX_SUBJECT, bound, clip
from healloop.agent.classify import Classification, classify
from healloop.agent.guardrails import Policy, is_test_path
from healloop.agent.healing.heal import test_id_attribute
from healloop.agent.mcpclient import NodeSession, NodeUnavailable
from healloop.client import QueueClient
from healloop.errors import HealloopError

_ARTIFACT_PATH = "/v1/artifacts/"
_PASSING = re.compile(r"(?:^|[-_. ])pass(?:ing|ed)?(?:[-_. ]|$)")
_FRAME_LINE = re.compile(r"([\w./\\-]+\.(?:py|js|ts|jsx|tsx|mjs|cjs)):(\d+)")


@dataclass
class Context:
    event: dict[str, Any]
    info: dict[str, Any]
    policy: Policy
    attempt: int
    classification: Classification = field(default_factory=lambda: Classification("unknown"))
    message: str = ""
    spec_text: str | None = None
    spec_excerpt: dict[str, Any] | None = None
    dom: str | None = None
    passing_dom: str | None = None
    screenshot: bool = False
    spec_log: list[dict[str, Any]] = field(default_factory=list)
    repo_log: list[dict[str, Any]] = field(default_factory=list)
    app_log: list[dict[str, Any]] = field(default_factory=list)  # commits touching app files in the stack
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    past: list[dict[str, Any]] = field(default_factory=list)
    class_past: list[dict[str, Any]] = field(default_factory=list)  # same class, any fingerprint
    previous_failures: list[str] = field(default_factory=list)
    restarts_done: dict[str, int] = field(default_factory=dict)
    reverts_done: int = 0
    missing: list[str] = field(default_factory=list)
    test_id_attr: str | None = None  # the project's Playwright testIdAttribute, when configured
    heal_settings: Any = None  # healloop.agent.healing.heal.Settings, from the agent's configuration

    @property
    def spec(self) -> str:
        return str(self.event.get("spec") or "")

    def summary(self) -> dict[str, Any]:
        """What goes into the history: enough for a person to follow the analysis, no bulk text (every
        string and list bounded, cuts marked: see bounds.py)."""
        return bound({
            "class": self.classification.kind,
            "evidence": self.classification.evidence,
            "attempt": self.attempt,
            "spec_excerpt": self.spec_excerpt,
            "dom_snapshot": bool(self.dom),
            "passing_dom_snapshot": bool(self.passing_dom),
            "screenshot": self.screenshot,
            "spec_commits": [_commit_line(c) for c in self.spec_log[:5]],
            "recent_commits": [_commit_line(c) for c in self.repo_log[:5]],
            "app_commits": [_commit_line(c, c["file"]) for c in self.app_log[:5]],
            "services": {
                n: {k: s.get(k) for k in ("running", "healthy", "detail")} for n, s in self.services.items()
            },
            "past_events": self.past[:5],
            "class_past_outcomes": self.class_past,
            "previous_failures": self.previous_failures,
            "missing": self.missing,
        }, text=2000, items=20)


def _commit_line(c: dict[str, Any], file: str | None = None) -> str:
    subject = clip(str(c["subject"]), MAX_SUBJECT)
    return f"{c['sha'][:10]} {file}: {subject}" if file else f"{c['sha'][:10]} {subject}"


def _history_facts(event: dict[str, Any]) -> tuple[list[str], dict[str, int], int]:
    """Earlier failures on this event and the restarts/reverts already done for it."""
    failures, restarts, reverts = [], {}, 0
    for h in event.get("history") or []:
        data = h.get("data") or {}
        if h.get("from") == "verifying" and h.get("to") == "analyzing" and data.get("failure"):
            failures.append(str(data["failure"]))
        for action in data.get("actions") or []:
            if action.get("ok") and action.get("tool") == "service_restart":
                name = str(action.get("args", {}).get("name"))
                restarts[name] = restarts.get(name, 0) + 1
            if action.get("ok") and action.get("tool") == "git_revert":
                reverts += 1
    return failures, restarts, reverts


def _final_move(event: dict[str, Any]) -> dict[str, Any]:
    """The last move to resolved or escalated in an event's history ({} when there is none)."""
    history = event.get("history") or []
    return next((h for h in reversed(history) if h.get("to") in ("resolved", "escalated")), {})


def past_events(queue: QueueClient, event: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for other in queue.list(fingerprint=event.get("fingerprint"), limit=20):
        if other["id"] == event["id"]:
            continue
        data = _final_move(queue.get(other["id"])).get("data") or {}
        out.append(
            {
                "id": other["id"],
                "status": other["status"],
                "playbook": data.get("playbook"),
                "label": data.get("label"),
                "class": data.get("class"),
            }
        )
    return out


CLASS_PAST_SCAN = 50  # recent finished events read per status when looking for the same class
CLASS_PAST_KEEP = 10


def same_class_outcomes(
    events: list[dict[str, Any]], kind: str, event: dict[str, Any], keep: int = CLASS_PAST_KEEP
) -> list[dict[str, Any]]:
    """Outcomes of finished events (full, with history) whose final move recorded class ``kind``: the
    event itself and events without a recorded class are left out; newest final move first."""
    out = []
    for other in events:
        final = _final_move(other)
        data = final.get("data") or {}
        if other.get("id") == event.get("id") or other.get("status") != final.get("to"):
            continue
        if data.get("class") != kind:
            continue
        out.append(
            {
                "id": other["id"],
                "status": other["status"],
                "at": final.get("at"),
                "spec": other.get("spec"),
                "test": other.get("test"),
                "same_fingerprint": other.get("fingerprint") == event.get("fingerprint"),
                "playbook": data.get("playbook"),
                "label": data.get("label"),
                "note": str(final.get("note") or "")[:300],
            }
        )
    out.sort(key=lambda o: str(o["at"] or ""), reverse=True)
    return out[:keep]


def past_class_outcomes(queue: QueueClient, event: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """How recent resolved and escalated events of the same failure class ended, whatever their
    fingerprint. The event list carries no history, so each candidate is read in full."""
    full = [
        queue.get(other["id"])
        for status in ("resolved", "escalated")
        for other in queue.list(status=status, limit=CLASS_PAST_SCAN)
        if other["id"] != event["id"]
    ]
    return same_class_outcomes(full, kind, event)


async def _try(ctx: Context, what: str, coro: Any) -> Any:
    try:
        return await coro
    except HealloopError as exc:
        ctx.missing.append(f"{what}: {exc.message}")
        return None


UPLOAD_WAIT_S = 5.0


def with_uploads(queue: QueueClient, event: dict[str, Any], wait_s: float = UPLOAD_WAIT_S) -> dict[str, Any]:
    """The event once every artifact reported by path also has its uploaded copy (same name), or as it is
    after ``wait_s``. Reporters send the report first and upload its files right after, and the uploaded
    copy is the one read first: the node's file is there only when the reporter wrote into the node's
    artifacts folder (``HEALLOOP_ARTIFACTS``), and may be cleaned away or replaced later."""
    deadline = time.monotonic() + wait_s
    while True:
        arts = event.get("artifacts") or []
        uploaded = {a.get("name") for a in arts if a.get("url")}
        if all(a.get("name") in uploaded for a in arts if a.get("path")) or time.monotonic() > deadline:
            return event
        time.sleep(0.1)  # a bounded poll on the condition above
        try:
            event = {**event, "artifacts": queue.get(event["id"]).get("artifacts") or []}
        except HealloopError:
            return event


async def spec_in_workspace(node: NodeSession, info: dict[str, Any], spec: str) -> str:
    """The spec's path in the workspace. A runner that runs in a package of a monorepo
    (``[node.runner] cwd``) names its specs from there: e2e/cart.spec.ts is apps/web/e2e/...;
    a path that is there at the workspace's root already is kept."""
    folder = str(info.get("runner_cwd") or ".").strip("/")
    if not spec or folder in ("", ".") or spec.startswith(folder + "/"):
        return spec
    for path in (spec, f"{folder}/{spec}"):
        try:
            await node.call("read_file", path=path)
        except NodeUnavailable:
            raise
        except HealloopError:
            continue
        return path
    return spec


async def gather(
    node: NodeSession,
    queue: QueueClient,
    event: dict[str, Any],
    info: dict[str, Any],
    extra_failure: str | None = None,
) -> Context:
    policy = Policy.from_node_info(info)
    failures, restarts, reverts = _history_facts(event)
    if extra_failure and extra_failure not in failures:
        failures.append(extra_failure)
    ctx = Context(
        event=event,
        info=info,
        policy=policy,
        attempt=int(event.get("attempt") or 1),
        previous_failures=failures,
        restarts_done=restarts,
        reverts_done=reverts,
    )
    # The newest failure is the one to classify: a rerun's failure replaces the reported one.
    ctx.message = failures[-1] if failures else str(event.get("message") or "")
    stack = str(event.get("stack") or "")
    if ctx.spec:
        spec = await _try(ctx, "spec source", node.call("read_file", path=ctx.spec))
        if spec:
            ctx.spec_text = spec["content"]
            line = next(
                (
                    int(n)
                    for p, n in _FRAME_LINE.findall(f"{stack}\n{ctx.message}")
                    if p.endswith(ctx.spec) or ctx.spec.endswith(p)
                ),
                None,
            )
            if line:
                lines = ctx.spec_text.splitlines()
                lo, hi = max(1, line - 5), min(len(lines), line + 5)
                ctx.spec_excerpt = {"line": line, "start": lo, "text": "\n".join(lines[lo - 1 : hi])}
        if ctx.spec_text and re.search(r"getByTestId|get_by_test_id|ByTestId", ctx.spec_text):
            ctx.test_id_attr = await _test_id_attribute(ctx, node)
        log = await _try(ctx, "git history of the spec", node.call("git_log", path=ctx.spec, max_count=10))
        ctx.spec_log = (log or {}).get("commits", [])
    log = await _try(ctx, "git history", node.call("git_log", max_count=20))
    ctx.repo_log = (log or {}).get("commits", [])
    app_files = []
    for path, _ in _FRAME_LINE.findall(f"{stack}\n{ctx.message}"):
        rel = path.split(str(info.get("workspace") or "\0"))[-1].lstrip("/")
        if not is_test_path(rel, policy) and not rel.startswith("/") and rel not in app_files:
            app_files.append(rel)
    for rel in app_files[:3]:
        log = await _try(ctx, f"git history of {rel}", node.call("git_log", path=rel, max_count=5))
        ctx.app_log += [{**c, "file": rel} for c in (log or {}).get("commits", [])]
    event = await anyio.to_thread.run_sync(with_uploads, queue, event)
    for artifact in one_per_name(event.get("artifacts") or []):
        name = str(artifact.get("name", "")).lower()
        ctype = str(artifact.get("content_type", "")).lower()
        if ctype.startswith("image/"):
            ctx.screenshot = True
            continue
        if "html" not in ctype and "dom" not in name:
            continue
        text = await _read_artifact(ctx, node, queue, artifact)
        if text is None:
            continue
        if _PASSING.search(name):  # "dom-passing.html", not "...password...dom.html"
            ctx.passing_dom = text
        else:
            ctx.dom = text
    for name in info.get("services") or {}:
        status = await _try(ctx, f"service {name}", node.call("service_status", name=name))
        if status:
            ctx.services[name] = status
    past = await _try(ctx, "past events", anyio.to_thread.run_sync(past_events, queue, event))
    ctx.past = past or []
    ctx.classification = classify(ctx.message, stack if not failures else None, ctx.dom)
    class_past = await _try(
        ctx,
        "past events of the same class",
        anyio.to_thread.run_sync(past_class_outcomes, queue, event, ctx.classification.kind),
    )
    ctx.class_past = class_past or []
    return ctx


async def _test_id_attribute(ctx: Context, node: NodeSession) -> str | None:
    """The test id attribute the project configured for Playwright (``testIdAttribute`` in its config,
    ``set_test_id_attribute`` in a conftest), so getByTestId is healed against the right attribute."""
    if ctx.spec_text and (attr := test_id_attribute(ctx.spec_text)):
        return attr
    found = await _try(ctx, "the test id attribute", node.call(
        "search_text", pattern=r"testIdAttribute\s*:|set_test_id_attribute\(|setTestIdAttribute\("))
    lines = [m["text"] for m in (found or {}).get("matches", [])
             if not re.search(r"(^|/)(node_modules|\.venv)/", m["path"])]
    return test_id_attribute(*lines)


def one_per_name(artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries with the same name are one artifact: the reporter's entry (its ``path`` on the node) and
    the queue's entry for the uploaded copy (its ``url``) become one, with both; newest of each kind."""
    merged: dict[str, dict[str, Any]] = {}
    for a in artifacts:
        one = merged.setdefault(str(a.get("name", "")), {})
        one.update({k: v for k, v in a.items() if v is not None})
    return list(merged.values())


async def _read_artifact(
    ctx: Context, node: NodeSession, queue: QueueClient, artifact: dict[str, Any]
) -> str | None:
    """The uploaded copy first (the exact bytes, there for good once uploaded), the node's file second
    (before an upload lands, or when the queue refused the file); ``missing`` gets one entry, naming
    both attempts, only when neither can be read."""
    tried = []
    url = str(artifact.get("url") or "")
    route = url[len(queue.url) :] if url.startswith(queue.url) else url
    if route.startswith(_ARTIFACT_PATH):
        digest = route[len(_ARTIFACT_PATH) :]

        def fetch() -> str:
            return queue.artifact(digest).decode("utf-8", errors="replace")

        try:
            return await anyio.to_thread.run_sync(fetch)
        except HealloopError as exc:
            tried.append(f"the queue's copy {url}: {exc.message}")
    else:
        tried.append(f"the queue's copy: not a queue artifact URL ({url})" if url else "no uploaded copy")
    path = artifact.get("path")
    if path:
        try:
            got = await node.call("read_artifact", path=str(path))
        except HealloopError as exc:
            tried.append(f"the node's file: {exc.message}")
        else:
            if isinstance(got.get("text"), str):
                return str(got["text"])
            tried.append(f"the node's file {path!r} is not text")
    else:
        tried.append("no file named on the node")
    ctx.missing.append(f"artifact {artifact.get('name')!r}: " + "; ".join(tried))
    return None
