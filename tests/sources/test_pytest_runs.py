"""The pytest plugin's run history and quarantine end to end: real pytest subprocesses on two named nodes
against a real ``healloop serve``. Passes are recorded per node, a quarantined test's failure is marked
and kept from the agents, clean runs on two nodes release it, and a queue that is down fails no run
(the passes are spooled and delivered by the next run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import QueueServer

pytest_plugins = ["pytester"]

# test_checkout fails while the file FLAKE names exists: a test that fails on some runs and not others.
SUITE = '''
import os

def test_cart():
    assert True

def test_checkout():
    assert not os.path.exists(os.environ["FLAKE"]), "the payment iframe was not ready"
'''


@pytest.fixture
def env(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    for name in ("HEALLOOP_URL", "HEALLOOP_TOKEN", "HEALLOOP_RUN_ID", "HEALLOOP_REPORT",
                 "HEALLOOP_ARTIFACTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HEALLOOP_SPOOL", str(tmp_path / "spool"))
    monkeypatch.setenv("HEALLOOP_REPORT_BUDGET", "0.5")
    monkeypatch.setenv("FLAKE", str(tmp_path / "flake"))
    pytester.makepyfile(test_shop=SUITE)
    return pytester


def _run(env: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, node: str, url: str) -> Any:
    monkeypatch.setenv("HEALLOOP_NODE", node)
    monkeypatch.setenv("HEALLOOP_URL", url)
    return env.runpytest_subprocess("-p", "no:cacheprovider")


def _view(c: Any, test: str) -> dict[str, Any]:
    r = c.get("/v1/test", params={"spec": "test_shop.py", "test": test})
    assert r.status_code == 200, r.text
    return r.json()


def test_quarantined_failure_is_marked_kept_and_released_after_clean_runs_on_two_nodes(
        env: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, make_server: Any, tmp_path: Path) -> None:
    server: QueueServer = make_server("--release-after", "3")
    flake = tmp_path / "flake"
    result = _run(env, monkeypatch, "ci-1", server.url)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["healloop: 2 passing test(s) recorded"])
    with server.client() as c:
        q = {"spec": "test_shop.py", "test": "test_checkout", "owner": "ana", "seconds": 86400,
             "reason": "iframe race"}
        assert c.post("/v1/quarantines", json=q).status_code == 201
    flake.write_text("")
    result = _run(env, monkeypatch, "ci-2", server.url)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["healloop: 1 failure(s) reported to *",
                                 "healloop: 1 of them quarantined (reported, not healed*"])
    with server.client() as c:
        (ev,) = c.get("/v1/events").json()["events"]
        assert ev["status"] == "quarantined" and ev["labels"]["quarantined"] == "true"
        assert c.post("/v1/events/next", json={"worker": "w"}).status_code == 204
    flake.unlink()
    for node in ("ci-1", "ci-1"):  # clean runs on one machine: still quarantined
        _run(env, monkeypatch, node, server.url).assert_outcomes(passed=2)
    with server.client() as c:
        assert _view(c, "test_checkout")["quarantine"]["clean_runs"] == 2
    _run(env, monkeypatch, "ci-2", server.url).assert_outcomes(passed=2)
    with server.client() as c:
        v = _view(c, "test_checkout")
        assert c.get(f"/v1/events/{ev['id']}").json()["status"] == "resolved"
        assert c.get("/v1/quarantines").json()["quarantines"] == []
    assert v["quarantine"] is None and v["quarantines"][0]["ended"] == "released"
    assert "3 clean runs on 2 nodes (ci-1, ci-2)" in v["quarantines"][0]["lift_note"]
    by = {n["node"]: n for n in v["nodes"]}
    assert (by["ci-1"]["passes"], by["ci-1"]["failures"]) == (3, 0)
    assert (by["ci-2"]["passes"], by["ci-2"]["failures"]) == (1, 1)
    assert _view(server.client(), "test_cart")["runs"] == {"passes": 5, "failures": 0, "total": 5}


def test_a_queue_that_is_down_fails_no_run_and_the_passes_arrive_with_the_next(
        env: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, make_server: Any, tmp_path: Path) -> None:
    server: QueueServer = make_server()
    url = server.url
    server.stop()
    result = _run(env, monkeypatch, "ci-1", url)
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    assert list((tmp_path / "spool" / "runs").glob("*.json"))
    server = make_server()  # the same file, on a new port
    _run(env, monkeypatch, "ci-1", server.url).assert_outcomes(passed=2)
    with server.client() as c:
        assert _view(c, "test_cart")["runs"]["passes"] == 2
    assert not list((tmp_path / "spool" / "runs").glob("*.json"))
