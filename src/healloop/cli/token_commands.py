"""``healloop token create|list|revoke``: the queue's role tokens, in its SQLite file.

They work beside a running ``healloop serve`` on the same file: it sees a new or revoked token within
about a second (``queue/tokens.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from healloop.errors import HealloopError
from healloop.queue.roles import ROLES
from healloop.queue.tokens import check_name, check_role, hash_secret, issue, new_secret, revoke
from healloop.timeutil import to_rfc3339

_console = Console(width=None if sys.stdout.isatty() else 200)


def _db_option(fn: click.decorators.FC) -> click.decorators.FC:
    return click.option("--db", default="data/events.db", callback=_target,
                        show_default=True, envvar="HEALLOOP_DB", show_envvar=True,
                        help="The queue's SQLite file or PostgreSQL URL (as given to "
                             "`healloop serve --db`).")(fn)


def _target(ctx: click.Context, param: click.Parameter, value: str) -> str | Path:
    from healloop.queue.store.choose import db_target

    try:
        return db_target(value)
    except HealloopError as exc:
        raise click.BadParameter(exc.message) from None


def _existing(db: str | Path) -> str | Path:
    """A PostgreSQL URL as it is (the connection says whether it exists), or an SQLite file that does."""
    if isinstance(db, Path) and not db.is_file():
        raise click.ClickException(f"{db} does not exist; pass the queue's file with --db (as given to "
                                   "`healloop serve --db`)")
    return db


def _shown(db: str | Path) -> str:
    from healloop.queue.store.postgres import redact

    return redact(db) if isinstance(db, str) else str(db)


@click.group()
def token() -> None:
    """Role tokens of the queue: reporter, agent, node, reader, operator, admin (see README, Security)."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice(ROLES),
              help="What the token may do: reporter (report failures and upload artifacts), agent (claim "
                   "and repair events), node (register the node NAME), reader (look at events, stats, "
                   "nodes and the dashboard), operator (approve, reject, revert, requeue, close, mute), "
                   "admin (everything).")
@click.option("--name", required=True,
              help="The token's name, shown by `token list`; for a node token, the node's name (ci-1).")
@click.option("--replace", is_flag=True,
              help="Rotate an existing token of that name: its secret stops working.")
@click.option("--toml", "as_toml", is_flag=True,
              help="Store nothing: print a new secret and the [queue.tokens.NAME] table with its SHA-256, "
                   "for healloop.toml.")
@_db_option
def create_cmd(role: str, name: str, replace: bool, as_toml: bool, db: str | Path) -> None:
    """Create a token and print its secret once (on stdout; the rest goes to stderr)."""
    try:
        check_name(name)
        check_role(role)
        if as_toml:
            secret = new_secret()
            click.echo(f"# the secret, for the token's holder only (shown only now): {secret}\n"
                       f"[queue.tokens.{name}]\nrole = \"{role}\"\nsha256 = \"{hash_secret(secret)}\"")
            return
        from healloop.queue.store.choose import token_admin

        tx = token_admin(db)
        try:
            with tx.c:
                secret = issue(tx, name, role, replace=replace)
        finally:
            tx.c.close()
    except HealloopError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{'replaced' if replace else 'created'} {role} token {name!r} in {_shown(db)}; its secret "
               "follows, shown only now (give it to the token's holder as HEALLOOP_TOKEN):", err=True)
    click.echo(secret)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="HEALLOOP_CONFIG", show_envvar=True,
              help="healloop.toml whose [queue.tokens.NAME] tables declare tokens too (as given to "
                   "`healloop serve --config`); default: ./healloop.toml when there is one.")
@_db_option
def list_cmd(as_json: bool, config_path: Path | None, db: str | Path) -> None:
    """List the tokens (never their secrets): name, role, where it is kept, created, last used, revoked.
    Tokens declared in healloop.toml are listed too (their use is not recorded)."""
    from healloop.queue.store.choose import token_admin
    from healloop.queue.tokenconfig import declared_list

    if config_path is None and Path("healloop.toml").is_file():
        config_path = Path("healloop.toml")
    try:
        declared = declared_list(config_path) if config_path else []
    except HealloopError as exc:
        raise click.ClickException(exc.message) from None
    rows = []
    if isinstance(db, str) or db.is_file() or not declared:
        tx = token_admin(_existing(db))
        try:
            rows = tx.list_tokens()
        finally:
            tx.c.close()
    out = [{"name": t.name, "role": t.role, "kept": _shown(db), "created_at": to_rfc3339(t.created_at),
            "last_used_at": to_rfc3339(t.last_used_at), "revoked_at": to_rfc3339(t.revoked_at)}
           for t in rows]
    out += [{"name": d["name"], "role": d["role"], "kept": f"{config_path} ({d['source']})",
             "created_at": None, "last_used_at": None, "revoked_at": None} for d in declared]
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    if not out:
        click.echo(f"no tokens in {_shown(db)}" + (f" or {config_path}" if config_path else ""))
        return
    table = Table("name", "role", "kept in", "created", "last used (to the minute)", "revoked")
    for t in out:
        declared_here = t["created_at"] is None
        table.add_row(t["name"], t["role"], t["kept"], "" if declared_here else t["created_at"],
                      "not recorded" if declared_here else t["last_used_at"] or "never",
                      t["revoked_at"] or "")
    _console.print(table)


@token.command("revoke")
@click.argument("name")
@_db_option
def revoke_cmd(name: str, db: str | Path) -> None:
    """Revoke the token NAME: a running queue refuses it (401) within about a second."""
    from healloop.queue.store.choose import token_admin

    tx = token_admin(_existing(db))
    try:
        with tx.c:
            old = revoke(tx, name)
    except HealloopError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        tx.c.close()
    click.echo(f"revoked {old.role} token {name!r} in {_shown(db)}")


def register(cli: click.Group) -> None:
    cli.add_command(token)
