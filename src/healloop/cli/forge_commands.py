"""``healloop forge sync``: decide proposals from their pull requests' state, asking the forge instead of
waiting for its webhook, and delete the proposal branches of decided events on the nodes."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import click

from healloop.cli.queue_commands import node_host_option, queue_options
from healloop.client import QueueClient
from healloop.errors import HealloopError
from healloop.extras import require


@click.group("forge")
def forge_group() -> None:
    """The forge (GitHub, GitLab, Gitea) that [node.git] forge names: pull requests and issues."""


@forge_group.command("sync")
@queue_options
@click.option("--node-token", envvar="HEALLOOP_AGENT_NODE_TOKEN", show_envvar=True,
              help="Bearer token of the tool nodes (they hold the forge's token and ask it).")
@node_host_option
@click.option("--every", "every_s", type=click.FloatRange(min=1), metavar="SECONDS",
              help="Pass again every SECONDS until SIGINT or SIGTERM  [default: one pass]")
def sync_cmd(queue_url: str, token: str | None, node_token: str | None, node_hosts: tuple[str, ...],
             every_s: float | None) -> None:
    """For every proposed event with a pull request, ask the forge where it stands and decide the event
    as the forge's webhook would (merged: approved by who merged it, with the merge commit; closed:
    rejected); then delete, on each node, the healloop/ branch of every proposal that is no longer
    proposed. Prints one line per event acted on.

    Exits 1 when something could not be checked (a node down, a forge refusing), saying what; with
    --every, the status of the last pass."""
    require("agent", command="healloop forge sync")  # the nodes are reached as the agent reaches them
    import anyio

    from healloop.forge_sync import sync

    stop = threading.Event()

    def ask_to_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()  # the pass in hand finishes; no new one starts

    if every_s is not None:
        signal.signal(signal.SIGTERM, ask_to_stop)
        signal.signal(signal.SIGINT, ask_to_stop)
    status = 0
    while True:
        try:
            with QueueClient(queue_url, token) as q:
                done = anyio.run(lambda: sync(q, node_token, node_hosts))
        except HealloopError as exc:
            click.echo(f"could not check: the queue: {exc.message}", err=True)
            status = 1
        else:
            for line in done.lines():
                click.echo(line)
            for problem in done.problems:
                click.echo(f"could not check: {problem}", err=True)
            click.echo(done.summary(), err=True)
            status = 1 if done.problems else 0
        if every_s is None or stop.wait(every_s):
            break
    sys.exit(status)


def register(cli: click.Group) -> None:
    cli.add_command(forge_group)
