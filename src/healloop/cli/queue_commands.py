"""Commands for the event queue: ``healloop serve`` and ``healloop events list|show|requeue|close``."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from healloop.client import QueueClient
from healloop.errors import HealloopError
from healloop.extras import require
from healloop.queue.rules import STATES, QueuePolicy

# Piped output keeps whole lines, so ids and states survive grep and cut.
_console = Console(width=None if sys.stdout.isatty() else 200)


def node_host_option(fn: Any) -> Any:
    """``--node-host``: the hosts beyond loopback whose registered node URLs get the node token, for the
    agent and for a person's commands that reach a node (approve, reject, revert, forge sync)."""
    def checked(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
        from healloop.agent.nodetrust import check_pattern

        try:
            return tuple(check_pattern(h) for h in value)
        except HealloopError as exc:
            raise click.BadParameter(exc.message) from None

    return click.option(
        "--node-host", "node_hosts", multiple=True, envvar="HEALLOOP_AGENT_NODE_HOSTS", show_envvar=True,
        callback=checked,
        help="A host whose registered node URLs get the node token, beyond loopback: a name "
        "(ci-3.internal), a wildcard (*.ci.internal), an address or a network (10.0.0.0/24); repeat for "
        "more. A node registered on any other host is not contacted.")(fn)


@click.command()
@click.option("--db", envvar="HEALLOOP_DB", show_envvar=True,
              help="Where every event and its history is kept: an SQLite file, or a PostgreSQL URL "
                   "(postgresql://user@host/dbname) that several servers may share [default: "
                   "[queue] db of --config, else data/events.db].")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="HEALLOOP_HOST",
              show_envvar=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              envvar="HEALLOOP_PORT", show_envvar=True, help="Port (0 picks a free one).")
@click.option("--token", envvar="HEALLOOP_TOKEN", show_envvar=True,
              help="An admin token: with it (or any role token, see `healloop token`), every /v1 route "
                   "needs 'Authorization: Bearer TOKEN'.")
@click.option("--max-attempts", type=click.IntRange(1, 20), default=3, show_default=True,
              envvar="HEALLOOP_MAX_ATTEMPTS", show_envvar=True,
              help="Repair attempts per event before the agent must escalate.")
@click.option("--flap-threshold", type=click.IntRange(1, 1000), default=3, show_default=True,
              envvar="HEALLOOP_FLAP_THRESHOLD", show_envvar=True,
              help="Resolutions of one failure within the window that make it flapping.")
@click.option("--flap-window", type=click.IntRange(1, 7 * 86400), default=3600, show_default=True,
              envvar="HEALLOOP_FLAP_WINDOW", show_envvar=True, help="Flapping window in seconds.")
@click.option("--cooldown", type=click.IntRange(0, 7 * 86400), default=600, show_default=True,
              envvar="HEALLOOP_COOLDOWN", show_envvar=True,
              help="Seconds after a repair of a failure during which a new failure of it is escalated "
                   "instead of repaired again (0: off).")
@click.option("--actions-per-hour-test", type=click.IntRange(0, 100_000), default=3, show_default=True,
              envvar="HEALLOOP_ACTIONS_PER_HOUR_TEST", show_envvar=True,
              help="Automatic fixes (moves to fixing) per spec and test within an hour; the next one is "
                   "refused and the agent escalates (0: no limit).")
@click.option("--actions-per-hour-node", type=click.IntRange(0, 100_000), default=20, show_default=True,
              envvar="HEALLOOP_ACTIONS_PER_HOUR_NODE", show_envvar=True,
              help="Automatic fixes per node within an hour, as the agent names the node it acts on "
                   "(0: no limit).")
@click.option("--proposal-ttl", type=click.IntRange(1, 90 * 86400), default=3 * 86400, show_default=True,
              envvar="HEALLOOP_PROPOSAL_TTL", show_envvar=True,
              help="Seconds a proposed fix waits for `healloop approve|reject` before it is escalated.")
@click.option("--quarantine-after", type=int, envvar="HEALLOOP_QUARANTINE_AFTER", show_envvar=True,
              help="Times healloop calls a test flaky within --quarantine-window that quarantine it: its "
                   "failures are kept, never handed to an agent (0: never automatically) [default: 3; "
                   "also [queue] quarantine_after].")
