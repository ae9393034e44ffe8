"""``healloop notify test`` as a user runs it, against the local receivers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.notify.receivers import Receivers, shown_text


def run(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HEALLOOP_", "QA_"))}
    cmd = [sys.executable, "-m", "healloop", "notify", "test", "--config", str(config), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**base, **(env or {})})


def config(tmp_path: Path, r: Receivers, extra: str = "") -> Path:
    path = tmp_path / "healloop.toml"
    path.write_text(f'''
[notify.qa-feishu]
kind = "feishu"
url = "{r.url('/feishu')}"
secret_env = "QA_FEISHU_SECRET"

[notify.qa-slack]
kind = "slack"
url = "{r.url('/slack')}"

[notify.qa-ding]
kind = "dingtalk"
url = "{r.url('/dingtalk')}?access_token=abc"
secret = "{r.secret}"

[notify.qa-hook]
kind = "webhook"
url = "{r.url('/hook')}"
secret = "{r.secret}"
{extra}''')
    return path


def test_every_channel_gets_a_test_message(tmp_path: Path, receivers: Receivers) -> None:
    proc = run(config(tmp_path, receivers), env={"QA_FEISHU_SECRET": receivers.secret})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ok   qa-feishu (feishu)", "ok   qa-slack (slack)", "ok   qa-ding (dingtalk)",
        "ok   qa-hook (webhook)"]
    assert all(" delivered in " in line and line.endswith(" ms") for line in lines)
    assert len(receivers.received) == 4
    for rec in receivers.received:
        assert rec.problems == []
        assert "a test message from healloop notify test on " in shown_text(rec)
    assert receivers.on("/hook")[0].json["outcome"] == "test"
    assert receivers.on("/hook")[0].json["event_id"] == "evt_test"


def test_one_channel_by_name(tmp_path: Path, receivers: Receivers) -> None:
    proc = run(config(tmp_path, receivers), "--channel", "qa-hook", env={"QA_FEISHU_SECRET": "x"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok   qa-hook (webhook): delivered in ")
    assert [r.path for r in receivers.received] == ["/hook"]


def test_a_rejecting_receiver_fails_the_run(tmp_path: Path, receivers: Receivers) -> None:
    extra = f'\n[notify.qa-gone]\nkind = "slack"\nurl = "{receivers.url("/slack-gone")}"\n'
    proc = run(config(tmp_path, receivers, extra), env={"QA_FEISHU_SECRET": "not-the-secret"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "FAIL qa-feishu (feishu): Feishu code 19021: sign match fail" in out
    assert "FAIL qa-gone (slack): HTTP 404 no_service" in out
    assert "ok   qa-slack (slack): delivered in " in out and "ok   qa-hook (webhook)" in out


def test_unknown_channel_or_missing_table_exit_2(tmp_path: Path, receivers: Receivers) -> None:
    proc = run(config(tmp_path, receivers), "--channel", "qa-teams", env={"QA_FEISHU_SECRET": "x"})
    assert proc.returncode == 2
    assert "no channel 'qa-teams'" in proc.stderr and "qa-feishu, qa-slack, qa-ding, qa-hook" in proc.stderr
    bare = tmp_path / "bare.toml"
    bare.write_text("[queue]\nport = 8787\n")
    proc = run(bare)
    assert proc.returncode == 2 and "has no [notify.NAME] table" in proc.stderr
    proc = run(tmp_path / "absent.toml")
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert receivers.received == []


def test_a_config_error_names_the_key_and_exits_2(tmp_path: Path, receivers: Receivers) -> None:
    # Every channel is checked as the queue would read them, even with --channel naming another.
    proc = run(config(tmp_path, receivers), "--channel", "qa-hook")   # QA_FEISHU_SECRET not set
    assert proc.returncode == 2
    assert "`notify.qa-feishu.secret_env` names the environment variable QA_FEISHU_SECRET" in proc.stderr
    assert receivers.received == []
