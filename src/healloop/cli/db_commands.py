"""``healloop db status|upgrade``: the schema version of the queue's database, on SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import click

from healloop.errors import HealloopError


def _target(ctx: click.Context, param: click.Parameter, value: str) -> str | Path:
    from healloop.queue.store.choose import db_target

    try:
        return db_target(value)
    except HealloopError as exc:
        raise click.BadParameter(exc.message) from None


def _shown(db: str | Path) -> str:
    from healloop.queue.store.postgres import redact

    return redact(db) if isinstance(db, str) else str(db)


_db = click.option("--db", default="data/events.db", callback=_target, show_default=True,
                   envvar="HEALLOOP_DB", show_envvar=True,
                   help="The queue's SQLite file or PostgreSQL URL (as given to `healloop serve --db`).")


@click.group()
def db() -> None:
    """The queue's database schema: its version, and upgrading it."""


@db.command("status")
@_db
def status_cmd(db: str | Path) -> None:
    """Print the schema version of the database and whether an upgrade is pending (exit 1 if one is)."""
    from healloop.queue.store.schema import status

    try:
        s = status(db)
    except HealloopError as exc:
        raise click.ClickException(exc.message) from None
    if s.found is None:
        click.echo(f"{_shown(db)}: no queue yet; `healloop serve` or `healloop db upgrade` creates it at "
                   f"schema version {s.current}")
    elif s.found < s.current:
        click.echo(f"{_shown(db)}: schema version {s.found}, {s.current - s.found} migration(s) pending "
                   f"(to version {s.current}): run `healloop db upgrade`")
        raise SystemExit(1)
    elif s.found > s.current:
        click.echo(f"{_shown(db)}: schema version {s.found}, newer than this healloop's {s.current}: "
                   "upgrade healloop")
        raise SystemExit(1)
    else:
        click.echo(f"{_shown(db)}: schema version {s.found}, up to date")


@db.command("upgrade")
@_db
def upgrade_cmd(db: str | Path) -> None:
    """Create the schema or apply the pending migrations (the servers also do this at start)."""
    from healloop.queue.store.schema import upgrade

    try:
        before = upgrade(db)
    except HealloopError as exc:
        raise click.ClickException(exc.message) from None
    if before.found is None:
        click.echo(f"{_shown(db)}: created at schema version {before.current}")
    elif before.found < before.current:
        click.echo(f"{_shown(db)}: upgraded from schema version {before.found} to {before.current}")
    else:
        click.echo(f"{_shown(db)}: schema version {before.found}, nothing to do")


def register(cli: click.Group) -> None:
    cli.add_command(db)
