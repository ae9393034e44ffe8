"""Commands for the MCP tool node: ``healloop mcp serve`` and ``healloop mcp audit``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import click

from healloop.errors import HealloopError
from healloop.extras import require
from healloop.node.audit import AuditLog
from healloop.node.config import load_config

ENV = "HEALLOOP_NODE_"
F = TypeVar("F", bound=Callable[..., Any])


def _fail(exc: HealloopError) -> None:
    raise click.ClickException(exc.message)


def _label(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    labels = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}")
        labels[key] = val
    return labels


def _workspace_option(help: str | None = None) -> Callable[[F], F]:
    return click.option("--workspace", type=click.Path(file_okay=False, path_type=Path),
                        envvar=ENV + "WORKSPACE", show_envvar=True, help=help)


def _config_option(help: str | None = None) -> Callable[[F], F]:
    return click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                        envvar="HEALLOOP_CONFIG", show_envvar=True, help=help)


def _state_dir_option(help: str | None = None) -> Callable[[F], F]:
    return click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
                        envvar=ENV + "STATE_DIR", show_envvar=True, help=help)


@click.group("mcp")
def mcp_group() -> None:
    """The MCP tool node: the one way an agent reads and repairs this machine."""


@mcp_group.command("serve")
@_workspace_option("Repository the node works on (overrides node.workspace).")
@_config_option("healloop.toml with the [node] tables.")
@_state_dir_option("Audit log, locks, pid files (default ~/.local/state/healloop/...).")
@click.option(
    "--transport",
    type=click.Choice(["http", "stdio"]),
    default="http",
    show_default=True,
    envvar=ENV + "TRANSPORT",
    show_envvar=True,
)
@click.option("--host", default="127.0.0.1", show_default=True, envvar=ENV + "HOST", show_envvar=True)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8788,
    show_default=True,
    envvar=ENV + "PORT",
    show_envvar=True,
)
@click.option(
    "--token",
    envvar=ENV + "TOKEN",
    show_envvar=True,
    help="Require 'Authorization: Bearer TOKEN' on HTTP requests.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="Extra Host header value to accept (DNS-rebinding protection), e.g. node1.lan.",
)
@click.option("--queue", envvar=ENV + "QUEUE", show_envvar=True, help="Queue URL to register this node with.")
@click.option("--queue-token", envvar="HEALLOOP_TOKEN", show_envvar=True, help="Bearer token of the queue.")
@click.option(
    "--node", "node_name", envvar=ENV + "NAME", show_envvar=True, help="This node's name at the queue."
)
@click.option("--label", "labels", multiple=True, callback=_label, help="KEY=VALUE label sent to the queue.")
@click.option(
    "--register-every",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    envvar=ENV + "REGISTER_EVERY",
    show_envvar=True,
    help="Seconds between registrations at the queue.",
)
@click.option(
    "--public-url",
    envvar=ENV + "PUBLIC_URL",
    show_envvar=True,
    help="URL agents use to reach /mcp (default http://HOST:PORT/mcp).",
)
def serve(
    workspace: Path | None,
    config_path: Path | None,
    state_dir: Path | None,
    transport: str,
    host: str,
    port: int,
    token: str | None,
    allowed_hosts: tuple[str, ...],
    queue: str | None,
    queue_token: str | None,
    node_name: str | None,
    labels: dict[str, str],
    register_every: float,
    public_url: str | None,
) -> None:
    """Serve the node's tools over streamable HTTP (at /mcp, Prometheus metrics at /metrics) or stdio."""
    require("node", command="healloop mcp serve")
    from healloop.node.server import build_server, http_app
    from healloop.node.tools import Node

    if bool(queue) != bool(node_name):
        raise click.UsageError("--queue and --node go together: give both or neither")
    if transport == "stdio" and queue:
        raise click.UsageError("--queue needs --transport http: a stdio node cannot be reached by URL")
    from healloop.node.artifacts import ensure_folder

    try:
        node = Node.from_config(load_config(config_path, workspace=workspace, state_dir=state_dir))
        # Reporters on this machine write into it (HEALLOOP_ARTIFACTS); a folder that cannot be made
        # is said now, once, rather than on every read_artifact.
        ensure_folder(node.config.artifacts)
    except HealloopError as exc:
        _fail(exc)
    from healloop.node.metrics import NodeMetrics

    metrics = NodeMetrics()
    server = build_server(node, metrics)
    if transport == "stdio":
        anyio.run(server.run_stdio_async)
        return
    if public_url and urlsplit(public_url).hostname:
        # Agents reach the node by the name in its public URL: accept that Host header too.
        name = str(urlsplit(public_url).hostname)
        allowed_hosts = (*allowed_hosts, f"[{name}]" if ":" in name else name)
    app = http_app(server, host=host, port=port, token=token, extra_hosts=allowed_hosts, metrics=metrics)
    registration = None
    if queue and node_name:
        from healloop.node.registration import Registration

        mcp_url = public_url or f"http://{host}:{port}/mcp"
        registration = Registration(
            queue, name=node_name, mcp_url=mcp_url, labels=labels, token=queue_token, interval=register_every
        )
    anyio.run(_serve_http, app, host, port, registration)


async def _serve_http(app, host: str, port: int, registration) -> None:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    click.echo(f"healloop node: serving MCP at http://{host}:{port}/mcp and metrics at /metrics", err=True)
    async with anyio.create_task_group() as tg:
        if registration is not None:
            tg.start_soon(registration.run)
        await server.serve()
        tg.cancel_scope.cancel()


@mcp_group.command("audit")
@_workspace_option("Workspace whose default state dir to read.")
@_config_option()
@_state_dir_option()
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="Last N entries.")
@click.option("--event", "event_id", help="Only calls for this event id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")
def audit(
    workspace: Path | None,
    config_path: Path | None,
    state_dir: Path | None,
    limit: int,
    event_id: str | None,
    as_json: bool,
) -> None:
    """Print the node's audit log: every tool call with time, caller, event, tool, digest and outcome."""
    import json
    from dataclasses import asdict

    if state_dir is None:
        try:
            state_dir = load_config(config_path, workspace=workspace).state_dir
        except HealloopError as exc:
            _fail(exc)
    entries = AuditLog(state_dir / "audit.jsonl").read(limit=limit, event_id=event_id)
    if as_json:
        for entry in entries:
            click.echo(json.dumps(asdict(entry)))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("time", "caller", "event", "tool", "args", "outcome")
    for e in entries:
        table.add_row(e.time, e.caller, e.event_id or "-", e.tool, e.args_digest, e.outcome)
    Console(file=sys.stdout, width=200).print(table)


@mcp_group.command("check")
@_workspace_option()
@_config_option()
def check(workspace: Path | None, config_path: Path | None) -> None:
    """Validate the node config and report whether the runner and each service backend can work here."""
    require("node", command="healloop mcp check")
    from healloop.node.tools import Node

    try:
        node = Node.from_config(load_config(config_path, workspace=workspace))
    except HealloopError as exc:
        _fail(exc)
    results = [("runner", *node.runner.check(node.config.runner.cwd or node.config.workspace))]
    results += [(f"service {name}", *backend.check()) for name, backend in node.services.backends.items()]
    for what, ok, reason in results:
        click.echo(f"{'ok ' if ok else 'OFF'}  {what}: {reason}")
    if not all(ok for _, ok, _ in results):
        sys.exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(mcp_group)