@click.option("--quarantine-window", envvar="HEALLOOP_QUARANTINE_WINDOW", show_envvar=True,
              help="The window of --quarantine-after, such as 7d or 12h [default: 7d].")
@click.option("--quarantine-for", envvar="HEALLOOP_QUARANTINE_FOR", show_envvar=True,
              help="How long an automatic quarantine lasts at most [default: 14d].")
@click.option("--release-after", type=int, envvar="HEALLOOP_RELEASE_AFTER", show_envvar=True,
              help="Clean runs, on at least two nodes, that end a quarantine early (0: never) "
                   "[default: 10].")
@click.option("--sync", "synchronous", type=click.Choice(["normal", "full"]), default="normal",
              show_default=True, envvar="HEALLOOP_SQLITE_SYNC", show_envvar=True,
              help="SQLite synchronous mode: 'normal' survives a crash or kill -9 of the server; "
                   "'full' also survives power loss, at a cost in speed.")
@click.option("--artifacts-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="HEALLOOP_ARTIFACTS_DIR", show_envvar=True,
              help="Where uploaded screenshots, DOM snapshots and logs are kept "
                   "[default: 'artifacts' beside the database].")
@click.option("--artifacts", "artifacts", metavar="FOLDER|s3://BUCKET/PREFIX",
              envvar="HEALLOOP_ARTIFACT_STORE", show_envvar=True,
              help="Where uploaded artifacts are kept: a folder, or an S3-compatible bucket and prefix "
                   "(credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). Also "
                   "[queue] artifacts in --config [default: --artifacts-dir].")
@click.option("--s3-endpoint", envvar="HEALLOOP_S3_ENDPOINT", show_envvar=True, metavar="URL",
              help="URL of the S3-compatible service (MinIO, Ceph RGW) for --artifacts s3://...; AWS S3 "
                   "without one. Also [queue] s3_endpoint in --config.")
@click.option("--max-artifact-mb", type=click.IntRange(1, 1024), default=20, show_default=True,
              envvar="HEALLOOP_MAX_ARTIFACT_MB", show_envvar=True,
              help="Largest artifact file accepted, in MiB.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="HEALLOOP_CONFIG", show_envvar=True,
              help="healloop.toml whose [notify.*] channels the queue tells of outcomes "
                   "(with [queue] public_url, storm_events, storm_minutes), and whose "
                   "[queue.tokens.NAME] tables declare role tokens.")
@click.option("--forge-secret", envvar="HEALLOOP_FORGE_SECRET", show_envvar=True,
              help="The secret set on the GitHub, GitLab or Gitea webhook that posts to "
                   "/v1/ingest/github, /v1/ingest/gitlab or /v1/ingest/gitea: deliveries not signed with it "
                   "are refused (401), and with it those routes need no bearer token.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, envvar="HEALLOOP_ALLOWED_HOSTS",
              show_envvar=True,
              help="A host name machines use to reach the queue (repeat for more). Requests naming "
                   "any other name in their Host header are refused (DNS-rebinding protection); IP "
                   "addresses, localhost and the bound name (with --host 0.0.0.0, this machine's "
                   "names) are always accepted. Also [queue] allowed_hosts in --config.")
@click.option("--cors-origin", "cors_origins", multiple=True, envvar="HEALLOOP_CORS_ORIGINS",
              show_envvar=True,
              help="A web origin (https://dashboard.example) whose pages may call the API; CORS is off "
                   "without one. Also [queue] cors_origins in --config.")
@click.option("--node-token", envvar="HEALLOOP_AGENT_NODE_TOKEN", show_envvar=True,
              help="Bearer token of the tool nodes, for the dashboard's approve, reject and revert buttons "
                   "(which reach the node as `healloop approve` does).")
