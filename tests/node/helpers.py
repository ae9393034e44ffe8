from __future__ import annotations

from typing import Any

from mcp import Client


async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {result.content[0].text}"
    return result.structured_content or {}


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    """Calls a tool expected to refuse; returns the error text the agent would read."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} should have been refused, got {result.structured_content}"
    return result.content[0].text
