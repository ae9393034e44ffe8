"""deploy/: no Docker engine runs on these machines, so the files are checked statically: the
compose file parses, every service's command is a real healloop command with real flags, and
volumes and ports agree with the defaults."""

from __future__ import annotations

import re

import click
import pytest
import yaml

from healloop.cli.main import _add_commands, cli
from tests.support import ROOT

COMPOSE = ROOT / "deploy" / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def _defaults(value):
    """Compose's ``${VAR:-default}`` with no VAR set, which is how the file runs on one machine."""
    if isinstance(value, str):
        return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    if isinstance(value, list):
        return [_defaults(v) for v in value]
    if isinstance(value, dict):
        return {k: _defaults(v) for k, v in value.items()}
    return value


def _services() -> dict:
    return _defaults(yaml.safe_load(COMPOSE.read_text())["services"])


def _parse(argv: list[str]) -> click.Context:
    """Resolve argv to a healloop command and parse its options, as the CLI would."""
    _add_commands()
    ctx = cli.make_context("healloop", list(argv))
    cmd: click.Command = cli
    args = list(argv)
    while isinstance(cmd, click.Group):
        name, sub, args = cmd.resolve_command(ctx, args)
        assert sub is not None, f"unknown command {name!r} in {argv}"
        cmd = sub
        ctx = cmd.make_context(name, list(args), parent=ctx)
    return ctx


@pytest.mark.parametrize("name", ["queue", "node", "agent"])
def test_every_service_command_is_a_real_healloop_command(name: str) -> None:
    svc = _services()[name]
    ctx = _parse(svc["command"])
    assert ctx.command.name in {"serve", "agent"}


def test_queue_volume_port_and_image_defaults_agree() -> None:
    services = _services()
    queue = services["queue"]
    ctx = _parse(queue["command"])
    db = str(ctx.params["db"])
    mount = queue["volumes"][0].split(":")[1]
    assert db.startswith(mount + "/"), "the database must live on the queue's volume"
    assert f"{ctx.params['port']}:{ctx.params['port']}" in queue["ports"]
    assert ctx.params["port"] == 8787 and ctx.params["host"] == "0.0.0.0"
    node = _parse(services["node"]["command"])
    assert node.params["queue"] == "http://queue:8787" and node.params["public_url"] == "http://node:8788/mcp"
    assert node.params["port"] == 8788 and "8788:8788" in services["node"]["ports"]
    agent = _parse(services["agent"]["command"])
    assert agent.params["queue_url"] == "http://queue:8787"
    text = DOCKERFILE.read_text()
    assert 'VOLUME ["/data"]' in text and "EXPOSE 8787 8788" in text
    cmd = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert cmd is not None
    assert yaml.safe_load(cmd.group(1)) == queue["command"]


def test_every_service_sets_the_tokens() -> None:
    services = _services()
    for name in ("queue", "node", "agent"):
        assert "HEALLOOP_TOKEN" in services[name]["environment"]
    assert services["node"]["environment"]["HEALLOOP_NODE_TOKEN"] == "${HEALLOOP_TOKEN}"
    assert services["agent"]["environment"]["HEALLOOP_AGENT_NODE_TOKEN"] == "${HEALLOOP_TOKEN}"


def test_the_queue_answers_to_the_name_the_services_use_and_the_agents_trust_the_node() -> None:
    """The queue refuses Host names it was not told, and agents send the node token to no host they
    were not told: in compose the services reach each other by service name."""
    from urllib.parse import urlsplit

    services = _services()
    node = _parse(services["node"]["command"])
    allowed = services["queue"]["environment"]["HEALLOOP_ALLOWED_HOSTS"].split()
    assert urlsplit(node.params["queue"]).hostname in allowed
    assert urlsplit(_parse(services["agent"]["command"]).params["queue_url"]).hostname in allowed
    trusted = services["agent"]["environment"]["HEALLOOP_AGENT_NODE_HOSTS"].split()
    assert urlsplit(node.params["public_url"]).hostname in trusted
