"""Healing one failure: which locator broke, which element it meant (or none), the new spec text.

The decision is conservative by design: a heal needs a candidate whose evidence clears ``threshold``
and beats the runner-up by ``margin``; anything less escalates with the close candidates named. An
element the snapshot still shows for the locator means the locator is not what broke.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from healloop.agent.guardrails import ASSERTION
from healloop.agent.healing.build import Builder
from healloop.agent.healing.dom import Dom, Element
from healloop.agent.healing.helpers import argument_sites, helper_of
from healloop.agent.healing.locators import (
    CONTAINS,
    CSS,
    CYPRESS,
    HAS_TEXT,
    NTH,
    PLAYWRIGHT,
    ROLE,
    SELENIUM,
    TESTID,
    TEXT,
    XPATH,
    Locator,
    Step,
    Use,
    holes,
    same_target,
    structural,
    template_pattern,
)
from healloop.agent.healing.messages import from_message
from healloop.agent.healing.paths import css_prefix, css_relaxed, xpath_prefix, xpath_relaxed
from healloop.agent.healing.reader import asserts_state_only, reader_for, test_span
from healloop.agent.healing.resolve import Resolver
from healloop.agent.healing.rewrite import (
    CannotWrite,
    Replacement,
    Writer,
    apply,
    edit_hunk,
    placeholders_at,
    retemplate,
)
from healloop.agent.healing.score import (
    KIND_WORDS,
    TEST_ID_ATTRS,
    Clues,
    Scored,
    Scorer,
    ancestor_clues,
    clues_of,
    logit,
)
from healloop.agent.healing.source import Literal, Source, quote
from healloop.agent.healing.within import within_scopes
from healloop.agent.healing.words import canon, content_stems, generated
from healloop.agent.healing.words import words as word_list

# Strict by default: a wrong heal costs more than an escalation.
THRESHOLD = 0.5
MARGIN = 0.2

HEALED, ESCALATE, PRESENT, NOT_MINE = "healed", "escalate", "present", "not_mine"


@dataclass
class Settings:
    threshold: float = THRESHOLD
    margin: float = MARGIN
    test_id_attr: str | None = None  # the project's Playwright testIdAttribute, when configured

    def clear_lead(self, best: float, rival: float) -> bool:
        """Whether the chosen element beats the runner-up by enough, comparing their evidence as
        sums of log-odds (``Scored.weight``): ``margin`` 0.2 is the lead of 0.6 against 0.4 on a
        single clue, an odds ratio of 2.25."""
        return best - rival >= 2 * logit(0.5 + self.margin / 2)


@dataclass
class Failure:
    spec_path: str
    spec_text: str
    message: str
    dom: str
    stack: str = ""
    source: str = ""  # the reporter: playwright, cypress, pytest, junit, ...


@dataclass
class Outcome:
    status: str  # healed | escalate | present (the element is there) | not_mine (no locator found)
    reason: str
    broken: str | None = None
    new_locator: str | None = None
    confidence: float = 0.0
    runner_up: dict[str, Any] | None = None
    element: dict[str, Any] | None = None
    element_html: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    clues: dict[str, Any] = field(default_factory=dict)
    new_text: str | None = None
    uses_healed: list[int] = field(default_factory=list)  # line numbers
    tie_break: str | None = None  # why the chosen one of close candidates, when the tests said
    uses_left: list[str] = field(default_factory=list)
    old_key: str | None = None  # identity of the broken locator, for finding it in other specs
    locator: Locator | None = None  # the broken locator
    # line → the steps the spec builds before that line's locator (a row in a variable, a helper)
    scopes: dict[int, tuple[Step, ...]] = field(default_factory=dict)
    bindings: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # line → the test's values
    # line → (steps of that line to keep, steps the failure's locator adds after them): a line that
    # writes only the scope the broken locator was built on
    tails: dict[int, tuple[int, tuple[Step, ...]]] = field(default_factory=dict)

    def edit(self, before: str) -> tuple[str, str] | None:
        if self.new_text is None:
            return None
        return edit_hunk(before, self.new_text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "old_locator": self.broken,
            "new_locator": self.new_locator,
            "confidence": round(self.confidence, 3),
            "runner_up": self.runner_up,
            "element": self.element,
            "element_html": self.element_html,
            "candidates": self.candidates,
            "clues": self.clues,
            "uses_healed": self.uses_healed,
            "uses_left": self.uses_left,
            "tie_break": self.tie_break,
            "flavor": self.locator.flavor if self.locator else None,
            "old_steps": [asdict(s) for s in self.locator.steps] if self.locator else None,
        }


def flavor_of(spec_path: str, text: str, source: str = "") -> tuple[str, str]:
    """(flavour, language) of a spec: by its reporter, its imports and its file name."""
    lang = "py" if spec_path.endswith(".py") else "js"
    if re.search(
        r"\bselenium\b|selenium-webdriver|\bwebdriver\.|\bBy\.(?:ID|CSS_SELECTOR|XPATH|NAME|id|css|xpath)\b",
        text,
    ):
        return SELENIUM, lang
    if source == "cypress" or re.search(r"\bcy\.(?:get|visit|contains|find)", text) or ".cy." in spec_path:
        return CYPRESS, lang
    return PLAYWRIGHT, lang


_TEST_ID_CONFIG = re.compile(
    r"""(?:testIdAttribute\s*:\s*|set_test_id_attribute\(\s*|setTestIdAttribute\(\s*)(['"])([\w:.-]+)\1"""
)


def test_id_attribute(*texts: str) -> str | None:
    """The test id attribute a Playwright project configured (``testIdAttribute``), if any text says."""
    for text in texts:
        m = _TEST_ID_CONFIG.search(text or "")
        if m:
            return m.group(2)
    return None


_TEST_START = re.compile(r"^\s*(?:(?:it|test|specify)(?:\.\w+)?\s*\(|(?:async\s+)?def\s+test)")
_HOOK = re.compile(r"\b(?:beforeEach|before|setup_method|setUp)\b|@pytest\.fixture")


def _failing_lines(stack: str, spec_path: str) -> list[int]:
    name = PurePosixPath(spec_path).name
    lines = []
    for m in re.finditer(r"([\w./\\-]+\.(?:py|js|ts|jsx|tsx|mjs|cjs))[:\", line]+(\d+)", stack or ""):
        if m.group(1).endswith(name) or spec_path.endswith(m.group(1).lstrip("./")):
            lines.append(int(m.group(2)))
    return lines


class Healer:
    def __init__(
        self, failure: Failure, settings: Settings | None = None, *, exclude: list[str] | tuple[str, ...] = ()
    ) -> None:
        self.f = failure
        self.settings = settings or Settings()
        self.exclude = set(
            exclude
        )  # elements (their short HTML) an earlier heal chose and verification refuted
        self.flavor, self.lang = flavor_of(failure.spec_path, failure.spec_text, failure.source)
        self.test_id_attr = (
            self.settings.test_id_attr or test_id_attribute(failure.spec_text) or "data-testid"
        )
        self.src = Source(failure.spec_text, self.lang)
        self.uses = reader_for(failure.spec_text, self.flavor, self.lang).uses()
        self.dom = Dom(failure.dom)
        self.resolver = Resolver(self.dom, test_id_attr=self.test_id_attr)

    # -- which locator broke
    def broken(self) -> tuple[Locator, list[Use]] | None:
        named = from_message(self.f.message, self.flavor) + [
            loc for loc in from_message(self.f.stack, self.flavor) if self.f.stack
        ]
        for loc in named:
            uses = [u for u in self.uses if self._matches(u.locator, loc)]
            uses += [t for t in (self._instantiate(u, loc) for u in self.uses if u.template) if t is not None]
            if uses:
                full = loc if len(loc.steps) >= len(uses[0].locator.steps) else uses[0].locator
                return self._within(full, uses), uses
        for loc in named:
            # The first step of the chain built in a helper from its parameters (const lane = (page,
            # status) => page.locator(`.column[data-status="${status}"]`), chained on elsewhere):
            # when nothing writes the chain's end, the scope that broke is healed where it is built.
            head = Locator(loc.steps[:1], loc.flavor)
            if len(loc.steps) > 1 and not self.resolver.resolve(head):
                scoped_uses = [t for t in (self._instantiate(u, head) for u in self.uses if u.template)
                               if t is not None]
                if len(scoped_uses) == 1:
                    return loc, scoped_uses
        # No locator in the message (or none the spec writes literally): the failing line decides.
        lines = _failing_lines(f"{self.f.stack}\n{self.f.message}", self.f.spec_path)
        source_lines = self.f.spec_text.splitlines()
        for line in lines:
            # A locator kept in a named constant is used where the line names it
            # (WebDriverWait(...).until(EC.element_to_be_clickable(RELEASE_HOLD)), a bare TimeoutException).
            text = source_lines[line - 1] if 0 < line <= len(source_lines) else ""
            # Named bare or as a page object's attribute: self.PLACE_ORDER, CheckoutPage.PLACE_ORDER.
            on_line = [u for u in self.uses if not u.literal_only and (
                u.line == line or (u.variable and u.line != line and re.search(
                    rf"(?:^|[^\w.]|\b(?:self|this|cls|[A-Z]\w*)\.){re.escape(u.variable)}\b", text)))]
            missing = [u for u in on_line if self.resolver.resolve(u.locator) == []]
            if len(missing) == 1:
                loc = missing[0].locator
                uses = [u for u in self.uses if same_target(u.locator, loc)]
                return self._within(loc, uses), uses
        return None

    def _within(self, locator: Locator, uses: list[Use]) -> Locator:
        """Cypress: the locator as the test ran it, inside the subjects of the ``.within()`` blocks
        that hold every use of it (the message prints the inner command alone). Uses in different
        blocks, or some in none, leave the locator as printed."""
        if self.flavor != CYPRESS or len(locator.steps) != len(uses[0].locator.steps):
            return locator
        scopes = within_scopes(self.src, self.uses)
        held = {scopes.get(u.start, ()) for u in uses}
        if len(held) != 1 or not (steps := held.pop()):
            return locator
        return Locator(steps + locator.steps, locator.flavor)

    def _instantiate(self, use: Use, named: Locator) -> Use | None:
        """A use whose selector is built from the test's values, with the values the failure shows
        (``//tr[td='${number}']`` and a failure naming ``//tr[td='INV-1042']``)."""
        assert use.template is not None
        step, last = use.locator.steps[0], named.last
        value = last.value
        if last.kind == CSS and step.kind in ("id", "name"):  # Selenium sends By.ID as [id="..."]
            m = re.fullmatch(r'\[(id|name)="(.*)"\]', last.value)
            if m is None or m.group(1) != step.kind:
                return None
            value = m.group(2)
        elif last.kind != step.kind:
            return None
        m = template_pattern(use.template).fullmatch(value)
        engine = re.match(r"(?:xpath|css)=", use.template.value)
        if m is None and engine:  # f"xpath={TOOLBAR}/button": the runner prints it without the engine
            m = template_pattern(use.template).fullmatch(engine.group(0) + value)
        if m is None:
            return None
        bound = replace(use, locator=Locator((replace(step, value=value),), use.locator.flavor))
        bound.bindings = list(zip(use.placeholders, m.groups(), strict=True))
        for values, action, typed, expects in use.sites:
            if all(v in values for _, v in bound.bindings):  # the call that passed these values
                bound.action, bound.typed, bound.expects = action, typed, expects
                break
        return bound

    def _matches(self, written: Locator, named: Locator) -> bool:
        if same_target(written, named):
            return True
        # The spec may hold the scope in a variable (form.getByRole(...)) that the message prints whole.
        n = len(written.steps)
        return n < len(named.steps) and same_target(written, Locator(named.steps[-n:], named.flavor))

    # -- the heal
    def heal(self) -> Outcome:
        outcome = self._heal()
        outcome.locator = self.locator
        return outcome

    def _heal(self) -> Outcome:
        self.locator: Locator | None = None
        found = self.broken()
        if found is None:
            # Playwright's "Test timeout of 20000ms exceeded." names the locator only in the call log.
            named = from_message(self.f.message, self.flavor) or from_message(self.f.stack, self.flavor)
            if named:
                return Outcome(
                    NOT_MINE,
                    f"the failure names {named[0].describe()}, which {self.f.spec_path} "
                    "does not write literally; not editing by guess",
                    broken=named[0].describe(),
                )
            return Outcome(NOT_MINE, "no locator that found nothing could be read from the failure")
        locator, uses = found
        self.locator = locator
        resolved = self.resolver.resolve(locator)
        if resolved is None:
            return Outcome(
                ESCALATE,
                f"{locator.describe()} uses selector syntax healloop cannot evaluate",
                broken=locator.describe(),
            )
        if resolved:
            return Outcome(
                PRESENT,
                f"{locator.describe()} finds {len(resolved)} element(s) in the DOM snapshot: "
                "the element is there, so the locator is not what broke",
                broken=locator.describe(),
            )
        k, scopes = self._broken_step(locator)
        step = locator.steps[k]
        if step.kind in (NTH, HAS_TEXT):
            return Outcome(
                ESCALATE,
                f"{locator.describe()}: the {step.kind} filter finds nothing; "
                "healloop heals the locator itself, not a filter on it",
                broken=locator.describe(),
            )
        if not structural(Locator((step,), locator.flavor)):
            # On a line that asserts only the element's state (disabled, its value, an attribute),
            # the name or text just finds the element; on any other assertion, the text is checked.
            asserting = [
                u.line for u in uses
                if ASSERTION.search(self._line(u.line))
                and not asserts_state_only(self._line(u.line), self.lang)
            ]
            if asserting:
                return Outcome(
                    ESCALATE,
                    f"{locator.describe()} finds an element by what it shows, on an assertion "
                    f"line ({self.f.spec_path}:{asserting[0]}): that text is what the test checks, so "
                    "it is not rewritten; a changed text may be a regression",
                    broken=locator.describe(),
                )
        scope_heal = k < len(locator.steps) - 1 and any(
            s.kind not in (NTH, HAS_TEXT) for s in locator.steps[k + 1 :]
        )
        action = None if scope_heal else next((u.action for u in uses if u.action), None)
        typed = None if scope_heal else next((u.typed for u in uses if u.typed), None)
        expects = None if scope_heal else next((u.expects for u in uses if u.expects), None)
        words = [] if scope_heal else sorted({u.variable for u in uses if u.variable})
        clues = clues_of(
            step, test_id_attr=self.test_id_attr, action=action, typed=typed, words=words, flavor=self.flavor
        )
        clues.expects = expects
        if not scope_heal:
            clues.comment = {w for u in uses for w in word_list(self.src.comment_near(u.start))}
        if action == "select":  # select_option('Spectrograph'): the option it picks, not text typed
            clues.option, clues.typed = typed, None
        clues.states = not scope_heal and any(u.states for u in uses)
        clues.value = None if scope_heal else next((u.value for u in uses if u.value), None)
        pool = self._pool(locator, k, scopes, scope_heal)
        where: tuple[set[Element], str] | None = None
        if k and scopes:
            where = (set(pool), f"inside what {Locator(locator.steps[:k], locator.flavor).describe()} finds")
        ancestors = self._ancestor_path(step)
        if ancestors and not scope_heal:
            found = self._within_scopes(ancestors, scopes if k else [])
            if found:
                # The path leading to the element still leads somewhere: most likely the element is
                # in there (unless it moved out, so the others stay candidates).
                inside = {d for a in found for d in a.iterdescendants()}
                where = (inside, f"inside {ancestors}, which the locator's path still finds")
            else:
                ancestor_clues(ancestors, step.kind, clues)
        relaxed = {} if scope_heal else self._relaxed(locator, k, scopes)
        if scope_heal:
            # Every candidate holds what the rest of the locator finds (the pool is made of those):
            # that is most of what the scope was for.
            rest = Locator(locator.steps[k + 1 :], locator.flavor).describe()
            relaxed = {el: (0.8, f"holds what the rest of the locator finds ({rest})") for el in pool}
        claimed = self._claimed(locator)
        same_test = self._claimed(locator, near=[u.line for u in uses])
        narrowed = (step.kind == CONTAINS and bool(step.name)) or any(
            s.kind in (NTH, HAS_TEXT) for s in locator.steps[k + 1 :]
        )
        scorer = Scorer(self.dom, clues, claimed=claimed, neighbours=list(same_test), unique=not narrowed,
                        relaxed=relaxed, where=where)
        scorer.prepare(pool)
        ranked = sorted(
            (scorer.score(el) for el in pool if self._short(el) not in self.exclude),
            key=lambda s: (-s.weight, -s.score),
        )
        if clues.action in (None, "click", "check", "enable"):  # not "read": a part can show the text
            ranked = self._parts_as_their_control(ranked, ranked[0].element if ranked else None)
        ranked = [s for s in ranked if s.score > 0]
        outcome = Outcome(
            ESCALATE,
            "",
            broken=locator.describe(),
            clues=clues.describe(),
            candidates=[self._candidate(s) for s in ranked[:3]],
            old_key=locator.key(),
        )
        moved = self._changed_kind(clues, scorer)
        if moved is not None:
            outcome.reason = moved
            return outcome
        if scope_heal and (not ranked or ranked[0].score < self.settings.threshold):
            moved = self._moved_scope(outcome, locator, uses, k, ranked)
            if moved is not None:
                return moved
        kept = self._kept_verb(locator, k, scopes, pool, claimed, clues) if (
            not ranked or ranked[0].score < self.settings.threshold) else None
        if kept is not None:
            best, why = kept
            outcome.confidence = best.score
            outcome.element = self.dom.describe(best.element)
            outcome.element_html = self._short(best.element)
            outcome.tie_break = why
            return self._rewrite(outcome, locator, uses, k, best)
        if not ranked or ranked[0].score < self.settings.threshold:
            best = f" (best {ranked[0].score:.2f}: {self._short(ranked[0].element)})" if ranked else ""
            outcome.reason = (
                f"no element in the DOM snapshot is a confident match for {locator.describe()}"
                f"{best}; below the threshold {self.settings.threshold:.2f}"
            )
            return outcome
        best = ranked[0]
        rival = next((s for s in ranked[1:] if not self._same_control(best.element, s.element)), None)
        outcome.confidence = best.score
        outcome.element = self.dom.describe(best.element)
        outcome.element_html = self._short(best.element)
        if rival is not None:
            outcome.runner_up = self._candidate(rival)
            chosen = None
            if not self.settings.clear_lead(best.weight, rival.weight):
                chosen = self._told_apart(ranked, uses, locator)
                if chosen is not None:
                    best, why = chosen
                    other = next(s for s in ranked if s is not best)
                    outcome.runner_up = self._candidate(other)
                    outcome.confidence = best.score
                    outcome.element = self.dom.describe(best.element)
                    outcome.element_html = self._short(best.element)
                    outcome.tie_break = why
            if chosen is None and not self.settings.clear_lead(best.weight, rival.weight):
                outcome.reason = (
                    f"two elements fit {locator.describe()} too closely to choose: "
                    f"{self._short(best.element)} ({best.score:.2f}) and {self._short(rival.element)} "
                    f"({rival.score:.2f})"
                )
                return outcome
        if clues.action == "read" and clues.tag != self.dom.tag(best.element):  # td.status means the cell
            best = self._what_shows_it(best)
            outcome.element = self.dom.describe(best.element)
            outcome.element_html = self._short(best.element)
        return self._rewrite(outcome, locator, uses, k, best)

    def _moved_scope(self, outcome: Outcome, locator: Locator, uses: list[Use], k: int,
                     ranked: list[Scored]) -> Outcome | None:
        """A layout container the spec scoped to is gone (the page header's extra actions), and what
        the rest of the locator names (role=button[name='New inspection']) is one element in the whole
        page: it moved, and the scope is healed to the nearest container around it. Never for a scope
        that picks one of several things (a row, an item, a card, a filter by text): there the
        element of another row would be found, and the one meant may well be gone."""
        scope, rest = locator.steps[: k + 1], locator.steps[k + 1 :]
        if any(s.kind in (NTH, HAS_TEXT) for s in rest) or rest[-1].kind == CSS or not self._layout(scope):
            return None
        found = self.resolver.resolve(Locator(rest, locator.flavor))
        if not found or len(found) != 1:
            return None
        by_element = {id(s.element): s for s in ranked}
        nearest = [by_element[id(a)] for a in found[0].iterancestors() if id(a) in by_element][:3]
        what = Locator(rest, locator.flavor).describe()
        for s in nearest:
            why = (f"{what} finds one element in the whole page, outside the scope that is gone: the "
                   f"nearest container around it stands for the scope")
            attempt = replace(outcome, confidence=max(s.score, self.settings.threshold),
                              element=self.dom.describe(s.element), element_html=self._short(s.element),
                              tie_break=why)
            healed = self._rewrite(attempt, locator, uses, k, s)
            if healed.status == HEALED:
                return healed
        return None

    def _layout(self, steps: tuple[Step, ...]) -> bool:
        """A scope that arranges the page (a header, a toolbar, a form, a dialog), not one that picks
        one of several alike (a row, a list item, a card, one with a number or a text in it)."""
        for step in steps:
            if step.kind != CSS or re.search(r"\d|:has|:nth|:contains|\[", step.value):
                return False
            if re.search(r"(?i)row|item|card|tile|cell|entry|line|record", step.value):
                return False
        return True

    def _kept_verb(self, locator: Locator, k: int, scopes: list[Element], pool: list[Element],
                   claimed: dict[Element, str], clues: Clues) -> tuple[Scored, str] | None:
        """A control renamed inside one scope that the test still finds (a menu item, a row, a
        column): "Add to order" in the Margherita item is now "Add Margherita to basket". Only when
        the scope is one element, the test clicks, and of the controls in it that no other locator
        of the spec finds, exactly one keeps the old name's verb (its first word, an action word)."""
        step = locator.steps[k]
        if not k or len(scopes) != 1 or clues.action != "click" or step.kind not in (ROLE, CONTAINS, TEXT):
            return None
        old = step.name if step.kind in (ROLE, CONTAINS) else step.value
        # With a phrase's parts: "Add to basket" is read as one phrase (add-to-cart), its verb is "add".
        first = [canon(w) for w in word_list(old or "")][:1]
        if not first or not content_stems(first[0]):  # "a", "to", a number: no verb
            return None
        fits = []
        for el in pool:
            if el in claimed or not self.dom.clickable(el) or not self.dom.visible(el):
                continue
            if step.kind == ROLE and self.dom.role(el) != step.value:
                continue
            label = self.dom.name(el) or self.dom.text(el)
            # A control's label, not content that starts alike (a card titled "Add card templates to
            # the editor" among a column's buttons): at most a couple of words more than the old name.
            short = len(word_list(label, False)) <= max(4, 2 * len(word_list(old or "", False)))
            if [canon(w) for w in word_list(label)][:1] == first and short:
                fits.append(el)
        if len(fits) != 1:
            return None
        scope = Locator(locator.steps[:k], locator.flavor).describe()
        why = (f"the only control inside what {scope} finds, and no other locator's, whose name keeps "
               f"the old name's verb {first[0]!r}")
        return Scored(fits[0], self.settings.threshold, 0.0, 1.0, [why]), why

    def _line(self, number: int) -> str:
        lines = self.f.spec_text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""

    def _broken_step(self, locator: Locator) -> tuple[int, list[Element]]:
        """The first step after which nothing is found, and what the steps before it found."""
        scopes: list[Element] = []
        for k in range(1, len(locator.steps) + 1):
            got = self.resolver.resolve(Locator(locator.steps[:k], locator.flavor))
            if not got:
                prev = self.resolver.resolve(Locator(locator.steps[: k - 1], locator.flavor)) if k > 1 else []
                return k - 1, prev or []
            scopes = got
        return len(locator.steps) - 1, scopes

    def _pool(self, locator: Locator, k: int, scopes: list[Element], scope_heal: bool) -> list[Element]:
        if k > 0 and scopes:
            inside = {d for s in scopes for d in s.iterdescendants()}
            pool = [el for el in self.dom.content if el in inside]
        else:
            pool = list(self.dom.content)
        pool = [el for el in pool if self.dom.tag(el) not in ("html", "body", "head", "br", "wbr")]
        if scope_heal:
            rest = Locator(tuple(s for s in locator.steps[k + 1 :]), locator.flavor)
            pool = [el for el in pool if self._rest_from(el, rest)]
        return pool

    def _ancestor_path(self, step: Step) -> str:
        """The part of a CSS selector or XPath that leads to the element (``form#login`` of
        ``form#login button.primary``), or ""."""
        if step.kind == CSS and "," not in step.value:
            return css_prefix(step.value)
        if step.kind == XPATH and "|" not in step.value:
            return xpath_prefix(step.value)
        return ""

    def _within_scopes(self, path: str, scopes: list[Element]) -> list[Element]:
        step = Step(XPATH, path) if path.lstrip("(").startswith("/") else Step(CSS, path)
        found: list[Element] = []
        for scope in scopes or [self.dom.root]:
            found += self.resolver.find(step, scope, self.flavor, scoped=scope is not self.dom.root) or []
        return found

    def _relaxed(self, locator: Locator, k: int, scopes: list[Element]) -> dict[Element, tuple[float, str]]:
        """Elements the broken step finds, alone, once what a page change breaks is taken out of it:
        the strongest sign for selectors that name an element by where it is."""
        step = locator.steps[k]
        if step.kind == CSS:
            variants = [(Step(CSS, v), kept) for v, kept in css_relaxed(step.value)]
        elif step.kind == XPATH:
            variants = [(Step(XPATH, v), kept) for v, kept in xpath_relaxed(step.value)]
        else:
            return {}
        hits: dict[Element, tuple[float, str]] = {}
        for variant, kept in variants:
            found = self._within_scopes(variant.value, scopes if k else [])
            if len(found) > 1:
                found = self._by_dropped_container(step, found)
            if len(found) == 1 and kept > hits.get(found[0], (0.0, ""))[0]:
                hits[found[0]] = (kept, f"found alone by the locator without what broke: {variant.value}")
        return hits

    def _by_dropped_container(self, step: Step, found: list[Element]) -> list[Element]:
        """Several elements once an ancestor's name is dropped (two tables, each with a row 2): the
        one whose container still fits that name (table--orders for @id='orders'), if only one does."""
        path = self._ancestor_path(step)
        if not path:
            return found
        clues = Clues()
        ancestor_clues(path, step.kind, clues)
        if not clues.ancestors:
            return found
        scorer = Scorer(self.dom, clues, claimed={})
        fits = sorted(
            ((min(scorer._ancestor_signal(*c, el)[0] for c in clues.ancestors), el) for el in found),
            key=lambda t: -t[0],
        )
        if fits[0][0] >= 0.4 and fits[1][0] <= fits[0][0] - 0.2:
            return [fits[0][1]]
        return found

    def _rest_from(self, el: Element, rest: Locator) -> list[Element]:
        found = [el]
        for step in rest.steps:
            if step.kind == NTH:
                idx = step.index or 0
                found = [found[idx]] if -len(found) <= idx < len(found) else []
                continue
            if step.kind == HAS_TEXT:
                found = self.resolver.has_text(found, step)
                continue
            nxt: dict[Element, None] = {}
            for scope in found:
                for e in self.resolver.find(step, scope, rest.flavor) or []:
                    nxt[e] = None
            found = list(nxt)
        return found

    def _claimed(self, broken: Locator, near: list[int] | None = None) -> dict[Element, str]:
        """Elements other locators of the spec still find (only those of the tests on lines ``near``,
        and of the hooks before them, when given)."""
        claimed: dict[Element, str] = {}
        lines = set().union(*(self._test_lines(line) for line in near)) if near is not None else None
        for use in self.uses:
            if self._matches(use.locator, broken) or use.literal_only:
                continue
            if lines is not None and use.line not in lines:
                continue
            got = self.resolver.resolve(use.locator)
            if got and len(got) == 1:
                claimed.setdefault(got[0], use.locator.describe())
        return claimed

    def _test_lines(self, line: int) -> set[int]:
        """The lines of the test around ``line`` and of the hooks that run before it (beforeEach, a
        fixture): where the test's other locators are."""
        lines = self.f.spec_text.splitlines()
        marks = [(i + 1, bool(_HOOK.search(ln))) for i, ln in enumerate(lines)
                 if _TEST_START.match(ln) or _HOOK.search(ln)]
        out: set[int] = set()
        for j, (start, hook) in enumerate(marks):
            end = marks[j + 1][0] - 1 if j + 1 < len(marks) else len(lines)
            if hook or start <= line <= end:
                out.update(range(start, end + 1))
        return out or set(range(1, len(lines) + 1))

    def _told_apart(
        self, ranked: list[Scored], uses: list[Use], locator: Locator
    ) -> tuple[Scored, str] | None:
        """Of candidates the locator fits too closely to choose between, the one whose own words
        alone the tests say: "asks for the workspace name before deleting" then waits for
        #confirm-delete, so of "Delete workspace" and "Leave workspace" it is the first. Only ever
        between candidates that already fit; never when two or none are said."""
        best = ranked[0]
        blocking = [s for s in ranked if not self.settings.clear_lead(best.weight, s.weight)]
        # Only among controls when the test clicks and some are: a row is no rival the title can pick
        # over six Book buttons ("books lane seven" names lane 7's row, whose button is gone).
        if any(u.action == "click" for u in uses) and any(self.dom.clickable(s.element) for s in blocking):
            blocking = [s for s in blocking if self.dom.clickable(s.element)]
        plain = self._plainly_named(blocking, locator) if len(blocking) > 1 else None
        if plain is not None and plain[0].score >= self.settings.threshold:
            return plain
        close = [s for s in blocking if s.score >= self.settings.threshold]
        if len(close) < 2:
            return None
        said: set[str] = set()
        broken = {s.value for s in locator.steps} | {s.name for s in locator.steps if s.name}
        for u in uses:
            span = test_span(self.f.spec_text, self.lang, u.start)
            if span is None:
                continue
            start, end, title = span
            said |= content_stems(title)
            for lit in self.src.literals:
                if start <= lit.start < end and lit.value not in broken and len(lit.value) <= 120:
                    said |= content_stems(lit.value)
        # The name the spec gives the locator (const ODOMETER = By.id('mat-input-3')) says what it is
        # for as plainly as the test's title; the page's subject ("Edit episode") says every field.
        said |= {w for u in uses if u.variable for w in content_stems(u.variable)}
        said -= content_stems(self.dom.subject)
        if not said:
            return None
        own = {id(s): content_stems(self.dom.name(s.element) or self.dom.text(s.element)) for s in close}
        told = []
        for s in close:
            others = set().union(*(own[id(o)] for o in close if o is not s))
            mine = (own[id(s)] - others) & said - self._group_words(s.element)
            if mine:
                told.append((s, mine))
        if len(told) != 1:
            return None
        s, mine = told[0]
        return s, f"the test says {', '.join(sorted(mine))}, which only this candidate's name says"

    def _plainly_named(self, close: list[Scored], locator: Locator) -> tuple[Scored, str] | None:
        """Of close candidates, the only one the broken name says in full: its name has exactly the
        test id's words ("add-ingredient" and "Add ingredient", not "Add ingredient group"), or it
        is the kind of element the name says ("plot-row-B-12": the row, not its first cell)."""
        said = [v for s in locator.steps if s.kind in (TESTID, CSS, XPATH, "id")
                for attr, v, _ in clues_of(s, test_id_attr=self.test_id_attr, action=None, typed=None,
                                           words=[]).attrs if attr in (*TEST_ID_ATTRS, "id")]
        named = {w for v in said for w in word_list(v)}
        if named:
            def names(el: Element) -> list[set[str]]:  # its name may hold an icon's: "plusAdd ingredient"
                return [{*word_list(self.dom.name(el))}, {*word_list(self.dom.text(el))}]

            # A button and the label inside it are one control: the better scored stands for both.
            alike = [s for s in close if not any(
                o.score > s.score and self._same_control(o.element, s.element) for o in close)]
            exact = [s for s in alike if named in names(s.element)]
            # Only when every other one says all that and more ("Add ingredient group"): a name
            # that says less, or nothing, is no reason to prefer this one.
            more = all(any(n > named for n in names(o.element)) for o in alike if o not in exact)
            if len(exact) == 1 and more:
                return exact[0], f"its name says {', '.join(sorted(named))}, all the locator said and no more"
        kinds = [w for v in said for w in word_list(v) if w in KIND_WORDS]
        fits = [s for s in close if any(self.dom.tag(s.element) in KIND_WORDS[w]
                                        or (self.dom.role(s.element) or "") in KIND_WORDS[w] for w in kinds)]
        if kinds and len(fits) == 1:
            return fits[0], f"the only one of them that is a {kinds[0]}, as the locator says"
        return None

    def _what_shows_it(self, best: Scored) -> Scored:
        """A cell whose whole text is one element's inside it (<td><span class="tag">In
        maintenance</span></td>): the test reads that element, the badge, not the cell around it.
        The evidence found the cell, so it keeps the cell's score."""
        text = self.dom.text(best.element)
        inner = [d for d in best.element.iterdescendants() if isinstance(d.tag, str)
                 and self.dom.text(d) == text and not any(isinstance(c.tag, str) for c in d)]
        if text and len(inner) == 1 and not self.dom.clickable(best.element):
            return replace(best, element=inner[0])
        return best

    def _changed_kind(self, clues: Clues, scorer: Scorer) -> str | None:
        """The element that still carries the locator's exact test id or id, become something the
        test cannot do its action on (order-notes, once a textarea, now a button that opens it):
        the page changed how it works, and another element would only be a guess."""
        if clues.action not in ("fill", "check", "select"):
            return None
        for attr, value, op in clues.attrs:
            if op != "=" or (attr not in TEST_ID_ATTRS and attr != "id") or generated(value):
                continue
            for el in self.dom.content:
                if el.get(attr) == value and self.dom.visible(el) and not scorer.gate(el):
                    return (f"{self._short(el)} still has {attr}={value!r}, but the test does "
                            f"{clues.action} on it, which it does not take: the page changed how it "
                            "works, not only a locator")
            # The id kept whole inside a longer one (desk-search → desk-search-trigger), on a control
            # that cannot take the action, while no such element can: the field became a button
            # that opens something, and an editable element named otherwise is a guess.
            kin = [el for el in self.dom.content
                   if _extends(el.get(attr) or "", value) and self.dom.visible(el)]
            if kin and not any(scorer.gate(el) for el in kin):
                el = next((k for k in kin if self.dom.clickable(k)), None)
                if el is not None:
                    return (f"{self._short(el)} has {attr}={el.get(attr)!r}, which keeps {value!r} whole,"
                            f" but the test does {clues.action} on it, which it does not take: the page "
                            "changed how it works, not only a locator")
        return None

    def _group_words(self, el: Element) -> set[str]:
        """Words naming the groups around ``el`` (a fieldset's legend "Stock levels", a section's
        heading): a test that says "stock" may mean the group, not "Safety stock" in it."""
        out: set[str] = set()
        for depth, box in enumerate(el.iterancestors()):
            if depth >= 4 or self.dom.tag(box) in ("body", "html"):
                break
            texts = [box.get("aria-label") or ""]
            texts += [self.dom.text(t) for r in (box.get("aria-labelledby") or "").split()
                      if (t := self.dom.by_id(r)) is not None]
            texts += [self.dom.text(c) for c in box if isinstance(c.tag, str)
                      and self.dom.tag(c) in ("legend", "caption", "h1", "h2", "h3", "h4", "h5", "h6")]
            for t in texts:
                out |= content_stems(t)
        return out

    def _parts_as_their_control(self, ranked: list[Scored], best: Element | None) -> list[Scored]:
        """A click on a part of a control (Vuetify's ``<span class="v-btn__overlay">`` inside its button)
        lands on the control. So a part of another control than the leader is ranked as that control, by
        the control's own score: a class word the parts share (``v-btn``) makes no rival of each button's
        overlay. Parts of the leader itself are the same control (``_same_control``)."""
        out = []
        for s in ranked:
            control = None if self.dom.clickable(s.element) else next(
                (a for a in list(s.element.iterancestors())[:3] if self.dom.clickable(a)), None)
            if control is not None and control is not best and best not in control.iterancestors():
                continue  # the control it stands for is ranked by its own score
            out.append(s)
        return out

    def _same_control(self, a: Element, b: Element) -> bool:
        """One control seen twice: a control and what it is made of (a button and the <span> inside
        it), a label and its field. A row and its cell are two elements."""
        for outer, inner in ((a, b), (b, a)):
            if outer in inner.iterancestors() and self.dom.clickable(outer) and not self.dom.clickable(inner):
                return True
        for x, y in ((a, b), (b, a)):
            if self.dom.tag(x) == "label" and x.get("for") and x.get("for") == y.get("id"):
                return True
            if x.get("id") and x.get("id") in (y.get("aria-labelledby") or "").split():
                return True  # a custom checkbox and the element that names it
        return False

    def _short(self, el: Element) -> str:
        return self.dom.outer_html(el, 120)

    def _candidate(self, s: Scored) -> dict[str, Any]:
        return {"element": self._short(s.element), "score": round(s.score, 3), "reasons": s.reasons[:6]}

    # -- writing it
    def _rewrite(self, outcome: Outcome, locator: Locator, uses: list[Use], k: int, best: Scored) -> Outcome:
        target_final = (
            self._rest_from(best.element, Locator(locator.steps[k + 1 :], locator.flavor))
            if (k < len(locator.steps) - 1)
            else [best.element]
        )
        writer = Writer(self.src)
        replacements: list[Replacement] = []
        new_desc = None
        # A scope kept in a variable (const table = page.locator('table.inventory')) is written on
        # its own line: heal it there, once, for every use built on it.
        scope = Locator(locator.steps[: k + 1], locator.flavor)
        # Filters right after the scope (hasText=number in a helper, .first()) narrow it to the
        # element meant: a line writing only the scope is checked with them, as the failure ran it.
        j = k + 1
        while j < len(locator.steps) and locator.steps[j].kind in (NTH, HAS_TEXT):
            j += 1
        narrowing = locator.steps[k + 1 : j]
        if any(k - (len(locator.steps) - len(u.locator.steps)) < 0 for u in uses):
            uses = [u for u in uses if k - (len(locator.steps) - len(u.locator.steps)) >= 0
                    or self._matches(Locator(u.locator.steps[: k + 1], u.locator.flavor), scope)] + [
                u for u in self.uses if u not in uses and len(u.locator.steps) > k
                and self._matches(Locator(u.locator.steps[: k + 1], u.locator.flavor), scope)]
        for use in uses:
            at_scope = use not in self._full_uses(uses, locator, k)
            full = scope if at_scope else locator
            kk = k if at_scope else k - (len(locator.steps) - len(use.locator.steps))
            if kk < 0:
                outcome.uses_left.append(f"line {use.line}: the broken part is outside what this line writes")
                continue
            wanted = [best.element] if at_scope else target_final
            new_step = self._new_step(use, kk, best.element, wanted, full, upto=kk + 1 if at_scope else None,
                                      narrowing=narrowing if at_scope else ())
            if new_step is None:
                outcome.uses_left.append(
                    f"line {use.line}: no locator of the same form finds the element alone"
                )
                continue
            via = None
            if use.template is not None and placeholders_at(new_step.value, use) is None:
                via = self._via_helper(use, new_step.value)
            if via is not None:
                # Built inside a helper from its parameter: the tests' argument changes, not the helper.
                sites, values = via
                replacements += [
                    Replacement(lit.start, lit.end, text)
                    for lit, text in sites
                    if all(r.start != lit.start for r in replacements)
                ]
                outcome.uses_healed.append(use.line)
                outcome.bindings[use.line] = values
            else:
                try:
                    replacements.append(writer.replacement(use, kk, new_step))
                except CannotWrite as exc:
                    outcome.uses_left.append(f"line {use.line}: {exc}")
                    continue
                outcome.uses_healed.append(use.line)
                if use.bindings:
                    outcome.bindings[use.line] = use.bindings
            # What the spec builds before this line's locator (a row kept in a variable, a helper):
            # the message's locator says it. A line that writes only the scope is followed by the rest.
            if at_scope:
                outcome.tails[use.line] = (k + 1, locator.steps[k + 1 :])
            else:
                before = max(0, len(locator.steps) - len(use.locator.steps))
                outcome.scopes[use.line] = locator.steps[:before]
            new_desc = (
                new_desc
                or Locator(
                    (*use.locator.steps[:kk], new_step, *use.locator.steps[kk + 1 :]), use.locator.flavor
                ).describe()
            )
        if not replacements:
            outcome.reason = (
                f"{self._short(best.element)} is the element {locator.describe()} meant "
                f"({best.score:.2f}), but no locator in the spec's style finds it alone: "
                + "; ".join(outcome.uses_left)
            )
            return outcome
        outcome.status = HEALED
        outcome.new_locator = new_desc
        outcome.new_text = apply(self.f.spec_text, replacements)
        outcome.reason = (
            f"{locator.describe()} no longer finds anything; the element it meant is "
            f"{self._short(best.element)} ({best.score:.2f}), now found by {new_desc}"
        )
        return outcome

    def _via_helper(
        self, use: Use, value: str
    ) -> tuple[list[tuple[Literal, str]], list[tuple[str, str]]] | None:
        """For a selector a helper builds from its parameters: the string literals the tests pass
        for each value that changes, with the new source text of each, and the values bound now. None unless
        ``value`` still fits the helper's template and every changed value is a parameter that the
        spec passes as a literal."""
        assert use.template is not None
        m = template_pattern(use.template).fullmatch(value)
        if m is None:
            return None
        sites: list[tuple[Literal, str]] = []
        values = list(zip(use.placeholders, m.groups(), strict=True))
        for (expr, old), (_, new) in zip(use.bindings, values, strict=True):
            if old == new:
                continue
            helper = helper_of(self.src, use.template.start, expr)
            if helper is None:
                return None
            found = argument_sites(self.src, helper, old, body_end=use.template.end)
            if not found:
                return None
            for lit in found:
                text = (retemplate(lit, old, new) if holes(lit)
                        else lit.prefix + quote(new, lit.quote, self.lang))
                if text is None:
                    return None
                sites.append((lit, text))
        return (sites, values) if sites else None

    def _full_uses(self, uses: list[Use], locator: Locator, k: int) -> list[Use]:
        """The uses that write the broken locator through to its end (not only its scope)."""
        return [u for u in uses if k - (len(locator.steps) - len(u.locator.steps)) >= 0
                and self._matches(u.locator, locator)]

    def _new_step(
        self, use: Use, k: int, el: Element, target_final: list[Element], full: Locator,
        upto: int | None = None, narrowing: tuple[Step, ...] = (),
    ) -> Step | None:
        prefix_extra = full.steps[: max(0, len(full.steps) - len(use.locator.steps))]
        steps = use.locator.steps[:upto] if upto else use.locator.steps

        def check(step: Step) -> bool:
            if (
                use.template is not None
                and placeholders_at(step.value, use) is None
                and self._via_helper(use, step.value) is None
            ):
                return False  # it could not stay built from the test's values
            trial = Locator(
                prefix_extra + steps[:k] + (step,) + steps[k + 1 :] + narrowing, use.locator.flavor
            )
            got = self.resolver.resolve(trial)
            if got is None or got != target_final:
                return False
            if use.template is None:
                # Found alone, but it must be writable where the use keeps its selector too: a
                # cy.contains cannot go into a constant's selector string, where a :contains() can.
                try:
                    Writer(self.src).replacement(use, k, step)
                except CannotWrite:
                    return False
            return True

        call_i, part = use.origins[k] if k < len(use.origins) else (0, 0)
        call_based = part is None and not use.literal_only and use.template is None
        tl = use.locator.flavor != PLAYWRIGHT and bool(
            use.calls and re.match(r"^(find|get|query)(All)?By", use.calls[call_i].name))
        builder = Builder(
            self.dom,
            test_id_attr=self.test_id_attr,
            flavor=use.locator.flavor,
            check=check,
            call_based=call_based,
            tl=tl,
            reads=use.action == "read" and k == len(steps) - 1,
        )
        built = builder.build(steps[k], el)
        if built is None and _whole_locator_call(use, call_i, part):
            # page.locator('#input-14') with nothing stable left for CSS to name (a Vuetify field is
            # all generated ids and shared classes): the selector is the call's whole argument, so
            # the call itself may become the getByLabel('Title') Playwright recommends.
            builder.call_based = True
            built = builder.build(steps[k], el)
        return built


def heal(failure: Failure, settings: Settings | None = None) -> Outcome:
    return Healer(failure, settings).heal()


__all__ = [
    "CYPRESS",
    "ESCALATE",
    "HEALED",
    "NOT_MINE",
    "PRESENT",
    "Failure",
    "Healer",
    "Outcome",
    "Settings",
    "flavor_of",
    "heal",
    "test_id_attribute",
]


def _whole_locator_call(use: Use, call_i: int, part: int | None) -> bool:
    """The step is the whole of a Playwright ``locator('<one selector>')`` call with no options."""
    call = use.calls[call_i] if call_i < len(use.calls) else None
    return (
        use.locator.flavor == PLAYWRIGHT and part == 0 and not use.literal_only and use.template is None
        and call is not None and call.name == "locator" and len(call.args) == 1
        and sum(1 for i, _ in use.origins if i == call_i) == 1
    )


def _extends(longer: str, value: str) -> bool:
    """``longer`` holds ``value`` whole, joined by a separator: desk-search-trigger, search_desk-search."""
    if len(longer) <= len(value) or value not in longer:
        return False
    i = longer.find(value)
    before = longer[i - 1] if i > 0 else ""
    after = longer[i + len(value)] if i + len(value) < len(longer) else ""
    return all(c == "" or c in "-_.:" for c in (before, after))
