"""``healloop test show`` (one test across every machine: ``GET /v1/test``) and ``healloop quarantine
add|list|remove`` (``/v1/quarantines``).

Test names, notes and messages come from test runs and logs: untrusted. Each is shown as plain text,
its control characters (terminal escapes) made visible and rich's markup escaped.
"""

from __future__ import annotations

import getpass
import json
import re
import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from healloop.cli.queue_commands import queue_options
from healloop.client import QueueClient
from healloop.errors import HealloopError
from healloop.queue.quarantine import duration_s

_console = Console(width=None if sys.stdout.isatty() else 200)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value: Any, limit: int = 200) -> str:
    """Untrusted text as it may be printed: control characters shown as \\xNN, markup escaped, cut."""
    text = "" if value is None else str(value)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\n", " "))
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _fail(exc: HealloopError) -> None:
    raise click.ClickException(exc.message)


def _seconds(text: str) -> int:
    try:
        seconds = duration_s(text, "--for")
    except HealloopError as exc:
        raise click.BadParameter(exc.message) from None
    if seconds > 90 * 86400:
        raise click.BadParameter(f"{text!r} is over 90 days, the longest quarantine")
    return seconds


@click.group("test")
def test_group() -> None:
    """One test across every machine: runs, flake rate, heals, quarantine."""


def print_view(v: dict[str, Any]) -> None:
    runs = v["runs"]
    rate = "n/a" if v["flake_rate"] is None else f"{v['flake_rate'] * 100:.1f}%"
    _console.print(f"{plain(v['spec'])} > {plain(v['test'])}")
    _console.print(f"runs: {runs['total']} ({runs['passes']} passed, {runs['failures']} failed); "
                   f"called flaky {v['flaky_calls']} time(s); flake rate {rate}")
    good = v["last_good_run"]
    _console.print(f"last good run: {good['at']} on {plain(good['node'])}" if good else "last good run: none")
    q = v["quarantine"]
    if q:
        _console.print(f"quarantined by {plain(q['owner'])} until {q['until']}: {plain(q['reason'])} "
                       f"(clean runs since: {q['clean_runs']} on {len(q['clean_nodes'])} node(s))")
    else:
        _console.print("not quarantined")
    nodes = Table("node", "passed", "failed", "last pass", "last failure", title="per node")
    for n in v["nodes"]:
        nodes.add_row(plain(n["node"]), str(n["passes"]), str(n["failures"]), n["last_pass_at"] or "",
                      n["last_fail_at"] or "")
    heals = Table("at", "how", "event", "commit", "note", title="heals")
    for h in v["heals"]:
        how = h["how"] + (f" ({plain(h['label'])})" if h["label"] else "")
        how += " reverted" if h["reverted"] else ""
        heals.add_row(h["at"], how, h["event_id"], (h["commit"] or "")[:10], plain(h["note"], 100))
    past = Table("since", "until", "owner", "ended", "note", title="quarantines")
    for p in v["quarantines"]:
        past.add_row(p["since"], p["until"], plain(p["owner"]), p["ended"] or "in force",
                     plain(p["lift_note"] or p["reason"], 100))
    for table, rows in ((nodes, v["nodes"]), (heals, v["heals"]), (past, v["quarantines"])):
        if rows:
            _console.print(table)


@test_group.command("show")
@queue_options
@click.argument("spec")
@click.argument("test")
@click.option("--json", "as_json", is_flag=True, help="Print the reply of GET /v1/test as JSON.")
def test_show(queue_url: str, token: str | None, spec: str, test: str, as_json: bool) -> None:
    """SPEC > TEST on every node: passes, failures, flake rate, heals and their commits, the last good
    run and its quarantine."""
    try:
        with QueueClient(queue_url, token) as q:
            view = q.test_view(spec, test)
    except HealloopError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(view, indent=2, ensure_ascii=False))
    else:
        print_view(view)


@click.group("quarantine")
def quarantine_group() -> None:
    """Flaky tests kept from the agents: failures still reported, never healed."""


@quarantine_group.command("add")
@queue_options
@click.argument("spec")
@click.argument("test")
@click.option("--owner", default=lambda: getpass.getuser(), show_default="your user name",
              help="Who answers for it.")
@click.option("--for", "duration", default="14d", show_default=True,
              help="How long: 12h, 7d, 2w (at most 90d).")
@click.option("--reason", help="Why, shown with it.")
def quarantine_add(queue_url: str, token: str | None, spec: str, test: str, owner: str, duration: str,
                   reason: str | None) -> None:
    """Quarantine SPEC > TEST (replacing one in force)."""
    seconds = _seconds(duration)
    try:
        with QueueClient(queue_url, token) as q:
            got = q.quarantine(spec, test, owner, seconds, reason)
    except HealloopError as exc:
        _fail(exc)
    _console.print(f"quarantined {plain(spec)} > {plain(test)} until {got['until']} (owner {plain(owner)})")


@quarantine_group.command("list")
@queue_options
@click.option("--json", "as_json", is_flag=True, help="Print the reply of GET /v1/quarantines as JSON.")
def quarantine_list(queue_url: str, token: str | None, as_json: bool) -> None:
    """The quarantines in force."""
    try:
        with QueueClient(queue_url, token) as q:
            found = q.quarantines()
    except HealloopError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("no test is quarantined")
        return
    table = Table("spec", "test", "owner", "until", "clean runs", "reason")
    for g in found:
        table.add_row(plain(g["spec"]), plain(g["test"]), plain(g["owner"]), g["until"],
                      f"{g['clean_runs']} on {len(g['clean_nodes'])} node(s)", plain(g["reason"], 100))
    _console.print(table)


@quarantine_group.command("remove")
@queue_options
@click.argument("spec")
@click.argument("test")
@click.option("--by", default=lambda: getpass.getuser(), show_default="your user name", help="Who lifts it.")
@click.option("--reason", help="Why, recorded with it.")
def quarantine_remove(queue_url: str, token: str | None, spec: str, test: str, by: str,
                      reason: str | None) -> None:
    """Lift the quarantine of SPEC > TEST now: its quarantined failures go back to the queue."""
    try:
        with QueueClient(queue_url, token) as q:
            got = q.lift_quarantine(spec, test, by, reason)
    except HealloopError as exc:
        _fail(exc)
    _console.print(f"lifted the quarantine of {plain(spec)} > {plain(test)}; {got['requeued']} event(s) "
                   "back in the queue")


def register(cli: click.Group) -> None:
    cli.add_command(test_group)
    cli.add_command(quarantine_group)
