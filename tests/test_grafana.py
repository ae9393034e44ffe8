"""deploy/grafana-healloop.json: valid JSON, a well-formed dashboard, and every query names a metric that
a real queue, agent and tool node export (read from a /metrics scrape of each, started here)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.node.conftest import free_port, make_node
from tests.promtext import names, scrape
from tests.support import ROOT, QueueServer, wait_until

DASHBOARD = ROOT / "deploy" / "grafana-healloop.json"
_METRIC = re.compile(r"\b(healloop_[a-z0-9_]+)\b")


def _panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out += panel.get("panels") or []  # a collapsed row keeps its panels inside it
    return out


def _queries(dashboard: dict) -> list[str]:
    return [t["expr"] for p in _panels(dashboard) for t in p.get("targets") or []]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, set[str]]]:
    """The metric names each part's /metrics declares, scraped from real processes."""
    tmp = tmp_path_factory.mktemp("grafana")
    config = tmp / "healloop.toml"
    # A channel, so the queue's page has its notification families (nothing is sent here).
    config.write_text('[notify.ops]\nkind = "webhook"\nurl = "http://127.0.0.1:9/hook"\n')
    queue = QueueServer(tmp / "events.db", "--config", str(config)).start()
    node = make_node(tmp / "node")
    agent = None
    try:
        node.start()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
        argv = [sys.executable, "-m", "healloop", "agent", "--queue", queue.url, "--wait", "1",
                "--metrics-port", str(port)]
        agent = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        agent_url = f"http://127.0.0.1:{port}/metrics"

        def agent_up() -> bool:
            try:
                return httpx.get(agent_url, timeout=5).status_code == 200
            except httpx.TransportError:
                assert agent.poll() is None, "the agent exited"
                return False

        wait_until(agent_up, timeout=30, what="the agent's /metrics")
        yield {
            "queue": names(scrape(queue.url + "/metrics")),
            "agent": names(scrape(agent_url)),
            "node": names(scrape(node.url.removesuffix("/mcp") + "/metrics")),
        }
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(20)
        node.stop()
        queue.stop()


def test_the_dashboard_is_valid_json_with_unique_panels_and_a_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for p in panels:
        assert {"h", "w", "x", "y"} <= set(p["gridPos"]), p["title"]
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
        ref_ids = [t["refId"] for t in p["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), p["title"]


def test_every_query_names_a_metric_the_code_exports(exported: dict[str, set[str]]) -> None:
    everything = set().union(*exported.values())
    queries = _queries(json.loads(DASHBOARD.read_text()))
    used = {m for q in queries for m in _METRIC.findall(q)}
    assert used, "no healloop metric in any query"
    unknown = sorted(used - everything)
    assert not unknown, f"queries name metrics nothing exports: {unknown}"
    # Each part has panels over its own metrics, and each of those comes from that part.
    parts = {"agent": "healloop_agent_", "node": "healloop_node_", "queue": ""}
    for part, prefix in parts.items():
        own = {m for m in used if m.startswith(prefix)} if prefix else {
            m for m in used if not m.startswith(("healloop_agent_", "healloop_node_"))}
        assert own, f"no panel over the {part}'s metrics"
        assert own <= exported[part], (part, sorted(own - exported[part]))

