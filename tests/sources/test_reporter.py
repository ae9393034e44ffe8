"""The delivery core against a real queue process: idempotent, spooled through an outage, flushed
exactly once, never raising into the run it reports on."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from healloop.errors import ConfigError
from healloop.sources.failure import Artifact, Failure
from healloop.sources.reporter import Reporter
from healloop.sources.settings import SourceSettings
from healloop.sources.spool import Spool
from tests.support import QueueServer


def settings(url: str, spool: Path, **kw) -> SourceSettings:
    return SourceSettings(url=url, node="node-a", spool_dir=spool, budget_s=kw.pop("budget_s", 0.5), **kw)


def failure(n: int, **kw) -> Failure:
    return Failure(source="pytest", spec=f"tests/test_{n}.py", test=f"test_pays_{n}",
                   message=f"AssertionError: {n}", stack="Traceback ...", **kw)


def events(server: QueueServer) -> list[dict]:
    with server.client() as c:
        return c.get("/v1/events", params={"limit": 1000}).json()["events"]


def test_a_report_carries_the_evidence_and_is_sent_once(server: QueueServer, tmp_path: Path) -> None:
    r = Reporter(settings(server.url, tmp_path / "spool"), run_id="run-1")
    first = r.send(failure(1, attempt=2, duration_ms=1234, labels={"url": "http://app/login"}))
    again = r.send(failure(1, attempt=2, duration_ms=1234, labels={"url": "http://app/login"}))
    r.finish()
    assert first.status == "delivered" and again.event_id == first.event_id
    [e] = events(server)
    assert e["count"] == 1 and e["nodes"] == ["node-a"]
    assert (e["spec"], e["test"], e["message"]) == ("tests/test_1.py", "test_pays_1", "AssertionError: 1")
    assert e["labels"] == {"attempts": "2", "duration_ms": "1234", "url": "http://app/login"}
    assert e["idempotency_key"] == r.key(failure(1, attempt=2))


def test_flaky_tests_are_low_priority(server: QueueServer, tmp_path: Path) -> None:
    r = Reporter(settings(server.url, tmp_path / "spool"))
    r.send(failure(1, flaky=True))
    r.finish()
    [e] = events(server)
    assert e["priority"] == 5 and e["labels"]["flaky"] == "true"


def test_queue_down_then_up_every_report_arrives_exactly_once(
        make_server, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = tmp_path / "spool"
    db = tmp_path / "events.db"
    server = make_server(db=db)
    run1 = Reporter(settings(server.url, spool), run_id="run-1")
    for n in range(3):
        assert run1.send(failure(n)).status == "delivered"
    server.stop()
    caplog.set_level(logging.WARNING, logger="healloop.sources.reporter")
    shot = tmp_path / "shot.png"
    shot.write_bytes(b"\x89PNG")
    outcomes = [run1.send(failure(n, artifacts=[Artifact(shot)])) for n in range(3, 8)]
    run1.finish()
    assert {o.status for o in outcomes} == {"spooled"}
    downs = [r for r in caplog.records if "is not taking reports" in r.getMessage()]
    assert len(downs) == 1, "an outage is logged once per run"
    assert len(list(spool.glob("*.json"))) == 5
    shot.unlink()  # the next test run clears its screenshots; the spool kept a copy

    server = make_server(db=db)
    run2 = Reporter(settings(server.url, spool), run_id="run-2")
    run2.send(failure(8))
    run2.finish()  # delivers the spool too
    assert run2.counts["flushed"] == 5 and not list(spool.glob("*.json"))
    # A replay of everything run 1 sent is recognised by its idempotency keys.
    replay = Reporter(settings(server.url, spool), run_id="run-1")
    assert {replay.send(failure(n)).status for n in range(8)} == {"merged"}
    got = events(server)
    assert sorted(e["test"] for e in got) == sorted(f"test_pays_{n}" for n in range(9))
    assert all(e["count"] == 1 for e in got)
    spooled = next(e for e in got if e["test"] == "test_pays_3")
    assert spooled["artifacts"][0]["name"] == "shot.png"


def test_a_report_the_queue_refuses_is_kept_with_its_reason(server: QueueServer, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    r = Reporter(settings(server.url, spool))
    outcome = r.send(failure(1, occurred_at="yesterday"))
    assert outcome.status == "rejected" and "occurred_at" in outcome.message
    [kept] = (spool / "rejected").glob("*.json")
    data = json.loads(kept.read_text())
    assert data["report"]["test"] == "test_pays_1" and "occurred_at" in data["error"]
    assert r.flush() == {} and events(server) == []  # rejected reports are not retried


def test_a_wrong_token_spools_instead_of_failing(make_server, tmp_path: Path) -> None:
    server = make_server(token="right")
    r = Reporter(settings(server.url, tmp_path / "spool", token="wrong"))
    assert r.send(failure(1)).status == "spooled"
    assert "token" in (r.down or "").lower() or "401" in (r.down or "")
    fixed = Reporter(settings(server.url, tmp_path / "spool", token="right"))
    assert fixed.flush()["flushed"] == 1


def test_a_corrupt_spool_entry_is_moved_aside(server: QueueServer, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "0123.json").write_text("{not json")
    r = Reporter(settings(server.url, spool))
    r.flush()
    assert (spool / "rejected" / "0123.json").exists() and not (spool / "0123.json").exists()


def test_artifacts_are_uploaded_and_readable_from_the_queue(server: QueueServer, tmp_path: Path) -> None:
    shot = tmp_path / "pays (failed).png"
    shot.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    dom = tmp_path / "dom.html"
    dom.write_text("<html><body><p>支付失败</p></body></html>", encoding="utf-8")
    r = Reporter(settings(server.url, tmp_path / "spool"))
    outcome = r.send(failure(1, artifacts=[Artifact(shot), Artifact(dom)]))
    r.finish()
    assert outcome.status == "delivered" and not r.refused_artifacts
    with server.client() as c:
        arts = c.get(f"/v1/events/{outcome.event_id}").json()["artifacts"]
        uploaded = {a["name"]: a for a in arts if a.get("url")}
        assert set(uploaded) == {"pays (failed).png", "dom.html"}
        got = c.get(uploaded["pays (failed).png"]["url"])
        assert got.content == shot.read_bytes() and got.headers["content-type"] == "image/png"
        assert c.get(uploaded["dom.html"]["url"]).content == dom.read_bytes()
    # The local paths stay on the report, for the tool node on this machine.
    assert {a["path"] for a in arts if a.get("path")} == {str(shot), str(dom)}


def test_a_50_mb_screenshot_is_refused_with_a_clear_message_and_the_report_kept(
        server: QueueServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    big = tmp_path / "huge (failed).png"
    with open(big, "wb") as f:
        f.truncate(50 * 1024 * 1024)
    small = tmp_path / "dom.html"
    small.write_text("<html></html>")
    r = Reporter(settings(server.url, tmp_path / "spool"))
    outcome = r.send(failure(1, artifacts=[Artifact(big), Artifact(small)]))
    r.finish()
    assert outcome.status == "delivered"
    [message] = r.refused_artifacts
    assert "huge (failed).png" in message and "20 MiB" in message
    assert any("huge (failed).png" in rec.getMessage() for rec in caplog.records)
    with server.client() as c:
        arts = c.get(f"/v1/events/{outcome.event_id}").json()["artifacts"]
    assert [a["name"] for a in arts if a.get("url")] == ["dom.html"]
    assert not list((tmp_path / "spool").glob("*.json")), "a refused file is not retried forever"


def test_report_off_sends_nothing_spools_nothing_and_leaves_the_spool_alone(
        server: QueueServer, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    earlier = Reporter(settings("http://127.0.0.1:9", spool, budget_s=0), run_id="run-1")
    assert earlier.send(failure(1)).status == "spooled"
    earlier.finish()
    shot = tmp_path / "shot.png"
    shot.write_bytes(b"\x89PNG")

    off = SourceSettings.load({"HEALLOOP_URL": server.url, "HEALLOOP_SPOOL": str(spool),
                               "HEALLOOP_REPORT": "off"})
    r = Reporter(off, run_id="run-2")
    outcomes = [r.send(failure(n, artifacts=[Artifact(shot)])) for n in (2, 3)]
    assert not r.flush()
    r.finish()
    assert r.off and [o.status for o in outcomes] == ["off", "off"]
    assert r.counts == {"off": 2}
    assert events(server) == []
    assert len(Spool(spool).pending()) == 1, "only the earlier run's report waits; it is not flushed"
    assert not list((spool / "rejected").glob("*")) and shot.is_file()


@pytest.mark.parametrize(("value", "report"), [
    ("off", False), ("0", False), ("FALSE", False), ("no", False),
    ("on", True), ("1", True), ("true", True), ("Yes", True), ("", True), (None, True)])
def test_report_setting_values(value: str | None, report: bool) -> None:
    env = {} if value is None else {"HEALLOOP_REPORT": value}
    assert SourceSettings.load(env).report is report


def test_a_bad_report_setting_names_the_variable_and_the_value() -> None:
    with pytest.raises(ConfigError, match=r"HEALLOOP_REPORT must be on or off .*got 'sometimes'"):
        SourceSettings.load({"HEALLOOP_REPORT": "sometimes"})
