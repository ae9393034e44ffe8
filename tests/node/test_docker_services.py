"""Docker services through the node's MCP tools: a real node process, the real ``docker`` package, and a
local Docker Engine API server on a unix socket (tests/node/dockerapi.py), found through DOCKER_HOST or
the service's ``docker_host``."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.node.conftest import NodeProc, free_port, make_repo
from tests.node.dockerapi import STDERR, STDOUT, Container, Engine
from tests.node.helpers import ok, refused

pytestmark = pytest.mark.anyio


def _docker_node(root: Path, docker_host: str, api_host: str | None = None) -> NodeProc:
    repo = make_repo(root)
    config = root / "healloop.toml"
    api = (
        f'[node.services.api]\nbackend = "docker"\ncontainer = "shop-api"\ndocker_host = "{api_host}"\n'
        if api_host
        else ""
    )
    config.write_text(
        textwrap.dedent(
            f"""
            [node]
            workspace = "{repo}"
            restarts_per_hour = 5

            [node.runner]
            command = ["{sys.executable}", "-m", "pytest"]

            [node.services.web]
            backend = "docker"
            container = "shop-web"
            restart_timeout = 7

            [node.services.gone]
            backend = "docker"
            container = "shop-gone"

            [node.services.db]
            backend = "docker"
            container = "shop-db"

            [node.services.sick]
            backend = "docker"
            container = "shop-sick"
            restart_timeout = 1
            """
        )
        + api
    )
    return NodeProc(
        root, repo, config, root / "state", free_port(), None, 0, env={"DOCKER_HOST": docker_host}
    )


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Engine]]:
    # Short paths: a unix socket's path is limited to 107 bytes.
    sockets = tmp_path_factory.mktemp("dk")
    with Engine(sockets / "a.sock") as a, Engine(sockets / "b.sock") as b:
        yield a, b


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, engines: tuple[Engine, Engine]) -> Iterator[NodeProc]:
    a, b = engines
    n = _docker_node(tmp_path_factory.mktemp("node"), a.url, b.url)
    n.start()
    try:
        yield n
    finally:
        n.stop()


async def test_status_restart_and_logs_go_through_the_engine(node, engines):
    a, _ = engines
    web = a.add(Container("shop-web", running=False, log=[(STDOUT, "listening on :8080")]))
    web.log.append((STDERR, "warning: cache cold"))
    async with node.http_client() as c:
        down = await ok(c, "service_status", name="web")
        assert (down["backend"], down["running"], down["healthy"]) == ("docker", False, False)
        restarted = await ok(c, "service_restart", name="web")
        assert restarted["healthy"] and restarted["restarts_left_this_hour"] == 4
        # One engine restart (not a stop and a start), with the service's timeout as the grace period.
        posts = [(path, q) for method, path, q in a.requests if method == "POST"]
        assert posts == [(f"/containers/{web.id}/restart", {"t": "7"})]
        assert web.restarts == 1 and web.running
        up = await ok(c, "service_status", name="web")
        assert up["running"] and up["healthy"]
        # stdout and stderr demultiplexed from the engine's framed stream, the last `lines` only.
        logs = await ok(c, "service_logs", name="web", lines=2)
        assert logs["text"] == "warning: cache cold\nstarted (restart 1)\n"
        asked = [q for method, path, q in a.requests if path.endswith("/logs")]
        assert asked[-1]["tail"] == "2" and asked[-1]["stdout"] == asked[-1]["stderr"] == "1"


async def test_the_containers_own_health_check_is_what_a_restart_waits_for(node, engines):
    a, _ = engines
    db = a.add(Container("shop-db", health="unhealthy", health_after_restart=["starting"] * 3 + ["healthy"]))
    a.add(Container("shop-sick", health="unhealthy", health_after_restart=["starting", "unhealthy"]))
    async with node.http_client() as c:
        sick = await ok(c, "service_status", name="db")
        assert sick["running"] and not sick["healthy"]
        assert sick["detail"] == "Docker health check: unhealthy"
        before = len(a.requests)
        restarted = await ok(c, "service_restart", name="db")
        assert restarted["detail"] == "Docker health check: healthy"
        # It asked until the engine said healthy: past the three `starting` answers.
        inspects = [p for m, p, _ in a.requests[before:] if p == "/containers/shop-db/json"]
        assert len(inspects) >= 4 and db.restarts == 1
        msg = await refused(c, "service_restart", name="sick")
        assert "restarted but is not healthy after 1.0 s (Docker health check: unhealthy)" in msg


async def test_a_restart_the_engine_refuses_is_an_error_with_its_reason(node, engines):
    a, b = engines
    reason = "Cannot restart container shop-api: driver failed programming external connectivity"
    api = b.add(Container("shop-api", refuse_restart=reason))
    async with node.http_client() as c:
        msg = await refused(c, "service_restart", name="api")
    assert "Docker Engine refused to restart container 'shop-api' (HTTP 500)" in msg and reason in msg
    assert api.restarts == 0
    # docker_host wins over DOCKER_HOST: the api service's calls went to engine b only.
    assert any(path == f"/containers/{api.id}/restart" for _, path, _ in b.requests)
    assert not any("shop-api" in path or api.id in path for _, path, _ in a.requests)


async def test_a_missing_container_is_named_with_the_engine(node, engines):
    a, _ = engines
    async with node.http_client() as c:
        for tool, args in (("service_status", {}), ("service_restart", {}), ("service_logs", {"lines": 5})):
            msg = await refused(c, tool, name="gone", **args)
            assert "no Docker container named 'shop-gone'" in msg, msg
            assert "No such container: shop-gone" in msg and f"{a.url} (DOCKER_HOST)" in msg


async def test_an_engine_that_is_not_running_names_docker_host(tmp_path):
    missing = f"unix://{tmp_path}/no-engine.sock"
    n = _docker_node(tmp_path, missing)
    n.start()
    try:
        async with n.http_client() as c:
            for tool in ("service_status", "service_restart", "service_logs"):
                msg = await refused(c, tool, name="web")
                assert f"Docker Engine is not reachable at {missing} (DOCKER_HOST)" in msg, msg
                assert "No such file or directory" in msg
    finally:
        n.stop()
