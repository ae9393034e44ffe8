"""The selector healer on the healing corpus: precision, recall and false heals, per set, against the
healer healloop shipped before (November 2026, ``bench/baseline/selectors_nov2026.py``) in the same run.

    .venv/bin/python bench/heal_corpus.py [--set SET|all] [--misses] [--json]

Each case is healed from what a failure report carries (the spec, the failure message and stack, the
DOM snapshot at failure; never the page before the change) and judged by the element: a heal is
correct when every use of the broken locator was rewritten and the new locator finds exactly the
expected element in the DOM after the change. A heal where a person would escalate, or to another
element, is a false heal. Recall is correct heals over the healable cases; precision is correct heals
over all heals. Time is the median wall time per case (parsing, scoring, rewriting), measured with
``time.perf_counter`` over 5 passes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline import selectors_nov2026 as old

from healloop.agent.healing.corpus import (
    CORRECT_ESCALATION,
    CORRECT_HEAL,
    FALSE_HEAL,
    MISSED,
    SETS,
    Case,
    _css,
    evaluate,
    load,
)
from healloop.agent.healing.dom import Dom
from healloop.agent.healing.resolve import resolve


def baseline(case: Case) -> str:
    """The old healer as its playbook used it: the selector from the message, one compound CSS match
    on html.parser, and a refusal when the selector is not written exactly once in the spec."""
    selector = old.selector_from_message(case.message) or old.selector_from_message(case.stack)
    if not selector:
        return MISSED if case.outcome == "heal" else CORRECT_ESCALATION
    healing = old.heal(selector, case.after)
    if healing is None:
        return MISSED if case.outcome == "heal" else CORRECT_ESCALATION
    variants = [selector, selector.replace('"', ""), selector.replace('="', "=").replace('"]', "]")]
    if not any(case.spec.count(v) == 1 for v in variants):
        return MISSED if case.outcome == "heal" else CORRECT_ESCALATION
    if case.outcome != "heal" or case.target is None:
        return FALSE_HEAL
    dom = Dom(case.after)
    target = resolve(dom, _css(case.target))
    new = healing.new
    if new.startswith("text="):
        found = [el for el in dom.content if dom.text(el) == new[5:]]
        found = [el for el in found if not any(c in found for c in el.iterdescendants())]
    else:
        found = resolve(dom, _css(new)) or []
    return CORRECT_HEAL if found == target else FALSE_HEAL


def figures(verdicts: list[str], cases: list[Case]) -> dict[str, Any]:
    healable = sum(1 for c in cases if c.outcome == "heal")
    counts = Counter(verdicts)
    heals = counts[CORRECT_HEAL] + counts[FALSE_HEAL] + counts["partial heal"]
    return {
        "cases": len(cases),
        "healable": healable,
        "correct_heals": counts[CORRECT_HEAL],
        "false_heals": counts[FALSE_HEAL],
        "partial_heals": counts["partial heal"] + counts["unstable heal"],
        "missed": counts[MISSED],
        "correct_escalations": counts[CORRECT_ESCALATION],
        "recall": round(counts[CORRECT_HEAL] / healable, 3) if healable else None,
        "precision": round(counts[CORRECT_HEAL] / heals, 3) if heals else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=[*SETS, "all"], default="all")
    ap.add_argument("--misses", action="store_true", help="list every case not answered correctly")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sets = SETS if args.set == "all" else (args.set,)
    report: dict[str, Any] = {}
    wrong: list[str] = []
    for name in sets:
        cases = load((name,))
        if not cases:
            continue
        ours, times = [], []
        for case in cases:
            samples = []
            for _ in range(5):
                t0 = time.perf_counter()
                v = evaluate(case)
                samples.append(time.perf_counter() - t0)
            times.append(statistics.median(samples))
            ours.append(v.verdict)
            if not v.ok:
                wrong.append(f"{case.name} [{case.runner}; {', '.join(case.categories)}] expected "
                             f"{case.outcome}, got {v.verdict}: {v.detail[:300]}")
        report[name] = {
            "healloop": figures(ours, cases),
            "baseline_nov2026": figures([baseline(c) for c in cases], cases),
            "median_ms_per_case": round(1000 * statistics.median(times), 1),
            "p90_ms_per_case": round(1000 * sorted(times)[int(0.9 * (len(times) - 1))], 1),
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, r in report.items():
        print(f"set {name}: {r['healloop']['cases']} cases, {r['healloop']['healable']} healable; "
              f"median {r['median_ms_per_case']} ms per case (p90 {r['p90_ms_per_case']} ms)")
        print(f"  {'healer':18} {'correct':>8} {'false':>6} {'partial':>8} {'missed':>7} "
              f"{'right esc.':>10} {'recall':>7} {'precision':>9}")
        for who in ("healloop", "baseline_nov2026"):
            f = r[who]
            print(f"  {who:18} {f['correct_heals']:>8} {f['false_heals']:>6} {f['partial_heals']:>8} "
                  f"{f['missed']:>7} {f['correct_escalations']:>10} {f['recall'] or 0:>7.2f} "
                  f"{f['precision'] or 0:>9.2f}")
    if args.misses and wrong:
        print("\nnot answered correctly:")
        for line in wrong:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
