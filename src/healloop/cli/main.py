"""Entry point of the ``healloop`` command: one click group, with the groups of each part added.

Only the CLI configures logging; library modules just call ``logging.getLogger(__name__)``.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from healloop import __version__
from healloop.errors import HealloopError


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": None})
@click.version_option(__version__, prog_name="healloop")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """healloop: turn failing end-to-end tests into repaired, verified commits, locally.

    Every option can also be set by the HEALLOOP_* environment variable shown beside it.
    """
    _configure_logging(verbose)


# Each part of healloop adds its command group here: one module, one `register(cli)` function.
COMMAND_MODULES = [
    "healloop.cli.queue_commands",
    "healloop.cli.node_commands",
    "healloop.cli.ide_commands",  # adds `queue` to node_commands' `mcp` group
    "healloop.cli.agent_commands",
    "healloop.cli.llm_commands",
    "healloop.cli.source_commands",
    "healloop.cli.stack_commands",
    "healloop.cli.doctor_commands",
    "healloop.cli.notify_commands",
    "healloop.cli.forge_commands",
    "healloop.cli.token_commands",
    "healloop.cli.prune_commands",
    "healloop.cli.stats_commands",
    "healloop.cli.quarantine_commands",
    "healloop.cli.db_commands",
]


def _add_commands() -> None:
    # Imported here so each part registers its own commands and `--help` lists them all. These modules
    # import only the base install's packages at the top (tests/test_packaging.py checks it); a command
    # that needs an extra says so when run (healloop.extras.require).
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(cli)


def main() -> None:
    _add_commands()
    try:
        cli(standalone_mode=True)
    except HealloopError as exc:  # MissingExtra from healloop.extras.require, and the odd one uncaught
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
