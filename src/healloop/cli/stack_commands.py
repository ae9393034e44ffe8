"""``healloop init``, ``healloop up`` and ``healloop demo``: one machine's whole stack from one file."""

from __future__ import annotations

import json
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from healloop.errors import HealloopError
from healloop.extras import require

if TYPE_CHECKING:
    from healloop.stack import StackSettings

_console = Console(width=None if sys.stdout.isatty() else 200)


def _fail(exc: HealloopError) -> None:
    raise click.ClickException(exc.message)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop_on_sigterm() -> None:
    """SIGTERM (a service manager, `kill`) and SIGHUP (the terminal closed) stop the stack the way
    Ctrl-C does, children included. SIGINT too, set here because a process started in the background
    of a non-interactive shell (`cmd &` in a script) inherits SIGINT ignored, and Python then installs
    no handler of its own: Ctrl-C, or `kill -INT`, would do nothing."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)


def _stopping() -> None:
    """A second Ctrl-C (or the terminal closing) must not cut the ordered stop short."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


@click.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing healloop.toml.")
@click.option("--dry-run", is_flag=True, help="Print what init detects and would write; write nothing.")
@click.option("--vscode", is_flag=True,
              help="Write only .vscode/mcp.json: the queue's MCP server and this machine's tool node for VS "
                   "Code's agent mode, merged into the file when it exists.")
@click.option("--queue", "queue_url", envvar="HEALLOOP_URL", show_envvar=True, metavar="URL",
              help="With --vscode: the queue [default: healloop.toml's [queue], else http://127.0.0.1:8787].")
@click.option("--node-url", metavar="URL",
              help="With --vscode: this machine's tool node [default: healloop.toml's [mcp], else "
                   "http://127.0.0.1:8788/mcp].")
@click.pass_context
def init_cmd(ctx: click.Context, force: bool, dry_run: bool, vscode: bool, queue_url: str | None,
             node_url: str | None) -> None:
    """Write a commented healloop.toml for this folder's project and add .healloop/ to .gitignore.

    Detects the suite (Cypress, Playwright, pytest; in subfolders and monorepo packages too), the
    project's own Python or node_modules, and the app's start command, and says why for each.

    With --vscode, writes .vscode/mcp.json instead (healloop.toml is only read, for the addresses)."""
    try:
        if vscode:
            if force:
                raise HealloopError("--vscode never overwrites: it adds or updates healloop's entries of "
                                    ".vscode/mcp.json and keeps the rest; run `healloop init --force` on its "
                                    "own to rewrite healloop.toml")
            from healloop.vscodeconfig import init_vscode

            lines = init_vscode(Path.cwd(), queue_url=queue_url, node_url=node_url, argv0=sys.argv[0],
                                dry_run=dry_run)
        else:
            flags = [f for f, name in (("--queue", "queue_url"), ("--node-url", "node_url"))
                     if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE]
            if flags:
                verb = "go" if len(flags) > 1 else "goes"
                raise HealloopError(f"{' and '.join(flags)} {verb} with --vscode (healloop init --vscode "
                                    f"{flags[0]} URL); healloop.toml's addresses are its [queue] and [mcp] "
                                    "tables")
            from healloop.initconfig import init_project

            lines = init_project(Path.cwd(), force=force, dry_run=dry_run)
    except HealloopError as exc:
        _fail(exc)
    for line in lines:
        click.echo(line)


