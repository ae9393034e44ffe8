"""``GET /metrics`` on a real agent (``--metrics-port``) against a real queue and tool node: counts move
as it handles events; a port in use is refused at start with a sentence naming it."""

from __future__ import annotations

import socket
import subprocess

import httpx

from healloop import __version__
from tests.agent.conftest import PY, history_data
from tests.node.conftest import free_port
from tests.promtext import scrape, value
from tests.support import wait_until


def _up(url: str) -> bool:
    try:
        scrape(url)
    except httpx.TransportError:
        return False
    return True


def _counted(url: str, outcome: str, n: int) -> str | None:
    """The page once ``n`` events are counted with ``outcome`` (the count follows the final move)."""
    text = scrape(url)
    return text if value(text, "healloop_agent_events_total", outcome=outcome) >= n else None


def test_events_attempts_actions_tool_calls_and_refusals_are_counted(ws):
    # Only e2e/ holds test files on this node: the selector heal of tests/test_ui.py is refused by the
    # agent's app-code guardrail, while a service restart goes through.
    ws.restart_node('[node.policy]\ntest_paths = ["e2e/**"]\n')
    server = ws.start_web()
    server.kill()
    server.wait(10)
    restart_id = ws.report_failure("tests/test_service.py", "test_health")
    ws.rename_submit_button()
    heal_id = ws.report_failure("tests/test_ui.py", "test_submit", artifacts=[
        {"name": "dom", "content_type": "text/html", "path": "dom/test_submit.html"}])
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    ws.start_agent("--metrics-port", str(port))
    wait_until(lambda: _up(url), timeout=30, what="the agent's /metrics")

    restarted, refused = ws.wait_final(restart_id), ws.wait_final(heal_id)
    assert restarted["status"] == "resolved", restarted["history"]
    assert refused["status"] == "escalated", refused["history"]
    assert history_data(refused, "escalated")[-1]["refused"]
    playbook = history_data(restarted, "resolved")[-1]["playbook"]

    wait_until(lambda: _counted(url, "resolved", 1), what="the resolved event counted")
    text = wait_until(lambda: _counted(url, "escalated", 1), what="the escalated event counted")
    assert value(text, "healloop_agent_events_total", outcome="resolved") == 1
    assert value(text, "healloop_agent_events_total", outcome="escalated") == 1
    assert value(text, "healloop_agent_event_seconds_count", outcome="resolved") == 1
    assert value(text, "healloop_agent_event_seconds_bucket", outcome="escalated", le="+Inf") == 1
    assert value(text, "healloop_agent_events_in_hand") == 0
    assert value(text, "healloop_agent_attempts_total", playbook=playbook, result="passed") == 1
    assert value(text, "healloop_agent_actions_total", playbook=playbook, tool="service_restart",
                 result="ok") == 1
    assert value(text, "healloop_agent_actions_total", playbook="selector", tool="edit_file",
                 result="refused") == 1
    assert value(text, "healloop_agent_refusals_total", guardrail="app_code") == 1
    assert value(text, "healloop_agent_node_tool_calls_total", tool="service_restart", result="ok") == 1
    assert value(text, "healloop_agent_node_tool_calls_total", tool="run_test", result="ok") >= 1
    assert value(text, "healloop_agent_node_tool_call_seconds_count", tool="node_info") >= 2
    assert value(text, "healloop_agent_info", planner="rules", version=__version__) == 1


def test_a_metrics_port_in_use_is_refused_at_start(ws):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = subprocess.run([PY, "-m", "healloop", "agent", "--queue", ws.queue.url, "--metrics-port",
                               str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert f"cannot serve metrics on 127.0.0.1:{port} (--metrics-port)" in done.stderr
    assert "choose another port" in done.stderr
