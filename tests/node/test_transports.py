"""Auth, DNS-rebinding protection, the stdio transport, cross-process edits, the audit log and the
tool schemas."""

from __future__ import annotations

import json
import subprocess
import sys

import anyio
import httpx
import pytest
from mcp import MCPError

from tests.node.helpers import ok, refused

pytestmark = pytest.mark.anyio

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def test_token_required(node):
    for auth in ("", "Bearer wrong", node.token, f"Basic {node.token}", f"Bearer{node.token}",
                 f"bearer {node.token}x"):
        response = httpx.post(node.url, json=INIT, headers=HEADERS | {"Authorization": auth})
        assert response.status_code == 401, auth
        assert response.json()["error"] == "unauthorized"
    # RFC 7235: the scheme is case-insensitive.
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        good = httpx.post(node.url, json=INIT, headers=HEADERS | {"Authorization": f"{scheme} {node.token}"})
        assert good.status_code == 200, scheme
    # The SDK client reports the 401 as an MCPError (wrapped in its task group's exception group).
    with pytest.RaisesGroup(MCPError, flatten_subgroups=True):
        async with node.http_client(token="wrong") as c:
            await c.list_tools()
    async with node.http_client() as c:
        assert (await ok(c, "git_status"))["branch"]


async def test_dns_rebinding_protection_on(node):
    auth = {"Authorization": f"Bearer {node.token}"}
    evil_host = httpx.post(node.url, json=INIT, headers=HEADERS | auth | {"Host": "evil.example:80"})
    assert evil_host.status_code == 421
    evil_origin = httpx.post(node.url, json=INIT, headers=HEADERS | auth | {"Origin": "http://evil.example"})
    assert evil_origin.status_code == 403


async def test_stdio_transport_tools_and_refusals(node):
    async with node.stdio_client() as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert {
            "read_file",
            "edit_file",
            "git_commit",
            "run_test",
            "service_restart",
            "read_artifact",
        } <= names
        assert (await ok(c, "read_file", path="README.md"))["content"] == "# sample\n"
        assert "outside the workspace" in await refused(c, "read_file", path="../healloop.toml")
        assert (await ok(c, "run_test", spec="tests/test_sample.py", test="test_passes"))["passed"]


async def test_two_node_processes_editing_one_file(node):
    """One client over HTTP, one over stdio (a second node process): the file lock holds across processes."""
    (node.repo / "cross.txt").write_text("".join(f"k{i} = 0\n" for i in range(16)))

    async def edits(client, first: int) -> None:
        for i in range(first, 16, 2):
            await ok(
                client,
                "edit_file",
                path="cross.txt",
                edits=[{"old_text": f"k{i} = 0", "new_text": f"k{i} = 1"}],
            )

    async with node.http_client() as h, node.stdio_client() as s, anyio.create_task_group() as tg:
        tg.start_soon(edits, h, 0)
        tg.start_soon(edits, s, 1)
    assert (node.repo / "cross.txt").read_text() == "".join(f"k{i} = 1\n" for i in range(16))


async def test_audit_log_and_command(node):
    async with node.http_client() as c:
        await ok(
            c,
            "edit_file",
            path="README.md",
            edits=[{"old_text": "# sample", "new_text": "# Sample"}],
            event_id="evt_audit",
        )
        await refused(
            c,
            "read_file",
            path="../x",
        )
        await refused(
            c,
            "edit_file",
            path="README.md",
            edits=[{"old_text": "nope", "new_text": "x"}],
            event_id="evt_audit",
        )
    base = [sys.executable, "-m", "healloop", "mcp", "audit", "--state-dir", str(node.state_dir)]
    out = subprocess.run(
        [*base, "--event", "evt_audit", "--json"], capture_output=True, text=True, check=True
    )
    entries = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(e["tool"], e["outcome"]) for e in entries] == [
        ("edit_file", "ok"),
        ("edit_file", "error:conflict"),
    ]
    assert all(e["caller"].startswith("mcp/") and e["args_digest"].startswith("sha256:") for e in entries)
    assert "nope" not in out.stdout  # arguments are digested, never stored
    table = subprocess.run([*base, "--limit", "5"], capture_output=True, text=True, check=True).stdout
    assert "error:invalid_input" in table and "read_file" in table


def _open_dicts(schema, path="$"):
    """Yield every object schema that allows arbitrary keys (an 'open dict')."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and (
            schema.get("additionalProperties") not in (None, False) or "properties" not in schema
        ):
            yield path
        for key, value in schema.items():
            yield from _open_dicts(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from _open_dicts(value, f"{path}[{i}]")


async def test_tool_schemas_fit_function_calling(node):
    async with node.http_client() as c:
        tools = (await c.list_tools()).tools
    assert len(tools) == 31
    for tool in tools:
        assert (
            tool.name.isidentifier() and tool.name.islower() and len(tool.name) <= 64 and "." not in tool.name
        )
        assert tool.description and len(tool.description) > 30
        hints = tool.annotations
        assert None not in (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint), tool.name
        assert list(_open_dicts(tool.input_schema)) == [], tool.name
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert "type" in prop or "anyOf" in prop or "$ref" in prop or "items" in prop, (tool.name, name)
    read_only = {t.name for t in tools if t.annotations.read_only_hint}
    assert {"read_file", "git_status", "service_status"} <= read_only and "edit_file" not in read_only
