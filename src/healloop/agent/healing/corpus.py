"""The healing corpus: realistic UI changes with the answer a careful person gives, and how the
healer does on them. The cases live in ``tests/agent/healing/corpus/<set>/<id>.toml`` (format in the
README there); ``evaluate`` runs the healer on one case as the agent would (the spec, the message and
the DOM snapshot at failure; never the page before the change) and judges the result."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[4] / "tests" / "agent" / "healing" / "corpus"
SETS = ("dev", "holdout", "fresh", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6", "fresh7", "fresh8",
        "fresh9", "fresh10", "fresh11")
RUNNERS = ("playwright-js", "playwright-python", "cypress", "selenium-python", "selenium-js")
CATEGORIES = (
    "generated-id",
    "class-swap",
    "text-change",
    "label-change",
    "wrapped",
    "similar-siblings",
    "list-table",
    "test-id-renamed",
    "test-id-removed",
    "removed",
    "decoy",
    "role-name",
    "chain",
    "xpath",
    "custom-test-id",
    "moved",
)


@dataclass(frozen=True)
class Case:
    set: str
    id: str
    runner: str
    categories: tuple[str, ...]
    summary: str
    spec_path: str
    test: str
    spec: str
    message: str
    before: str
    after: str
    probe: str
    outcome: str
    why: str
    target: str | None = None
    stack: str = ""
    e2e: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.set}/{self.id}"


def load_case(path: Path) -> Case:
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    expect = raw.get("expect") or {}
    return Case(
        set=path.parent.name,
        id=raw["id"],
        runner=raw["runner"],
        categories=tuple(raw.get("categories") or ()),
        summary=raw.get("summary", ""),
        spec_path=raw["spec_path"],
        test=raw["test"],
        spec=raw["spec"],
        message=raw["message"],
        before=raw["before"],
        after=raw["after"],
        probe=raw["probe"],
        outcome=expect.get("outcome", ""),
        why=expect.get("why", ""),
        target=expect.get("target"),
        stack=raw.get("stack", ""),
        e2e=bool(raw.get("e2e", False)),
        options=dict(raw.get("options") or {}),
    )


def load(sets: tuple[str, ...] = SETS, root: Path = CORPUS) -> list[Case]:
    return [load_case(p) for s in sets for p in sorted((root / s).glob("*.toml"))]


# -- judging the healer on a case
CORRECT_HEAL, FALSE_HEAL, MISSED, CORRECT_ESCALATION, PARTIAL, UNSTABLE = (
    "correct heal", "false heal", "missed", "correct escalation", "partial heal", "unstable heal")


@dataclass
class Verdict:
    case: Case
    verdict: str
    outcome: Any  # healloop.agent.healing.heal.Outcome
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict in (CORRECT_HEAL, CORRECT_ESCALATION)


def _source(runner: str) -> str:
    return {
        "playwright-js": "playwright",
        "playwright-python": "pytest",
        "cypress": "cypress",
        "selenium-python": "pytest",
        "selenium-js": "junit",
    }[runner]


def evaluate(case: Case, settings: Any = None) -> Verdict:
    """Run the healer on ``case`` with what a failure report carries, and judge it by the element."""
    from healloop.agent.healing.dom import Dom
    from healloop.agent.healing.heal import HEALED, Failure, Healer, Settings
    from healloop.agent.healing.reader import reader_for
    from healloop.agent.healing.resolve import Resolver
    from healloop.agent.healing.words import generated

    settings = settings or Settings()
    if case.options.get("test_id_attribute") and not settings.test_id_attr:
        settings = Settings(settings.threshold, settings.margin, case.options["test_id_attribute"])
    healer = Healer(
        Failure(case.spec_path, case.spec, case.message, case.after, case.stack, _source(case.runner)),
        settings,
    )
    outcome = healer.heal()
    if outcome.status != HEALED:
        verdict = MISSED if case.outcome == "heal" else CORRECT_ESCALATION
        return Verdict(case, verdict, outcome, outcome.reason)
    if case.outcome != "heal" or case.target is None:
        return Verdict(
            case, FALSE_HEAL, outcome, f"healed to {outcome.new_locator} where escalation was right"
        )
    dom = Dom(case.after)
    resolver = Resolver(dom, test_id_attr=healer.test_id_attr)
    target = resolver.resolve(_css(case.target))
    new_uses = reader_for(outcome.new_text, healer.flavor, healer.lang).uses()
    healed = [bound(u, outcome.bindings.get(u.line)) for u in new_uses if u.line in outcome.uses_healed]
    found = [resolver.resolve(scoped(u.locator, outcome.scopes.get(u.line, ()), outcome.tails.get(u.line)))
             for u in healed]
    wrong = [u for u, got in zip(healed, found, strict=True)
             if got != target and not _scope_meant(resolver, u, outcome.tails.get(u.line), target)]
    if wrong or not healed:
        what = [resolver.resolve(scoped(u.locator, outcome.scopes.get(u.line, ()), outcome.tails.get(u.line)))
                for u in wrong]
        return Verdict(
            case,
            FALSE_HEAL,
            outcome,
            f"healed locator {wrong[0].locator.describe() if wrong else '?'} "
            f"finds {[dom.outer_html(e, 80) for e in (what[0] or [])] if what else []}, not the target",
        )
    # A generated value the test did not write itself (an id the framework numbers, not c_8812 from
    # the test's own data).
    before = set(_values(healer.locator)) if healer.locator is not None else set()
    unstable = [v for u in healed for v in _values(u.locator) if generated(v) and v not in before]
    if unstable:
        return Verdict(case, UNSTABLE, outcome, f"the heal writes the generated value {unstable[0]!r}, which "
                       "changes with the next build")
    left = [u for u in new_uses if u.locator.key() == outcome.old_key]
    if left:
        return Verdict(
            case, PARTIAL, outcome, f"{len(left)} use(s) of the broken locator left: {outcome.uses_left}"
        )
    return Verdict(case, CORRECT_HEAL, outcome, outcome.new_locator or "")


def bound(use: Any, bindings: list[tuple[str, str]] | None) -> Any:
    """A use built from the test's values, with the values the failure showed put in."""
    from dataclasses import replace

    from healloop.agent.healing.locators import Locator

    if not bindings or use.template is None:
        return use
    step = use.locator.steps[0]
    value = step.value
    for expr, v in bindings:
        value = value.replace("${" + expr + "}", v).replace("{" + expr + "}", v)
    return replace(use, locator=Locator((replace(step, value=value),), use.locator.flavor))


