"""`healloop init`: detection, a config the node's loader accepts, no silent overwrite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from healloop.errors import ConfigError
from healloop.node.config import load_config
from healloop.stack import load_settings


def _init(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "healloop", "init", *args], cwd=folder,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("files", "kind"),
    [
        ({"cypress.config.js": "", "playwright.config.ts": ""}, "cypress"),
        ({"playwright.config.ts": ""}, "playwright"),
        ({"pytest.ini": "[pytest]\n"}, "pytest"),
        ({"pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-q'\n"}, "pytest"),
        ({"conftest.py": ""}, "pytest"),
    ],
)
def test_init_detects_the_runner_and_writes_a_valid_config(tmp_path: Path, files: dict, kind: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    done = _init(tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"detected {kind}" in done.stdout
    config = tmp_path / "healloop.toml"
    node = load_config(config)
    assert node.runner.kind == kind and node.workspace == tmp_path.resolve()
    stack = load_settings(config)
    assert stack.queue_port == 8787 and stack.data_dir == (tmp_path / "data").resolve()
    assert stack.planner == "rules"


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "healloop.toml").write_text("# mine\n")
    refused = _init(tmp_path)
    assert refused.returncode != 0 and "--force" in refused.stderr
    assert (tmp_path / "healloop.toml").read_text() == "# mine\n"
    forced = _init(tmp_path, "--force")
    assert forced.returncode == 0 and "[node.runner]" in (tmp_path / "healloop.toml").read_text()


def test_a_bad_stack_setting_is_named(tmp_path: Path) -> None:
    config = tmp_path / "healloop.toml"
    config.write_text('[agent]\nplanner = "magic"\n')
    with pytest.raises(ConfigError, match=r"agent\.planner"):
        load_settings(config)
