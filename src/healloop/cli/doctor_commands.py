"""``healloop doctor``: check this machine's setup for the loop and say what to fix."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("doctor")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default="healloop.toml", show_default=True, envvar="HEALLOOP_CONFIG", show_envvar=True,
              help="healloop.toml to check.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor_cmd(config_path: Path, as_json: bool) -> None:
    """Check the whole setup, one line per finding, changing nothing: config, runner and a collection
    of the suite, the project's Python, reporters, services, queue and token, node registration,
    Chromium, artifacts and data folders, git identity and remote/branch policy.

    Exits 1 when something blocks the loop (a FAIL line); warnings exit 0."""
    from healloop import doctor

    findings = doctor.run_checks(config_path)
    if as_json:
        click.echo(doctor.as_json(findings))
    else:
        for finding in findings:
            click.echo(doctor.line(finding))
        click.echo(doctor.summary(findings))
    if doctor.blocks_the_loop(findings):
        sys.exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(doctor_cmd)