def scoped(locator: Any, scope: tuple[Any, ...], tail: tuple[int, tuple[Any, ...]] | None = None) -> Any:
    """A use's locator as the test runs it: with what the spec builds before it, or, for a line that
    writes only a scope, with what the failure's locator adds after it."""
    from healloop.agent.healing.locators import Locator

    if tail is not None:
        keep, rest = tail
        return Locator((*locator.steps[:keep], *rest), locator.flavor)
    return Locator((*scope, *locator.steps), locator.flavor)


def _scope_meant(resolver: Any, use: Any, tail: tuple[int, tuple[Any, ...]] | None, target: Any) -> bool:
    """A line that writes only a scope (a helper returning the row of an invoice), judged by the
    scope the case names as its target: that line with the filters that narrow it right after
    (hasText, nth) finds exactly the target."""
    from healloop.agent.healing.locators import Locator

    if tail is None:
        return False
    keep, rest = tail
    narrowing = []
    for step in rest:
        if step.kind not in ("has_text", "nth"):
            break
        narrowing.append(step)
    return resolver.resolve(Locator((*use.locator.steps[:keep], *narrowing), use.locator.flavor)) == target


def _values(locator: Any) -> list[str]:
    """The names a locator writes: ids, attribute values, classes, test ids."""
    out: list[str] = []
    for step in locator.steps:
        if step.kind in ("id", "name", "testid"):
            out.append(step.value)
        elif step.kind in ("css", "xpath"):
            out += re.findall(r"""=\s*["']?([^"'\]\s)]+)""", step.value)
            out += re.findall(r"[#.](-?[A-Za-z_][\w-]*)", re.sub(r"\[[^\]]*\]", "", step.value))
    return out


def _css(selector: str) -> Any:
    from healloop.agent.healing.locators import CSS, PLAYWRIGHT, Locator, Step

    return Locator((Step(CSS, selector),), PLAYWRIGHT)