@node_host_option
def serve(db: str | None, host: str, port: int, token: str | None, max_attempts: int,
          flap_threshold: int, flap_window: int, cooldown: int, actions_per_hour_test: int,
          actions_per_hour_node: int, proposal_ttl: int, synchronous: str,
          artifacts_dir: Path | None, artifacts: str | None, s3_endpoint: str | None,
          max_artifact_mb: int, config_path: Path | None,
          forge_secret: str | None, allowed_hosts: tuple[str, ...], cors_origins: tuple[str, ...],
          node_token: str | None, node_hosts: tuple[str, ...],
          quarantine_after: int | None, quarantine_window: str | None, quarantine_for: str | None,
          release_after: int | None) -> None:
    """Run the event queue (HTTP API v1, docs at /docs) on an SQLite file or PostgreSQL."""
    require("queue", command="healloop serve")
    from healloop.notify.outbox import settings_from
    from healloop.queue import quarantine
    from healloop.queue.guard import check_host_name, check_origin, from_config
    from healloop.queue.server import ServeSettings
    from healloop.queue.server import serve as run_server
    from healloop.queue.store.choose import db_target
    from healloop.queue.tokenconfig import declared_tokens

    try:
        target = db_target(db or _queue_db(config_path))
        given = {"quarantine_after": quarantine_after, "quarantine_window": quarantine_window,
                 "quarantine_for": quarantine_for, "release_after": release_after}
        policy = QueuePolicy(max_attempts=max_attempts, flap_threshold=flap_threshold,
                             flap_window_s=flap_window, proposal_ttl_s=proposal_ttl, cooldown_s=cooldown,
                             actions_per_hour_test=actions_per_hour_test,
                             actions_per_hour_node=actions_per_hour_node,
                             **quarantine.settings(_queue_table(config_path), given))
        notify = settings_from(config_path) if config_path else None
        hosts = tuple(check_host_name(h) for h in allowed_hosts)
        origins = tuple(check_origin(o) for o in cors_origins)
        if config_path:
            more_hosts, more_origins = from_config(config_path)
            hosts, origins = hosts + more_hosts, origins + more_origins
        tokens = declared_tokens(config_path) if config_path else ()
        artifacts, s3_endpoint = _artifact_settings(_queue_table(config_path), artifacts, s3_endpoint,
                                                    artifacts_dir)
    except HealloopError as exc:
        _fail(exc)
    run_server(ServeSettings(db=target, host=host, port=port, token=token or None, policy=policy,
                             synchronous=synchronous, artifacts_dir=artifacts_dir, artifacts=artifacts,
                             s3_endpoint=s3_endpoint,
                             max_artifact_mb=max_artifact_mb, notify=notify,
                             forge_secret=forge_secret or None, allowed_hosts=hosts,
                             cors_origins=origins, tokens=tokens, node_token=node_token or None,
                             node_hosts=node_hosts))


def _artifact_settings(table: dict[str, Any], artifacts: str | None, s3_endpoint: str | None,
                       artifacts_dir: Path | None) -> tuple[str | None, str | None]:
    """--artifacts and --s3-endpoint, else [queue] artifacts and s3_endpoint of healloop.toml."""
    from healloop.errors import ConfigError

    if artifacts and artifacts_dir:
        raise ConfigError("give --artifacts or --artifacts-dir, not both (--artifacts takes a folder too)",
                          field="artifacts")
    for key in ("artifacts", "s3_endpoint"):
        if key in table and not isinstance(table[key], str):
            raise ConfigError(f"[queue] {key} must be a string, got {table[key]!r}", field=key)
    for key in ("aws_access_key_id", "aws_secret_access_key", "s3_secret_key", "s3_access_key"):
        if key in table:
            raise ConfigError(f"[queue] {key}: credentials are not read from healloop.toml; set "
                              "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment of "
                              "`healloop serve`", field=key)
    if not artifacts and not artifacts_dir:
        artifacts = table.get("artifacts") or None
    return artifacts, s3_endpoint or table.get("s3_endpoint") or None


def _queue_db(path: Path | None) -> str:
    """``[queue] db`` of the config file, else the default SQLite file."""
    from healloop.errors import ConfigError

    value = _queue_table(path).get("db", "data/events.db")
    if not isinstance(value, str) or not value:
        raise ConfigError(f"[queue] db in {path} must be a non-empty string (an SQLite file or a "
                          "postgresql:// URL)", field="db")
    return value


