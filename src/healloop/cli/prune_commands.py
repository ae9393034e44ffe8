"""``healloop prune``: remove old resolved events and the artifacts no event names any more.

It works on the queue's SQLite file beside a running ``healloop serve``, in short transactions
(``queue/prune.py``).
"""

from __future__ import annotations

from pathlib import Path

import click

from healloop.errors import HealloopError
from healloop.queue.prune import BATCH, PruneResult, parse_age, prune
from healloop.timeutil import US, now_us, to_rfc3339


@click.command("prune")
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="Remove events resolved longer ago than this: a whole number and h, d or w (90d, 12h, "
                   "2w). Under a day needs --force.")
@click.option("--dry-run", is_flag=True,
              help="Print what would be removed (counts and bytes); remove nothing.")
@click.option("--force", is_flag=True, help="Allow an --older-than under a day.")
@click.option("--db", default="data/events.db",
              show_default=True, envvar="HEALLOOP_DB", show_envvar=True,
              help="The queue's SQLite file or PostgreSQL URL (as given to `healloop serve --db`).")
@click.option("--artifacts-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="HEALLOOP_ARTIFACTS_DIR", show_envvar=True,
              help="The queue's artifacts folder (as given to `healloop serve --artifacts-dir`) "
                   "[default: 'artifacts' beside the SQLite file, or data/artifacts].")
@click.option("--artifacts", metavar="FOLDER|s3://BUCKET/PREFIX", envvar="HEALLOOP_ARTIFACT_STORE",
              show_envvar=True,
              help="The queue's artifacts as given to `healloop serve --artifacts`: a folder or an S3 bucket "
                   "and prefix (credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION).")
@click.option("--s3-endpoint", metavar="URL", envvar="HEALLOOP_S3_ENDPOINT", show_envvar=True,
              help="URL of the S3-compatible service for --artifacts s3://... (AWS S3 without one).")
@click.option("--batch", type=click.IntRange(1, 10_000), default=BATCH, show_default=True,
              help="Events removed per transaction.")
def prune_cmd(older_than: str, dry_run: bool, force: bool, db: str, artifacts_dir: Path | None,
              artifacts: str | None, s3_endpoint: str | None, batch: int) -> None:
    """Remove resolved events older than AGE with their history, notifications and other rows, then the
    artifacts no remaining event names. Queued, held, proposed and escalated events are never removed.
    Safe beside a running `healloop serve` on the same database."""
    from healloop.errors import ConfigError
    from healloop.queue.artifacts import open_store
    from healloop.queue.prune import Admin
    from healloop.queue.store.choose import db_target
    from healloop.queue.store.postgres import redact

    try:
        age_s = parse_age(older_than, force=force)
        if artifacts and artifacts_dir:
            raise ConfigError("give --artifacts or --artifacts-dir, not both", field="artifacts")
        target = db_target(db)
        admin: Admin
        if isinstance(target, Path):
            from healloop.queue.store.sqlite import SQLiteAdmin

            admin, default_dir, shown = SQLiteAdmin(target), target.parent / "artifacts", target
        else:
            from healloop.queue.store.postgres import PostgresAdmin

            admin, default_dir, shown = PostgresAdmin(target), Path("data") / "artifacts", redact(target)
        try:
            blobs = open_store(artifacts or (str(artifacts_dir) if artifacts_dir else None),
                               default_dir, 0, s3_endpoint=s3_endpoint)
            result = prune(admin, blobs, before=now_us() - age_s * US, dry_run=dry_run, batch=batch)
        finally:
            admin.close()
    except HealloopError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(summary(result, shown))


def summary(r: PruneResult, db: Path | str) -> str:
    rows = r.rows
    verb = "would remove" if r.dry_run else "removed"
    text = (f"{db}: {verb} {rows['events']:,} events resolved before {to_rfc3339(r.before)}, with "
            f"{rows['history']:,} history rows, {rows['notifications']:,} notifications, "
            f"{rows['event_nodes']:,} joined nodes, {rows['idempotency_keys']:,} idempotency keys and "
            f"{rows['actions']:,} actions; {r.tests['test_runs']:,} test run records and "
            f"{r.tests['quarantines']:,} ended quarantines older than that; {r.artifacts:,} artifacts "
            f"({_size(r.artifact_bytes)})")
    if r.dry_run:
        return text + "; nothing removed (dry run)"
    return text + f"; in {r.seconds:.1f} s, {r.batches} batches"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    size = float(n)
    for unit in ("KiB", "MiB"):
        size /= 1024
        if size < 1024:
            return f"{size:,.1f} {unit}"
    return f"{size / 1024:,.1f} GiB"


def register(cli: click.Group) -> None:
    cli.add_command(prune_cmd)
