"""A thin async wrapper over the MCP SDK client session to one tool node (streamable HTTP).

Tool results come back as dicts (the node's ``structuredContent``); an ``isError`` result becomes the
``HealloopError`` subclass named by its code, so agent code handles one family of exceptions.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Tool

from healloop import errors
from healloop.agent import metrics
from healloop.errors import HealloopError, Unavailable

_BY_CODE: dict[str, type[HealloopError]] = {
    cls.code: cls
    for cls in (
        errors.InvalidInput,
        errors.Unauthorized,
        errors.NotFound,
        errors.Conflict,
        errors.FileOwned,
        errors.LeaseLost,
        errors.IllegalTransition,
        errors.PayloadTooLarge,
        errors.ConfigError,
        errors.Unavailable,
        errors.ForgeError,
    )
}


class NodeUnavailable(Unavailable):
    """The tool node cannot be reached, or went away during a session (its process died, say)."""


class ToolError(HealloopError):
    """A tool on the node refused the call."""

    code = "tool_error"


def error_from_result(tool: str, result: Any) -> HealloopError:
    data = result.structured_content or {}
    text = result.content[0].text if result.content and hasattr(result.content[0], "text") else ""
    cls = _BY_CODE.get(str(data.get("error")), ToolError)
    message = data.get("message") or text or f"{tool} failed"
    return cls(f"{tool}: {message}", field=data.get("field"))


# Connect, initialize and list tools take milliseconds on a live node. A node that accepts the
# connection and never answers used to hold the worker for the tool-call timeout (600 s) while its
# heartbeats kept the event from everyone else.
SETUP_TIMEOUT_S = 30.0
# A tool call may rightly take minutes (a test rerun), so its own timeout is long; but a node cut off
# mid-call (a network cut, a machine gone) answers nothing and closes nothing, and the agent would sit
# in the call for that whole timeout, heartbeating, with no one else allowed the event. While a call
# runs, the node's URL is asked on a connection of its own every PROBE_S; any HTTP answer (401 and
# 405 included) says it is there, and PROBE_MISSES misses in a row end the call as unreachable.
PROBE_S = 5.0
PROBE_MISSES = 2
# A node that still answers probes can be stuck in one call (a lock never released, a file system that
# hangs): probes cannot tell. The tools below read or write a file or ask git or the journal, which takes
# a live node milliseconds (seconds on a huge repository), so each gets QUICK_CALL_S, not the long
# timeout. Any other tool (a rerun, a restart, a push, a commit with its hooks) keeps the long one.
QUICK_TOOLS = frozenset({
    "read_file", "list_files", "edit_file", "write_file", "git_status", "git_diff", "git_log", "git_show",
    "git_branches", "git_delete_branch", "discard_changes", "pending_changes", "keep_changes",
    "service_status", "service_logs", "read_artifact", "node_info",
})
QUICK_CALL_S = 120.0


class NodeSession:
    """One MCP session to a node; use ``async with NodeSession(url, token) as node``.

    ``setup_timeout`` bounds opening the session (connect, the MCP handshake) and listing the tools;
    ``timeout`` bounds each tool call (a test rerun can take minutes), ``quick_timeout`` each call of
    the QUICK_TOOLS.
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 600.0,
                 setup_timeout: float = SETUP_TIMEOUT_S, probe_s: float = PROBE_S,
                 quick_timeout: float = QUICK_CALL_S) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.quick_timeout = quick_timeout
        self.setup_timeout = setup_timeout
        self.probe_s = probe_s
        self._stack = AsyncExitStack()
        self._client: Client | None = None
        self._tools: list[Tool] | None = None

    async def __aenter__(self) -> NodeSession:
        # The deadline is a cancel scope entered first on the session's own stack, so it encloses the
        # SDK's task groups (which must be left in the order they were entered, in __aexit__) and
        # is lifted, not left, once the session is open.
        deadline = self._stack.enter_context(
            anyio.CancelScope(deadline=anyio.current_time() + self.setup_timeout)
        )
        try:
            await self._open()
        except BaseException as exc:
            # Unwound with the exception, so the deadline's scope absorbs its own cancellation.
            await self._stack.__aexit__(type(exc), exc, exc.__traceback__)
            if deadline.cancelled_caught:
                raise NodeUnavailable(self._setup_timed_out("open an MCP session")) from None
            if isinstance(exc, Exception):  # the SDK raises many kinds (groups, httpx, MCPError)
                raise NodeUnavailable(
                    f"cannot open an MCP session to the node at {self.url}: {exc!r}"
                ) from None
            raise
        deadline.deadline = math.inf
        return self

    async def _open(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        http = await self._stack.enter_async_context(
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=self.timeout))
        )
        self._client = await self._stack.enter_async_context(
            Client(streamable_http_client(self.url, http_client=http))
        )

    async def _watch(self, call: anyio.CancelScope, lost: list[str]) -> None:
        """Cancels ``call`` once the node has missed PROBE_MISSES probes in a row (see PROBE_S)."""
        misses = 0
        await anyio.sleep(self.probe_s)  # most calls are over by then: no probe, no client
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(self.probe_s)) as probe:
            while True:
                try:
                    await probe.get(self.url)  # no token: any answer at all says the node is there
                    misses = 0
                except httpx2.HTTPError as exc:
                    misses += 1
                    if misses >= PROBE_MISSES:
                        lost.append(f"{misses} probes {self.probe_s:g} s apart got no answer: {exc!r}")
                        call.cancel()
                        return
                await anyio.sleep(self.probe_s)

    def _setup_timed_out(self, what: str) -> str:
        return (
            f"the node at {self.url} did not {what} within {self.setup_timeout:g} s (the agent's"
            " --node-setup-timeout): it is hung, overloaded or unreachable; check the node's process and"
            " log on that machine"
        )

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        # When the node dies mid-call, the SDK's transport task fails and cancels the call in flight;
        # the task group then raises that failure here. It must replace the cancellation (which belongs
        # to that task group and would otherwise escape it and end the caller's work silently).
        try:
            await self._stack.aclose()
        except Exception as closing:  # noqa: BLE001 - a dead node's session fails to close in many ways
            raise NodeUnavailable(f"the node at {self.url} went away: {closing!r}") from None

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """Call ``tool``; counted by tool and result, and timed (``agent/metrics.py``)."""
        started, result = time.monotonic(), "cancelled"
        try:
            value = await self._call(tool, **arguments)
            result = "ok"
            return value
        except NodeUnavailable:
            result = "unreachable"
            raise
        except HealloopError as exc:
            result = exc.code
            raise
        finally:
            metrics.TOOL_CALLS.inc(metrics.label(tool), result)
            metrics.TOOL_SECONDS.observe(time.monotonic() - started, metrics.label(tool))

    async def _call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        assert self._client is not None, "use NodeSession in `async with`"
        args = {k: v for k, v in arguments.items() if v is not None}
        lost: list[str] = []
        limit = min(self.timeout, self.quick_timeout) if tool in QUICK_TOOLS else self.timeout
        try:
            with anyio.move_on_after(limit) as bound:
                async with anyio.create_task_group() as watch:
                    watch.start_soon(self._watch, watch.cancel_scope, lost)
                    try:
                        result = await self._client.call_tool(tool, args)
                    finally:
                        watch.cancel_scope.cancel()
        except Exception as exc:  # noqa: BLE001 - transport failures surface as httpx, anyio or MCP errors
            raise NodeUnavailable(f"{tool}: the node at {self.url} did not answer: {exc!r}") from None
        if bound.cancelled_caught:
            raise NodeUnavailable(f"{tool}: the node at {self.url} answers but did not finish this call "
                                  f"within {limit:g} s (it takes a live node seconds): it is stuck; check "
                                  "the node's log on that machine")
        if lost:
            raise NodeUnavailable(f"{tool}: the node at {self.url} stopped answering mid-call ({lost[0]}); "
                                  "it is cut off, down or hung")
        if result.is_error:
            raise error_from_result(tool, result)
        if result.structured_content is not None:
            return dict(result.structured_content)
        texts = [c.text for c in result.content if hasattr(c, "text")]
        if texts:
            try:
                value = json.loads(texts[0])
                return value if isinstance(value, dict) else {"result": value}
            except ValueError:
                return {"text": "\n".join(texts)}
        return {"content_types": [c.type for c in result.content]}

    async def tools(self) -> list[Tool]:
        assert self._client is not None
        if self._tools is None:
            # Part of the setup, under its timeout; fail_after is safe here: no task group is entered.
            try:
                with anyio.fail_after(self.setup_timeout):
                    listed = await self._client.list_tools()
            except TimeoutError:
                raise NodeUnavailable(self._setup_timed_out("list its tools")) from None
            except Exception as exc:  # noqa: BLE001 - transport failures surface as httpx, anyio or MCP errors
                raise NodeUnavailable(f"list_tools: the node at {self.url} did not answer: {exc!r}") from None
            self._tools = list(listed.tools)
        return self._tools
