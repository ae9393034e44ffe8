"""The demo's four scenarios, run N times on fresh stacks: how often healloop heals, whether it ever
heals falsely, how long report → final state takes per class, and the peak memory of each process.

    .venv/bin/python bench/heal.py [--runs 5] [--json]

A "false heal" is a weakened test (the checkout spec no longer asserts $30.00, or any spec changed in
the regression scenario) or a hidden regression (the wrong total resolved instead of escalated); it
must be 0. Healed share: the scenarios meant to be repaired (selector, restart, flaky) that ended
resolved as expected, over all of them. Seconds are from the event's creation (the report) to its
move to resolved or escalated, on the queue's clock; a scenario with several events counts its
slowest. Peak memory is VmHWM of each process just before it is stopped, the highest over the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from healloop.demo import run_demo


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    seconds: dict[str, list[float]] = {}
    healed = meant = false_heals = correct = total = 0
    peak: dict[str, int] = {}
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="healloop-bench-") as tmp:
            say = lambda m, n=i + 1: print(f"run {n}: {m}", file=sys.stderr)  # noqa: E731
            outcomes, demo = run_demo(Path(tmp), log=say)
        for o in outcomes:
            total += 1
            correct += o.ok
            false_heals += o.false_heal
            if o.cls != "assertion_mismatch":
                meant += 1
                healed += o.ok
            if o.seconds is not None:
                seconds.setdefault(o.cls, []).append(o.seconds)
        for part, rss in demo.peak_rss.items():
            if rss:
                peak[part] = max(peak.get(part, 0), rss)
    figures = {
        "runs": args.runs,
        "healed_share": round(healed / meant, 3) if meant else None,
        "outcomes_as_expected": f"{correct}/{total}",
        "false_heals": false_heals,
        "seconds": {c: {"median": round(statistics.median(v), 2), "p90": round(p90(v), 2), "n": len(v)}
                    for c, v in seconds.items()},
        "peak_rss_mib": {part: round(v / 2**20, 1) for part, v in peak.items()},
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"runs: {args.runs}; outcomes as expected: {figures['outcomes_as_expected']}")
    print(f"failures healed (selector, restart, flaky): {healed}/{meant} = {figures['healed_share']}")
    print(f"false heals (weakened test or hidden regression): {false_heals}")
    print(f"{'class':22} {'median s':>9} {'p90 s':>7}  n")
    for c, f in figures["seconds"].items():
        print(f"{c:22} {f['median']:>9.2f} {f['p90']:>7.2f}  {f['n']}")
    print("peak RSS: " + ", ".join(f"{p} {m} MiB" for p, m in figures["peak_rss_mib"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
