"""Start-up time of the `healloop` command, which every CI job's `healloop report` pays.

Method: N fresh interpreters each run `healloop --help` (the CLI with every command registered, as a
CI machine starts it); the baseline in the same run is the same plus importing the agent
(healloop.agent.worker: MCP, lxml, html5lib), which is what `--help` loaded before `healloop agent`
imported it lazily. Prints medians and their ratio.
Run: .venv/bin/python bench/cli_startup.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

HELP = "import sys; from healloop.cli.main import main; sys.argv = ['healloop', '--help']; main()"
EAGER = "import healloop.agent.worker; " + HELP


def median_s(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"failed: {done.stderr.decode()[-500:]}")
    return statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    lazy = median_s(HELP, runs)
    eager = median_s(EAGER, runs)
    print(f"healloop --help, {runs} fresh interpreters each (median wall time)")
    print(f"  lazy (now):                    {lazy * 1000:7.0f} ms")
    print(f"  agent imported (before):       {eager * 1000:7.0f} ms")
    print(f"  ratio before/now:              {eager / lazy:7.2f}")


if __name__ == "__main__":
    main()
