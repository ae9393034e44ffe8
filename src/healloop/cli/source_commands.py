"""Commands of the event sources: ``healloop report FILE...|--flush`` and ``healloop run -- CMD``."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import click

from healloop.errors import HealloopError
from healloop.sources.junit import parse_junit
from healloop.sources.reporter import OFF_NOTICE, Reporter
from healloop.sources.settings import SourceSettings


def _source_options(fn: Any) -> Any:
    for opt in reversed([
        click.option("--queue", "queue_url", envvar="HEALLOOP_URL", show_envvar=True,
                     help="The queue's URL  [default: http://127.0.0.1:8787]"),
        click.option("--token", envvar="HEALLOOP_TOKEN", show_envvar=True, help="Bearer token of the queue."),
        click.option("--node", envvar="HEALLOOP_NODE", show_envvar=True,
                     help="This machine's name in reports  [default: the host name]"),
        click.option("--spool", "spool_dir", envvar="HEALLOOP_SPOOL", show_envvar=True,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Where undelivered reports wait  [default: ~/.local/state/healloop/spool]"),
        click.option("--artifacts", "artifacts_dir", envvar="HEALLOOP_ARTIFACTS", show_envvar=True,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="The tool node's artifacts folder: attachments are copied there and "
                          "reported relative to it  [default: none, only uploaded]"),
    ]):
        fn = opt(fn)
    return fn


def _reporter(queue_url: str | None, token: str | None, node: str | None,
              spool_dir: Path | None, artifacts_dir: Path | None) -> Reporter:
    try:
        settings = SourceSettings.load(url=queue_url, token=token, node=node, spool_dir=spool_dir,
                                       artifacts_dir=artifacts_dir)
    except HealloopError as exc:
        raise click.UsageError(exc.message) from exc
    return Reporter(settings)


def _node_artifacts(config: Path | None) -> Path | None:
    """``[node] artifacts`` of healloop.toml (``--config``, else the working folder's, if any)."""
    from healloop.node.config import artifacts_folder

    path = config or Path("healloop.toml")
    if config is None and not path.is_file():
        return None
    try:
        return artifacts_folder(path)
    except HealloopError as exc:
        raise click.UsageError(f"{exc.message} (reading the node's artifacts folder for the suite's "
                               "reporters; pass --artifacts DIR to name it yourself)") from exc


_SAID = {"off": "not sent"}


def _summary(counts: dict[str, int]) -> str:
    parts = [f"{n} {_SAID.get(what, what)}" for what, n in sorted(counts.items()) if n]
    return ", ".join(parts) or "nothing to send"


@click.command("report")
@_source_options
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--source", help="Source name on the reports  [default: the tool that wrote the file]")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path),
              help="Spec paths are made relative to this folder  [default: the working folder]")
@click.option("--flush", is_flag=True, help="Also deliver the reports waiting in the spool.")
def report(files: tuple[Path, ...], source: str | None, root: Path | None, flush: bool,
           queue_url: str | None, token: str | None, node: str | None, spool_dir: Path | None,
           artifacts_dir: Path | None) -> None:
    """Report the failures in JUnit XML FILEs (mocha-junit-reporter, Playwright, pytest, jest-junit).

    Reporting the same file again sends nothing new: each report's idempotency key is built from
    the file's digest. When the queue cannot be reached the reports are spooled, and delivered by
    the next run or by --flush.
    """
    if not files and not flush:
        raise click.UsageError("name one or more JUnit XML files, or --flush")
    reporter = _reporter(queue_url, token, node, spool_dir, artifacts_dir)
    if reporter.off:
        click.echo(f"healloop: {OFF_NOTICE}")
    root = (root or Path.cwd()).resolve()
    bad = 0
    try:
        for path in files:
            passed: list[tuple[str, str]] = []
            try:
                failures = parse_junit(path, source=source, root_dir=root, passed=passed)
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except HealloopError as exc:
                click.echo(f"error: {exc.message}", err=True)
                bad += 1
                continue
            counts: dict[str, int] = {}
            before = dict(reporter.counts)
            for failure in failures:
                outcome = reporter.send(failure, run_id=f"file:{digest}")
                counts[outcome.status] = counts.get(outcome.status, 0) + 1
            # One run per file, named by its digest: reporting the file again counts nothing twice.
            reporter.send_runs(passed, source=source or "junit", run_id=f"file:{digest}")
            got = {k: n - before.get(k, 0) for k, n in reporter.counts.items()}
            sent = ("refused" if got.get("runs_rejected") else "kept in the spool" if got.get("runs_spooled")
                    else "recorded")
            passes = f"; {len(passed)} passing test(s) {sent}" if passed and not reporter.off else ""
            quarantined = got.get("quarantined", 0)
            marked = f"; {quarantined} of them quarantined (reported, not healed)" if quarantined else ""
            click.echo(f"{path}: {len(failures)} failing test(s): {_summary(counts)}{marked}{passes}")
        if flush:
            done = reporter.flush()
            left = len(reporter.spool.pending())
            said = "not flushed (reporting is off)" if reporter.off else _summary(dict(done))
            click.echo(f"spool {reporter.spool.dir}: {said}; {left} waiting")
    finally:
        reporter.close()
    for message in reporter.refused_artifacts:
        click.echo(f"error: {message}", err=True)
    if bad or reporter.counts["rejected"] or reporter.counts["lost"]:
        sys.exit(1)


@click.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@_source_options
@click.option("--results", multiple=True, metavar="GLOB",
              help="JUnit XML files the suite writes (repeatable)  "
                   "[default: any *.xml under the working folder written during the run]")
@click.option("--source", help="Source name on the reports  [default: the tool that wrote the file]")
@click.option("--config", "config_path", envvar="HEALLOOP_CONFIG", show_envvar=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="healloop.toml whose [node] artifacts folder the suite's reporters write into, "
                   "unless --artifacts names one  [default: ./healloop.toml if there is one]")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(command: tuple[str, ...], results: tuple[str, ...], source: str | None, config_path: Path | None,
        queue_url: str | None, token: str | None, node: str | None, spool_dir: Path | None,
        artifacts_dir: Path | None) -> None:
    """Run a test COMMAND (after --), report its failures, exit with the suite's own exit code.

    The suite gets HEALLOOP_ARTIFACTS (from --artifacts, or the node's [node] artifacts in
    healloop.toml), so its reporters write screenshots and DOM snapshots where this machine's tool
    node reads them.

    Example: healloop run -- npx cypress run --reporter mocha-junit-reporter
    """
    from healloop.sources.wrapper import run_and_report

    reporter = _reporter(queue_url, token, node, spool_dir, artifacts_dir or _node_artifacts(config_path))
    try:
        code = run_and_report(command, reporter, results=results, source=source)
    except HealloopError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(127)
    if reporter.off:
        # On stderr: the suite's own output is on stdout, and may be read by whoever ran it.
        click.echo(f"healloop: {OFF_NOTICE}", err=True)
    sys.exit(code)


def register(cli: click.Group) -> None:
    cli.add_command(report)
    cli.add_command(run)
