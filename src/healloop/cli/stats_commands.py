"""``healloop stats``: the numbers of ``GET /v1/stats`` (the dashboard's trends) in the terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from healloop.cli.queue_commands import queue_options
from healloop.client import QueueClient
from healloop.errors import HealloopError
from healloop.queue.stats import DEFAULT_SINCE, MAX_DAYS, OUTCOMES, parse_window

_console = Console(width=None if sys.stdout.isatty() else 200)


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _secs(s: float | None) -> str:
    if s is None:
        return ""
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def print_stats(st: dict[str, Any]) -> None:
    w = st["window"]
    node = f", node {w['node']}" if w["node"] else ""
    click.echo(f"{st['events']} event(s) created from {w['since']} to {w['until']}{node}")
    classes = sorted({c for d in st["failures_per_day"] for c in d["classes"]})
    days = Table("day (UTC)", "events", *classes, title="failures per day by class")
    for d in st["failures_per_day"]:
        if d["events"]:
            days.add_row(d["day"], str(d["events"]), *(str(d["classes"].get(c, "")) for c in classes))
    outcomes = Table("outcome", "events", "share", title="how the events stand")
    for o in OUTCOMES:
        outcomes.add_row(o, str(st["outcomes"][o]["events"]), _pct(st["outcomes"][o]["share"]))
    repair = Table("class", "resolved", "mean", "p90", title="time to repair (creation to resolution)")
    for r in st["time_to_repair"]:
        repair.add_row(r["class"], str(r["events"]), _secs(r["mean_s"]), _secs(r["p90_s"]))
    flaky = Table("times", "spec", "test", "last", title="top flaky tests")
    for f in st["flaky_tests"]:
        flaky.add_row(str(f["times"]), f["spec"], f["test"], f["last_at"])
    suspects = Table("events", "commit", "subject", "last", title="top suspect commits")
    for s in st["suspect_commits"]:
        suspects.add_row(str(s["events"]), s["sha"][:10], s["subject"] or "", s["last_at"])
    nodes = Table("node", "events", "resolved", "last report", "last seen", title="node health")
    for n in st["nodes"]:
        nodes.add_row(n["node"], str(n["events"]), _pct(n["share_resolved"]) if n["events"] else "",
                      n["last_report"] or "", n["last_seen"] or "")
    notes = Table("channel", "failed", "pending", "delivered", "last error", title="notifications")
    for ch in st["notifications"]:
        notes.add_row(ch["channel"], str(ch["failed"]), str(ch["pending"]), str(ch["delivered"]),
                      (ch["last_error"] or "")[:80])
    for table, rows in ((days, st["events"]), (outcomes, st["events"]), (repair, st["time_to_repair"]),
                        (flaky, st["flaky_tests"]), (suspects, st["suspect_commits"]), (nodes, st["nodes"]),
                        (notes, st["notifications"])):
        if rows:
            _console.print(table)
        else:
            click.echo(f"{table.title}: none")


@click.command("stats")
@queue_options
@click.option("--since", default=DEFAULT_SINCE, show_default=True,
              help="Start of the window: RFC 3339 (2026-11-25T08:30:00Z) or back from now (7d, 24h, 30m, "
                   f"2w); at most {MAX_DAYS} days before --until.")
@click.option("--until", help="End of the window, RFC 3339 or back from now [default: now].")
@click.option("--node", help="Only events this node reported or joined.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON of GET /v1/stats instead of tables.")
def stats_cmd(queue_url: str, token: str | None, since: str, until: str | None, node: str | None,
              as_json: bool) -> None:
    """The trends of the events created in a window: failures per day by class, how they stand (healed,
    approved, closed, proposed, escalated, reverted, open), time to repair by class, top flaky tests and
    suspect commits, node health and notification failures."""
    try:
        parse_window(since, until, node)  # a bad value is named here, before any request
        with QueueClient(queue_url, token) as c:
            st = c.stats(since=since, until=until, node=node)
    except HealloopError as exc:
        raise click.ClickException(exc.message) from None
    if as_json:
        click.echo(json.dumps(st, ensure_ascii=False, indent=2))
    else:
        print_stats(st)


def register(cli: click.Group) -> None:
    cli.add_command(stats_cmd)
