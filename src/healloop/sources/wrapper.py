"""``healloop run -- CMD``: run a suite, then report the failures in the JUnit XML it wrote.

The suite's exit code is the wrapper's; reporting problems are logged and never change it. Result
files are the ones named with ``--results`` or, by default, any ``*.xml`` under the working folder
written during the run whose root is ``<testsuites>``/``<testsuite>``. The suite gets the run id
(``HEALLOOP_RUN_ID``) and the artifacts folder (``HEALLOOP_ARTIFACTS``) of the wrapper's reporter, so
its own reporters (the pytest plugin, the JavaScript ones) send no duplicates and write their files
where the node reads them.
"""

from __future__ import annotations

import glob
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from healloop.errors import InvalidInput
from healloop.sources.junit import parse_junit
from healloop.sources.reporter import Reporter

log = logging.getLogger(__name__)
_SKIP_DIRS = {"node_modules", ".git", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache"}
MAX_SCANNED = 20000


def _fresh_xml(root: Path, since: float) -> Iterator[Path]:
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")]
        for name in filenames:
            seen += 1
            if seen > MAX_SCANNED:
                log.warning("stopped looking for result files after %d files; name them with --results",
                            MAX_SCANNED)
                return
            if name.endswith(".xml"):
                p = Path(dirpath, name)
                try:
                    if p.stat().st_mtime >= since:
                        yield p
                except OSError:
                    continue


def _looks_like_junit(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b"<testsuites" in head or b"<testsuite" in head


def result_files(patterns: Sequence[str], root: Path, since: float) -> list[Path]:
    if patterns:
        found = {Path(p) for pat in patterns for p in glob.glob(pat, root_dir=None, recursive=True)}
        return sorted(found)
    return sorted(p for p in _fresh_xml(root, since) if _looks_like_junit(p))


def run_and_report(command: Sequence[str], reporter: Reporter, *, results: Sequence[str] = (),
                   root: Path | None = None, source: str | None = None) -> int:
    root = root or Path.cwd()
    # File times have coarse resolution on some file systems; a second of slack keeps files the
    # suite wrote in its first instant.
    since = _now_fs(root) - 1.0
    env = dict(os.environ, HEALLOOP_RUN_ID=reporter.run_id)
    if reporter.settings.artifacts_dir is not None:
        # The suite's own reporters write where the node reads, into the same run folder as this one.
        env["HEALLOOP_ARTIFACTS"] = str(reporter.settings.artifacts_dir)
    try:
        proc = subprocess.Popen(list(command), env=env)
    except OSError as exc:
        raise InvalidInput(f"cannot start {command[0]!r}: {exc.strerror or exc}") from exc
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        code = proc.wait()
    if code < 0:
        code = 128 - code  # killed by a signal: the shell's convention
    # Off, nothing would be sent, so the result files need not even be read.
    passed: list[tuple[str, str]] = []
    for path in [] if reporter.off else result_files(results, root, since):
        try:
            failures = parse_junit(path, source=source, root_dir=root, passed=passed)
        except InvalidInput as exc:
            log.error("%s", exc.message)
            continue
        for failure in failures:
            reporter.send(failure)
    # Under the same run id as a pytest plugin in the suite, so the queue counts these passes once.
    reporter.send_runs(passed, source=source or "junit")
    reporter.finish()
    return code


def _now_fs(root: Path) -> float:
    """The file system's idea of now (it can differ from the clock on network mounts)."""
    probe = root / f".healloop-run-{os.getpid()}"
    try:
        probe.touch()
        return probe.stat().st_mtime
    except OSError:
        return time.time()
    finally:
        probe.unlink(missing_ok=True)