def _queue_table(path: Path | None) -> dict[str, Any]:
    import tomllib

    from healloop.errors import ConfigError

    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh).get("queue", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {str(path)!r}: {exc}", field="config") from None
    return table if isinstance(table, dict) else {}


def queue_options(fn: Any) -> Any:
    fn = click.option("--token", envvar="HEALLOOP_TOKEN", show_envvar=True,
                      help="Bearer token of the queue.")(fn)
    fn = click.option("--queue", "queue_url", default="http://127.0.0.1:8787", show_default=True,
                      envvar="HEALLOOP_URL", show_envvar=True, help="The queue's URL.")(fn)
    return fn


def _client(queue_url: str, token: str | None) -> QueueClient:
    return QueueClient(queue_url, token)


def _fail(exc: HealloopError) -> None:
    raise click.ClickException(exc.message)


@click.group()
def events() -> None:
    """Look at and act on the events of a running queue."""


@events.command("list")
@queue_options
@click.option("--status", type=click.Choice(STATES), help="Only events in this state.")
@click.option("--node", help="Only events reported by this node.")
@click.option("--fingerprint", help="Only events of this fingerprint.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(queue_url: str, token: str | None, status: str | None, node: str | None,
             fingerprint: str | None, limit: int, as_json: bool) -> None:
    """List events, newest first."""
    try:
        with _client(queue_url, token) as c:
            rows = c.list(status=status, node=node, fingerprint=fingerprint, limit=limit)
    except HealloopError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("id", "status", "count", "attempt", "pri", "nodes", "test / message", "updated")
    for col in table.columns[:6]:
        col.no_wrap = True
    for e in rows:
        what = f"{e['spec']} > {e['test']}" if e["kind"] == "test_failure" else e["message"]
        table.add_row(e["id"], e["status"], str(e["count"]), str(e["attempt"]), str(e["priority"]),
                      ",".join(e["nodes"]), what[:80], e["updated_at"])
    _console.print(table)
    if not rows:
        click.echo("no events")


@events.command("show")
@queue_options
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def show_cmd(queue_url: str, token: str | None, event_id: str, as_json: bool) -> None:
    """Show one event with its history."""
    try:
        with _client(queue_url, token) as c:
            e = c.get(event_id)
    except HealloopError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(e, ensure_ascii=False, indent=2))
        return
    head = Table.grid(padding=(0, 2))
    for key in ("id", "status", "kind", "count", "nodes", "attempt", "priority", "source", "spec",
                "test", "message", "fingerprint", "created_at", "resolved_at", "worker"):
        value = e.get(key)
        if value not in (None, [], ""):
            head.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    _console.print(head)
    hist = Table("at", "from", "to", "worker", "note", title="history")
    for h in e["history"]:
        hist.add_row(h["at"], h["from"] or "", h["to"], h["worker"] or "", h["note"] or "")
    _console.print(hist)


def _operator_command(name: str, doc: str) -> None:
    @events.command(name, help=doc)
    @queue_options
    @click.argument("event_id")
    @click.option("--note", help="Why: kept in the event's history.")
    def cmd(queue_url: str, token: str | None, event_id: str, note: str | None) -> None:
        try:
            with _client(queue_url, token) as c:
                e = c.requeue(event_id, note) if name == "requeue" else c.close_event(event_id, note)
        except HealloopError as exc:
            _fail(exc)
        click.echo(f"{e['id']} is now {e['status']}")


_operator_command("requeue", "Requeue an escalated event with a fresh start (attempts back to 0).")
_operator_command("close", "Close an escalated event as resolved.")


