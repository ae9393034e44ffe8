"""Services (a real HTTP server process the node starts), diagnostics and artifacts, over HTTP."""

from __future__ import annotations

import base64
import os
import signal

import httpx
import pytest

from tests.node.conftest import PNG_1PX, wait_for
from tests.node.helpers import ok, refused

pytestmark = pytest.mark.anyio


async def test_restart_status_logs_and_limit(node):
    health = f"http://127.0.0.1:{node.service_port}/"
    async with node.http_client() as c:
        down = await ok(c, "service_status", name="web")
        assert not down["running"] and not down["healthy"]
        first = await ok(c, "service_restart", name="web", event_id="evt_s1")
        assert first["healthy"] and first["restarts_left_this_hour"] == 1
        assert httpx.get(health).status_code == 200
        up = await ok(c, "service_status", name="web")
        assert up["running"] and up["healthy"]
        # The service dies behind the node's back: status tells, a restart brings it back.
        pid = int((node.state_dir / "services" / "web.pid").read_text())
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(health), "the service to go down")
        assert not (await ok(c, "service_status", name="web"))["healthy"]
        second = await ok(c, "service_restart", name="web")
        assert second["healthy"] and second["restarts_left_this_hour"] == 0
        logs = await ok(c, "service_logs", name="web", lines=50)
        assert "GET / HTTP/1.1" in logs["text"]
        # The third restart within the hour is refused, and the service is left running.
        msg = await refused(c, "service_restart", name="web")
        assert "restarted 2 times in the last hour (limit 2)" in msg and "service_logs" in msg
        assert httpx.get(health).status_code == 200
        assert "services on this node: web" in await refused(c, "service_status", name="db")
        assert "1-5000" in await refused(c, "service_logs", name="web", lines=0)
    # The count lives in the state dir: another node process on the same state dir refuses too.
    async with node.stdio_client() as c:
        assert "limit 2" in await refused(c, "service_restart", name="web")


def _alive(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).is_success
    except httpx.HTTPError:
        return False


async def test_diagnostics_by_name_only(node):
    async with node.http_client() as c:
        got = await ok(c, "run_diagnostic", name="python_version")
        assert got["exit_code"] == 0 and got["output_tail"].startswith("Python 3")
        argv = await ok(c, "run_diagnostic", name="env_list")
        assert "['one', 'two']" in argv["output_tail"]
        msg = await refused(c, "run_diagnostic", name="rm -rf /")
        assert "no diagnostic named 'rm -rf /'" in msg and "env_list, python_version" in msg


async def test_artifacts_text_image_and_escape(node):
    async with node.http_client() as c:
        text = await ok(c, "read_artifact", path="run.log")
        assert "TypeError: x is undefined" in text["text"]
        image = await c.call_tool("read_artifact", {"path": "shot.png"})
        assert not image.is_error and image.content[0].type == "image"
        assert image.content[0].mime_type == "image/png"
        assert base64.b64decode(image.content[0].data) == PNG_1PX
        assert "outside" in await refused(c, "read_artifact", path="../src/app.py")
        assert "no artifact" in await refused(c, "read_artifact", path="missing.log")
