"""``healloop mcp queue``: the queue MCP server an IDE's agent works events through."""

from __future__ import annotations

import signal
from typing import Any

import anyio
import click

from healloop.cli.queue_commands import node_host_option
from healloop.errors import HealloopError
from healloop.extras import require


@click.command("queue")
@click.option("--queue", "queue_url", default="http://127.0.0.1:8787", show_default=True,
              envvar="HEALLOOP_URL", show_envvar=True, help="The event queue.")
@click.option("--token", envvar="HEALLOOP_TOKEN", show_envvar=True,
              help="The queue's bearer token (an agent's). Over HTTP, clients must send it too.")
@click.option("--node-token", envvar="HEALLOOP_AGENT_NODE_TOKEN", show_envvar=True,
              help="Bearer token of the tool nodes.")
@node_host_option
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True,
              envvar="HEALLOOP_IDE_TRANSPORT", show_envvar=True,
              help="stdio: the IDE starts this server itself; http: serve /mcp for clients that connect.")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP: the address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8789, show_default=True,
              help="HTTP: the port to listen on.")
@click.option("--lease", "lease_s", type=click.FloatRange(5, 3600), default=60, show_default=True,
              help="Seconds of each lease; the server renews it every third of that while the IDE works.")
@click.option("--idle", "idle_s", type=click.FloatRange(1, 86400), default=600, show_default=True,
              envvar="HEALLOOP_IDE_IDLE", show_envvar=True,
              help="Release a held event after this many seconds without a call from the IDE.")
def queue_server(queue_url: str, token: str | None, node_token: str | None, node_hosts: tuple[str, ...],
                 transport: str, host: str, port: int, lease_s: float, idle_s: float) -> None:
    """Serve healloop's queue to an IDE's agent over MCP: list, claim and heal events with the agent's
    guardrails (tools list_events, claim_event, event_context, node_call, verify, resolve, propose,
    escalate, release_event; prompts heal-event and triage-escalations)."""
    try:
        require("agent", "node", command="healloop mcp queue")
    except HealloopError as exc:
        raise click.ClickException(exc.message) from None
    from healloop.ide.held import IdeConfig
    from healloop.ide.server import build_server

    if not queue_url.startswith(("http://", "https://")):
        raise click.BadParameter(f"the queue URL must start with http:// or https://, got {queue_url!r}",
                                 param_hint="--queue")
    config = IdeConfig(queue_url.rstrip("/"), token, node_token, node_hosts, lease_s=lease_s, idle_s=idle_s)
    server = build_server(config)
    if transport == "stdio":
        anyio.run(_until_signal, server.run_stdio_async)
        return
    from healloop.node.server import http_app

    # uvicorn turns SIGTERM into an ordered shutdown itself, lifespan (and so the releases) included.
    anyio.run(_serve_http, http_app(server, host=host, port=port, token=token), host, port)


async def _serve_http(app: Any, host: str, port: int) -> None:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    click.echo(f"healloop queue MCP server: serving at http://{host}:{port}/mcp", err=True)
    await server.serve()


async def _until_signal(run: Any) -> None:
    """Run until done or SIGTERM/SIGINT: the server's lifespan then ends in order, and every event it
    holds goes back to the queue with its changes undone (a plain SIGTERM would skip that)."""
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch)
        await run()
        tg.cancel_scope.cancel()


def register(cli: click.Group) -> None:
    group = cli.commands["mcp"]
    assert isinstance(group, click.Group)
    group.add_command(queue_server)
