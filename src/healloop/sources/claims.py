"""Who holds a spool claim, and whether that holder is gone (spool format 1, docs/sources.md).

A claim is named ``<name>.json.sending-<pid>-<start>``: the flusher's pid and its start time (clock ticks
since boot, field 22 of ``/proc/<pid>/stat``). A pid alone is not a process: once the flusher died, a
new unrelated process may get its pid, and the claim would look held for ever. Where ``/proc`` is
missing (macOS), and for the older ``.sending-<pid>`` claims, the name carries the pid only; such a
claim whose pid is alive is judged by its age instead. The JavaScript core (``integrations/core``)
names and judges claims the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

# A claim whose holder cannot be verified is taken back after this long: delivering one entry takes
# seconds (at most a few 20 MB uploads), so a live flusher never holds one near this long.
STALE_AFTER_S = 3600.0


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot; None where /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 and fields[19].isdigit() else None


def holder() -> str:
    """This process, as a claim names it: ``<pid>-<start>``, or ``<pid>`` where /proc is missing."""
    pid = os.getpid()
    start = start_time(pid)
    return f"{pid}-{start}" if start else str(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def is_stale(held_by: str, age_s: float) -> bool:
    """Whether the claim's holder (``<pid>`` or ``<pid>-<start>``) is gone, ``age_s`` after the claim.
    A name that is neither is no claim of ours: never taken."""
    pid_text, _, start = held_by.partition("-")
    if not pid_text.isdigit() or (start and not start.isdigit()):
        return False
    pid = int(pid_text)
    if pid <= 0 or not _alive(pid):
        return True
    now_start = start_time(pid) if start else None
    if now_start is not None:
        return now_start != start  # the pid was reused by another process
    return age_s > STALE_AFTER_S
