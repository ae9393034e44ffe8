"""``[agent] metrics_port`` and ``metrics_host`` in healloop.toml become the agent's options; bad values
are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from healloop.errors import ConfigError
from healloop.stack import load_settings


def test_the_metrics_port_goes_to_the_agent(tmp_path: Path) -> None:
    config = tmp_path / "healloop.toml"
    config.write_text("[agent]\n")
    assert "--metrics-port" not in load_settings(config).agent_args  # off by default
    config.write_text("[agent]\nmetrics_port = 9101\n")
    assert load_settings(config).agent_args == ("--metrics-port", "9101")
    config.write_text('[agent]\nmetrics_port = 9101\nmetrics_host = "0.0.0.0"\n')
    assert load_settings(config).agent_args == ("--metrics-port", "9101", "--metrics-host", "0.0.0.0")


@pytest.mark.parametrize(("toml", "message"), [
    ("metrics_port = 0", r"`agent\.metrics_port` must be a port number from 1 to 65535, got 0"),
    ('metrics_port = "9101"', r"`agent\.metrics_port` must be a port number from 1 to 65535, got '9101'"),
    ("metrics_port = true", r"`agent\.metrics_port` must be a port number"),
    ("metrics_host = 1", r"`agent\.metrics_host` must be a host address"),
    ('metrics_host = "0.0.0.0"', r"`agent\.metrics_host` needs `agent\.metrics_port`"),
])
def test_a_bad_metrics_setting_is_named(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "healloop.toml"
    config.write_text(f"[agent]\n{toml}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(config)
