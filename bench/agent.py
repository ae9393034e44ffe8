"""Seconds from report to resolved/escalated per failure class, and the agent's CPU and memory.

Builds the scratch workspace the agent tests use (a git repo with a tiny pytest suite and HTML app), a
real queue, a real node and one `healloop agent` process; reports one failure per class in turn.
Run: .venv/bin/python bench/agent.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# bench/ holds mcp.py, which would shadow the mcp SDK: replace the script's folder by the repo root.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
sys.path.insert(0, str(ROOT))

from tests.agent.conftest import make_workspace  # noqa: E402
from tests.support import QueueServer  # noqa: E402


def proc_stats(pid: int) -> tuple[float, int]:
    """CPU seconds (user+system) and peak RSS in KiB of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    hz = os.sysconf("SC_CLK_TCK")
    peak = next(int(ln.split()[1]) for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
                if ln.startswith("VmHWM"))
    return ticks / hz, peak


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        queue = QueueServer(root / "events.db").start()
        ws = make_workspace(root, queue)
        try:
            ws.start_node()
            agent = ws.start_agent()
            html = (ws.repo / "app/index.html").read_text()
            cases = [
                ("selector_not_found", lambda: ws.commit("rename", {"app/index.html": html.replace(
                    'data-cy="submit"', 'data-cy="submit-order"')}),
                 ("tests/test_ui.py", "test_submit"),
                 [{"name": "dom", "content_type": "text/html", "path": "dom/test_submit.html"}]),
                ("service_unreachable", lambda: None, ("tests/test_service.py", "test_health"), []),
                ("timeout (flaky)", lambda: None, ("tests/test_flaky.py", "test_eventually"), []),
                ("assertion_mismatch",
                 lambda: ws.commit("fee", {"app/pricing.py": "def total(p):\n    return sum(p) + 1\n"}),
                 ("tests/test_pricing.py", "test_total"), []),
            ]
            print(f"{'class':22} {'outcome':10} seconds")
            for name, prepare, (spec, test), artifacts in cases:
                prepare()
                started = time.monotonic()
                event_id = ws.report_failure(spec, test, artifacts=artifacts)
                event = ws.wait_final(event_id, timeout=120)
                print(f"{name:22} {event['status']:10} {time.monotonic() - started:.2f}")
            cpu, rss = proc_stats(agent.pid)
            print(f"agent process: {cpu:.2f} CPU s in total, peak RSS {rss / 1024:.1f} MiB")
        finally:
            ws.stop()
            queue.stop()


if __name__ == "__main__":
    main()
