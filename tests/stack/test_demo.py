"""`healloop demo` end to end (headless Chromium): its outcome table, asserted. Takes a minute or two."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT


def test_the_demo_has_what_it_needs() -> None:
    # scripts/setup installs all three; without them the demo cannot run, which is a failure, not a skip.
    assert Path("/usr/bin/chromium").exists(), "Debian's chromium is missing: run scripts/setup"
    assert shutil.which("npx"), "npx is missing: install Node.js and npm"
    assert (ROOT / "examples" / "shop" / "node_modules").exists(), "run scripts/setup (npm ci, shop)"


@pytest.mark.timeout(900)  # the whole demo: four suite runs in Chromium and the agent's reruns
def test_demo_heals_restarts_reruns_and_escalates(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")}
    done = subprocess.run(
        [sys.executable, "-m", "healloop", "demo", "--json", "--workdir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert done.stdout.strip(), done.stderr
    outcomes = {o["scenario"].split()[0]: o for o in json.loads(done.stdout)}
    assert done.returncode == 0, json.dumps(outcomes, indent=1) + done.stderr[-3000:]

    selector, restart, flaky, regression = (outcomes[k] for k in "1234")
    assert selector["got"].startswith("resolved") and len(selector["details"]["commits"]) == 1
    assert selector["details"]["rerun"] == "passed" and selector["details"]["spec_has_new_selector"]
    assert restart["got"].startswith("resolved") and "service_restart" in restart["details"]["playbooks"]
    assert flaky["details"]["label"] == "flaky"
    assert regression["got"].startswith("escalated") and regression["details"]["specs_changed"] == []
    assert regression["details"]["suspect_commit"] == regression["details"]["regression_commit"]
    assert not any(o["false_heal"] for o in outcomes.values())
