"""``healloop doctor``: check one machine's whole setup and say what to fix, one finding a line.

Each check is a small function registered with ``@check`` in ``CHECKS``, in the order they run; it
returns findings (``ok``, ``warn`` or ``fail``, with a fix for the last two). A check whose
prerequisite failed (no valid config, no runner, no git repository) is not run; a ``skip`` line says
why. ``fail`` means the loop cannot work (``healloop up`` stops, reruns cannot run, agents cannot
commit); ``warn`` means it works worse.

Nothing is written, started or stopped: the suite is only collected (pytest's cache and bytecode
off), services and the queue are only asked, git runs with ``GIT_OPTIONAL_LOCKS=0`` so not even the
index is refreshed, and a folder not made yet is judged by its nearest existing parent.
"""

from __future__ import annotations

import importlib

from healloop.doctor.core import (
    CHECKS,
    Finding,
    Setup,
    as_json,
    blocks_the_loop,
    check,
    line,
    run_checks,
    summary,
)

__all__ = ["CHECKS", "Finding", "Setup", "as_json", "blocks_the_loop", "check", "line", "run_checks",
           "summary"]

# Each module registers its checks with @check when imported; this is the order they run in.
CHECK_MODULES = ("project", "machine", "git", "forge", "notify")
for _name in CHECK_MODULES:
    importlib.import_module(f"healloop.doctor.{_name}")