def _through_node(queue_url: str, token: str | None,
                  work: Callable[[QueueClient], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Run a person's command that acts on a node and records it on the queue (revert, approve,
    reject); its errors become one line for the person."""
    import anyio

    try:
        with _client(queue_url, token) as q:
            return anyio.run(lambda: work(q))
    except HealloopError as exc:
        raise click.ClickException(exc.message) from None


@click.command("revert")
@queue_options
@click.argument("event_id")
@click.option("--reason", help="Why the fix is undone; shown on the event and in notifications.")
@click.option("--by", default=lambda: getpass.getuser(), show_default="your user name",
              help="Who undoes it, recorded on the event.")
@click.option("--node", help="The node that holds the fix [default: the event's node].")
@click.option("--node-token", envvar="HEALLOOP_AGENT_NODE_TOKEN", show_envvar=True,
              help="Bearer token of the tool node.")
@node_host_option
def revert_cmd(queue_url: str, token: str | None, event_id: str, reason: str | None, by: str,
               node: str | None, node_token: str | None, node_hosts: tuple[str, ...]) -> None:
    """Undo what healloop committed for EVENT_ID: revert its commit(s) through the node, push them
    under the node's policy, and escalate the event ("heal reverted by ...")."""
    require("agent", command="healloop revert")  # the node is reached as the agent reaches it, by MCP
    from healloop.undo import revert_fix

    done = _through_node(queue_url, token, lambda q: revert_fix(q, event_id, by=by, reason=reason, node=node,
                                                                node_token=node_token, node_hosts=node_hosts))
    pairs = ", ".join(f"{a[:10]} by {b[:10]}" for a, b in zip(reversed(done["reverted"]), done["reverts"],
                                                             strict=True))
    click.echo(f"reverted {pairs} on node {done['node']}"
               + (" and pushed" if done["pushed"] else "") + f"; {event_id} is escalated")


def _pull_request_line(pr: dict[str, Any]) -> str:
    """What became of the proposal's pull request and its pushed branch (the decision stands either way)."""
    if pr.get("number") is None:
        said = "no pull request was opened"
    elif pr.get("error"):
        said = f"pull request #{pr['number']} was not closed: {pr['error']}; close it by hand"
    else:
        said = str(pr.get("message") or f"pull request #{pr['number']}: {pr.get('state')}")
    remote = pr.get("remote_branch") or {}
    if remote.get("error"):
        said += f"; its branch was not deleted on the remote: {remote['error']}"
    elif remote.get("deleted"):
        said += f"; its branch was deleted on {remote.get('remote')}"
    return said


def _decision_command(name: str, approve: bool, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @queue_options
    @click.argument("event_id")
    @click.option("--reason", required=not approve,
                  help="Why; kept in the event's history and sent in notifications.")
    @click.option("--by", default=lambda: getpass.getuser(), show_default="your user name",
                  help="Who decides, recorded on the event.")
    @click.option("--node-token", envvar="HEALLOOP_AGENT_NODE_TOKEN", show_envvar=True,
                  help="Bearer token of the tool node that holds the proposal.")
    @node_host_option
    def cmd(queue_url: str, token: str | None, event_id: str, reason: str | None, by: str,
            node_token: str | None, node_hosts: tuple[str, ...]) -> None:
        require("agent", command=f"healloop {name}")  # the node is reached as the agent reaches it
        from healloop.approval import decide

        done = _through_node(queue_url, token, lambda q: decide(q, event_id, approve=approve, by=by,
                                                                reason=reason, node_token=node_token,
                                                                node_hosts=node_hosts))
        if "plan" in done:
            actions = ", ".join(_action_text(a) for a in done["plan"].get("actions") or []) or "a rerun"
            click.echo(f"plan {'approved' if approve else 'rejected'} ({actions} on node {done['node']}); "
                       + (f"{event_id} is back in the queue for an agent to carry it out" if approve
                          else f"{event_id} is escalated"))
        elif approve:
            landed = done["landed"]
            how = ("already landed" if landed.get("already_landed")
                   else "fast-forwarded" if landed.get("fast_forward") else "cherry-picked")
            click.echo(f"landed {done['branch']} on node {done['node']} ({how}, {done['commit'][:10]})"
                       + (" and pushed" if done.get("push") else "") + f"; {event_id} is resolved")
        else:
            gone = "deleted" if done["deleted"]["deleted"] else "already gone"
            click.echo(f"{done['branch']} on node {done['node']} {gone}; {event_id} is escalated")
        if done.get("pull_request"):
            click.echo(_pull_request_line(done["pull_request"]))

    return cmd


def _action_text(action: dict[str, Any]) -> str:
    args = action.get("args") or {}
    return f"{action.get('tool')}(" + ", ".join(f"{k}={v}" for k, v in args.items()) + ")"


approve_cmd = _decision_command(
    "approve", True, "Approve EVENT_ID's proposal. A fix made on a branch (an edit or a revert): land its "
    "healloop/ branch on the node's branch (fast-forward or cherry-pick), push it under the node's "
    "policy, and resolve the event. A planned restart or rerun: put the event back in the queue for an "
    "agent to carry out exactly that plan and verify it.")
reject_cmd = _decision_command(
    "reject", False, "Reject EVENT_ID's proposal: delete its healloop/ branch (if it has one) and escalate "
    "the event; agents never propose the same element for it again.")


def register(cli: click.Group) -> None:
    cli.add_command(serve)
    cli.add_command(events)
    cli.add_command(revert_cmd)
    cli.add_command(approve_cmd)
    cli.add_command(reject_cmd)