def _events_table(events: list[dict[str, Any]], url: str, services: dict[str, str] | None = None) -> Table:
    counts: dict[str, int] = {}
    for e in events:
        counts[e["status"]] = counts.get(e["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no events yet"
    table = Table("id", "status", "attempt", "node", "test / message", "updated",
                  title=f"healloop queue {url}  ({summary}; Ctrl-C stops)")
    for e in events:
        what = f"{e['spec']} > {e['test']}" if e["kind"] == "test_failure" else e["message"]
        table.add_row(e["id"], e["status"], str(e["attempt"]), ",".join(e["nodes"]), what[:70],
                      e["updated_at"])
    if services:
        table.caption = "services: " + ", ".join(f"{n} {state}" for n, state in services.items())
    return table


def _parts(settings: StackSettings) -> list[str]:
    """The extras the parts `healloop up` starts on this machine need."""
    return [*([] if settings.join else ["queue"]), "node", *(["agent"] if settings.agent else [])]


@click.command("up")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default="healloop.toml", show_default=True, envvar="HEALLOOP_CONFIG", show_envvar=True,
              help="healloop.toml ([queue], [mcp], [agent] and the [node] tables).")
@click.option("--refresh", type=click.FloatRange(0.1, 60), default=1.0, show_default=True,
              help="Seconds between updates of the events table.")
def up_cmd(config_path: Path, refresh: float) -> None:
    """Run everything this machine needs: the queue, the services marked autostart, this machine's
    tool node and one agent; Ctrl-C stops them all, services included.

    On the other machines of a team, `[queue] url` joins the team's queue instead of starting one and
    `[agent] enabled = false` leaves the agents to other machines."""
    from healloop.stack import Stack, load_settings

    _stop_on_sigterm()
    try:
        settings = load_settings(config_path)
        # Each part runs as a subprocess of its own; a missing extra is named here, before any starts.
        require(*_parts(settings), command="healloop up")
        stack = Stack(settings, say=click.echo).start()
    except HealloopError as exc:
        _fail(exc)
    settings = stack.settings
    joined = " (joined)" if settings.join else ""
    agent = "" if settings.agent else "; no agent on this machine"
    click.echo(f"healloop up: queue {stack.queue_url}{joined}, node {stack.node_url}{agent}, "
               f"logs in {stack.log_dir}", err=False)
    try:
        env = stack.reporter_env()
    except HealloopError as exc:  # the node started on this file, so this is rare
        env = {"HEALLOOP_URL": stack.queue_url}
        click.echo(f"healloop up: {exc.message}", err=True)
    shown = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k != "HEALLOOP_TOKEN")
    if stack.reporter_token_file.is_file():  # made by this start for the reporters (see Stack._make_tokens)
        shown += f" HEALLOOP_TOKEN=$(cat {shlex.quote(str(stack.reporter_token_file))})"
    elif "HEALLOOP_TOKEN" in env:
        shown += " HEALLOOP_TOKEN=..."
    click.echo(f"run your suite with: {shown}")
    sys.stdout.flush()
    try:
        with stack.client() as q, Live(_events_table([], stack.queue_url), console=_console,
                                       refresh_per_second=4) as live:
            while True:
                try:
                    events = q.get("/v1/events", params={"limit": 20}).json()["events"]
                except httpx.HTTPError:
                    events = []
                for name, proc in stack.procs.items():
                    if proc.poll() is not None:
                        raise click.ClickException(f"the {name} exited with code {proc.returncode}; "
                                                   f"see {stack.log(name)}")
                live.update(_events_table(events, stack.queue_url, stack.service_status()))
                time.sleep(refresh)
    except KeyboardInterrupt:
        _stopping()
        click.echo("stopping agent, node, services and queue ...")
    finally:
        _stopping()
        stack.stop()
    click.echo("stopped")


@click.command("demo")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Empty folder for the demo's repository and data [default: a new temporary folder].")
@click.option("--keep", is_flag=True, help="Keep the work folder afterwards (always kept with --workdir).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON instead of a table.")
def demo_cmd(workdir: Path | None, keep: bool, as_json: bool) -> None:
    """Break the sample shop four ways and watch healloop repair or escalate each; exit 1 if any differs."""
    require("queue", "node", "agent", command="healloop demo")
    import shutil

    from healloop.demo import outcomes_json, run_demo

    _stop_on_sigterm()
    folder = workdir or Path(tempfile.mkdtemp(prefix="healloop-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    say = (lambda m: click.echo(m, err=True)) if as_json else click.echo
    try:
        outcomes, demo = run_demo(folder, log=say)
    except HealloopError as exc:
        _fail(exc)
    finally:
        if workdir is None and not keep:
            shutil.rmtree(folder, ignore_errors=True)
    if as_json:
        click.echo(outcomes_json(outcomes))
    else:
        table = Table("scenario", "expected", "got", "seconds", "event", "ok", title="healloop demo")
        for o in outcomes:
            seconds = f"{o.seconds:.1f}" if o.seconds is not None else "-"
            table.add_row(o.scenario, o.expected, o.got, seconds, ", ".join(o.event_ids) or "-",
                          "yes" if o.ok else "NO")
        _console.print(table)
        if workdir is not None or keep:
            click.echo(f"the demo's repository and logs are in {folder}")
    rss = {k: f"{v / 2**20:.0f} MiB" for k, v in demo.peak_rss.items() if v}
    say(f"peak memory: {json.dumps(rss)}")
    if not all(o.ok for o in outcomes):
        sys.exit(1)


def register(cli: click.Group) -> None:
    for command in (init_cmd, up_cmd, demo_cmd):
        cli.add_command(command)
