"""``healloop test show`` and ``healloop quarantine add|list|remove`` against a real queue process, with
test names as untrusted as test logs make them; and the quarantine settings of ``healloop serve``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cli.test_events_cli import healloop
from tests.support import QueueServer, failure

# rich markup, a terminal escape (clear the screen) and Chinese: printed as text, never obeyed.
TEST = "购物车 [bold red]> 结算[/] \x1b[2J"
SPEC = "cypress/e2e/spec1.cy.js"


def test_add_list_show_remove(server: QueueServer) -> None:
    q = ("--queue", server.url)
    added = healloop("quarantine", "add", SPEC, TEST, "--owner", "ana", "--for", "3d", "--reason", "[link]x",
                     *q)
    assert added.returncode == 0, added.stderr
    assert "\x1b" not in added.stdout and "\\x1b[2J" in added.stdout and "[bold red]" in added.stdout
    with server.client() as c:
        c.post("/v1/runs", json={"node": "ci-1", "run_id": "r1", "passed": [{"spec": SPEC, "test": TEST}]})
        eid = c.post("/v1/events", json=failure(1, test=TEST, node="ci-2")).json()["id"]
    listed = healloop("quarantine", "list", *q)
    assert listed.returncode == 0 and "ana" in listed.stdout and "[link]x" in listed.stdout
    assert "\x1b" not in listed.stdout
    as_json = json.loads(healloop("quarantine", "list", "--json", *q).stdout)
    assert [(g["spec"], g["test"], g["owner"]) for g in as_json] == [(SPEC, TEST, "ana")]
    shown = healloop("test", "show", SPEC, TEST, *q)
    assert shown.returncode == 0, shown.stderr
    assert "runs: 2 (1 passed, 1 failed)" in shown.stdout and "quarantined by ana" in shown.stdout
    assert "last good run:" in shown.stdout and "ci-1" in shown.stdout and "\x1b" not in shown.stdout
    view = json.loads(healloop("test", "show", SPEC, TEST, "--json", *q).stdout)
    assert view["events"][0]["id"] == eid and view["events"][0]["status"] == "quarantined"
    removed = healloop("quarantine", "remove", SPEC, TEST, "--by", "li", "--reason", "fixed", *q)
    assert removed.returncode == 0 and "1 event(s) back in the queue" in removed.stdout
    again = healloop("quarantine", "remove", SPEC, TEST, *q)
    assert again.returncode == 1 and "no quarantine in force" in again.stderr
    assert "no test is quarantined" in healloop("quarantine", "list", *q).stdout


def test_bad_durations_are_named_before_anything_is_sent(server: QueueServer) -> None:
    bad = healloop("quarantine", "add", SPEC, "t", "--for", "forever", "--queue", server.url)
    assert bad.returncode == 2 and "must be a duration such as 7d" in bad.stderr
    long = healloop("quarantine", "add", SPEC, "t", "--for", "100d", "--queue", server.url)
    assert long.returncode == 2 and "over 90 days" in long.stderr
    with server.client() as c:
        assert c.get("/v1/quarantines").json()["quarantines"] == []


def test_serve_names_a_bad_quarantine_setting(tmp_path: Path) -> None:
    config = tmp_path / "healloop.toml"
    config.write_text('[queue]\nquarantine_window = "a week"\n')
    serve = [sys.executable, "-m", "healloop", "serve", "--db", str(tmp_path / "e.db"), "--port", "0"]
    out = subprocess.run([*serve, "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "`queue.quarantine_window` must be a duration" in out.stderr
    out = subprocess.run([*serve, "--release-after", "-1"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "`--release-after` must be a whole number from 0 to 10000" in out.stderr
