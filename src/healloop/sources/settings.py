"""Where a source finds the queue: one typed settings object, from flags or ``HEALLOOP_*`` variables.

Read once when a source starts, validated there, so a bad value is named before any test runs.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from healloop.errors import ConfigError

DEFAULT_URL = "http://127.0.0.1:8787"
REPORT_ON = ("on", "1", "true", "yes")
REPORT_OFF = ("off", "0", "false", "no")


def default_spool_dir(env: Mapping[str, str]) -> Path:
    state = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "healloop" / "spool"


@dataclass(frozen=True)
class SourceSettings:
    url: str = DEFAULT_URL
    token: str | None = None
    node: str = ""
    spool_dir: Path = Path()
    # Total seconds one run may spend waiting on an unreachable queue before it only spools.
    budget_s: float = 5.0
    # Per request; short because a reporter must not slow the run it reports on.
    timeout_s: float = 5.0
    # HEALLOOP_REPORT=off: send and spool nothing, e.g. in a rerun whose result someone already reads.
    report: bool = True
    # HEALLOOP_ARTIFACTS: the tool node's artifacts folder on this machine (`[node] artifacts`), so the
    # node's read_artifact reads what was reported. Each run writes into its own subfolder there and
    # reports paths relative to the folder. None: a temporary folder, deleted at the end of the run.
    artifacts_dir: Path | None = None

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, *, url: str | None = None,
             token: str | None = None, node: str | None = None,
             spool_dir: str | Path | None = None,
             artifacts_dir: str | Path | None = None) -> SourceSettings:
        """Flags first, then ``HEALLOOP_URL``, ``HEALLOOP_TOKEN``, ``HEALLOOP_NODE``,
        ``HEALLOOP_SPOOL``, ``HEALLOOP_REPORT_BUDGET``, ``HEALLOOP_REPORT`` and
        ``HEALLOOP_ARTIFACTS``, then defaults."""
        env = os.environ if env is None else env
        url = url or env.get("HEALLOOP_URL") or DEFAULT_URL
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"the queue URL must start with http:// or https://, got {url!r}")
        budget_raw = env.get("HEALLOOP_REPORT_BUDGET", "5")
        try:
            budget = float(budget_raw)
        except ValueError:
            budget = -1.0
        if not 0 <= budget <= 300:
            raise ConfigError(
                f"HEALLOOP_REPORT_BUDGET must be a number of seconds from 0 to 300, got {budget_raw!r}")
        report_raw = env.get("HEALLOOP_REPORT", "")
        report = report_raw.strip().lower() or "on"
        if report not in REPORT_ON + REPORT_OFF:
            raise ConfigError(f"HEALLOOP_REPORT must be on or off (or 1/0, true/false, yes/no), "
                              f"got {report_raw!r}")
        spool = Path(spool_dir or env.get("HEALLOOP_SPOOL") or default_spool_dir(env)).expanduser()
        return cls(url=url.rstrip("/"), token=token or env.get("HEALLOOP_TOKEN") or None,
                   node=node or env.get("HEALLOOP_NODE") or socket.gethostname(),
                   spool_dir=spool, budget_s=budget,
                   report=report in REPORT_ON,
                   artifacts_dir=_artifacts_dir(artifacts_dir or env.get("HEALLOOP_ARTIFACTS")))


def _artifacts_dir(value: str | Path | None) -> Path | None:
    """Absolute, so a suite that changes its working folder still writes where the node reads; created
    when missing by the first run that has something to write (the node creates it too)."""
    if not value:
        return None
    folder = Path(value).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"HEALLOOP_ARTIFACTS must be a folder (the tool node's `node.artifacts`), "
                          f"got the file {str(folder)!r}")
    return folder
