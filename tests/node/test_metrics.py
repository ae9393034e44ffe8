"""``GET /metrics`` on a real node (`healloop mcp serve`): counts move as tools are called over MCP."""

from __future__ import annotations

import httpx
import pytest

from tests.node.helpers import ok, refused
from tests.promtext import samples, scrape, value

pytestmark = pytest.mark.anyio


def metrics_url(node) -> str:
    return node.url.removesuffix("/mcp") + "/metrics"


async def test_tool_calls_refusals_and_reruns_are_counted(node):
    before = scrape(metrics_url(node))
    async with node.http_client() as c:
        await ok(c, "read_file", path="README.md")
        await ok(c, "read_file", path="README.md")
        assert "outside the workspace" in await refused(c, "read_file", path="../outside.txt")
        assert "inside .git" in await refused(c, "write_file", path=".git/hooks/pre-commit", content="x",
                                              event_id="evt_m1")
        assert "no service named" in await refused(c, "service_status", name="database")
        assert "no diagnostic named" in await refused(c, "run_diagnostic", name="rm_rf")
        await ok(c, "run_test", spec="tests/test_sample.py", test="test_passes")
        await ok(c, "run_test", spec="tests/test_sample.py", test="test_fails")
        unknown = await c.call_tool("drop_database", {})
        assert unknown.is_error
    after = scrape(metrics_url(node))

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("healloop_node_tool_calls_total", tool="read_file", result="ok") == 2
    assert moved("healloop_node_tool_calls_total", tool="read_file", result="invalid_input") == 1
    assert moved("healloop_node_tool_calls_total", tool="service_status", result="not_found") == 1
    assert moved("healloop_node_tool_calls_total", tool="run_test", result="ok") == 2
    assert moved("healloop_node_refusals_total", tool="read_file", kind="sandbox") == 1
    assert moved("healloop_node_refusals_total", tool="write_file", kind="sandbox") == 1
    assert moved("healloop_node_refusals_total", tool="service_status", kind="allow_list") == 1
    assert moved("healloop_node_refusals_total", tool="run_diagnostic", kind="allow_list") == 1
    # A tool the node does not have is one series, whatever name a client sends.
    assert moved("healloop_node_refusals_total", tool="unknown", kind="allow_list") == 1
    assert not any(("tool", "drop_database") in labels for _, labels in samples(after))
    assert moved("healloop_node_test_runs_total", outcome="passed") == 1
    assert moved("healloop_node_test_runs_total", outcome="failed") == 1
    assert moved("healloop_node_tool_call_seconds_count", tool="run_test") == 2
    assert value(after, "healloop_node_tool_call_seconds_bucket", tool="read_file", le="+Inf") >= 2
    assert value(after, "healloop_node_info", version=__import__("healloop").__version__) == 1


async def test_metrics_stay_open_while_mcp_needs_the_token(node):
    assert node.token  # the module's node is started with --token
    base = node.url.removesuffix("/mcp")
    assert httpx.get(base + "/metrics", timeout=10).status_code == 200
    assert httpx.post(base + "/mcp", json={}, timeout=10).status_code == 401
    assert httpx.get(base + "/other", headers={"Authorization": f"Bearer {node.token}"},
                     timeout=10).status_code == 404
