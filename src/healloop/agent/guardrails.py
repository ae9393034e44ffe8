"""Guardrails enforced in code, whatever a planner proposes: no weakened tests, edits only where the
node's policy allows, and caps on restarts and reverts.

Pure: a patch is checked as (path, old text, new text) before it is sent to the node.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from healloop.agent.healing.reader import blank_locators

ASSERTION = re.compile(
    r"\bshould\s*\(|\bexpect\s*\(|\bassert\b|\bassert[A-Z_]\w*\s*\(|\.to(?:Be|Equal|Have|Contain)\w*\("
)
SKIP_ONLY = re.compile(
    r"\b(?:it|describe|test|context|specify)\.(?:skip|only|todo|fixme)\b|\bx(?:it|describe|test)\s*\("
    r"|\bf(?:it|describe)\s*\(|@pytest\.mark\.(?:skip|skipif|xfail)\b|\bpytest\.(?:skip|xfail)\s*\("
    r"|\bunittest\.skip|\btest\.skip\s*\(|\bthis\.skip\s*\("
)
FORCE = re.compile(r"\bforce\s*:\s*true\b|\bforce\s*=\s*True\b|\{\s*force\s*:\s*!0\s*\}")
TIMEOUT = re.compile(
    r"\b(?:timeout|defaultCommandTimeout|pageLoadTimeout|requestTimeout|responseTimeout"
    r"|setTimeout|waitForTimeout|implicitly_wait|set_page_load_timeout)\b[\"']?\s*[:=(]\s*"
    r"(\d+(?:\.\d+)?)\s*(ms|s)?",
    re.I,
)
# Loosened matchers: an exact comparison replaced by a weaker one.
_LOOSE = [
    ("==", "!="),
    ("toEqual", "toBeDefined"),
    ("toBe(", "toBeTruthy"),
    ("eq", "exist"),
    ("have.text", "exist"),
    ("toHaveText", "toBeVisible"),
]


def _expectation(line: str, lang: str) -> str:
    """An assertion line with its structural locators blanked out: what the assertion expects. A
    locator by text or accessible name stays, since on an assertion line that text is expected."""
    return re.sub(r"\s+", "", blank_locators(line.strip(), lang))


@dataclass(frozen=True)
class Policy:
    test_paths: tuple[str, ...] = (
        "tests/**",
        "test/**",
        "e2e/**",
        "cypress/**",
        "**/*.spec.*",
        "**/*.cy.*",
        "**/test_*.py",
        "**/*_test.py",
    )
    app_edits: bool = False
    revert: bool = False
    push: bool = False
    pull: bool = False
    max_timeout_s: float = 30.0
    restarts_per_event: int = 2
    reverts_per_event: int = 1
    approve: tuple[str, ...] = ()  # classes a person approves first: "edit" commits on healloop/<id>

    @classmethod
    def from_node_info(cls, info: dict[str, Any]) -> Policy:
        p = info.get("policy") or {}
        fields = {k: v for k, v in p.items() if k in cls.__dataclass_fields__}
        for name in ("test_paths", "approve"):
            if name in fields:
                fields[name] = tuple(fields[name])
        return cls(**fields)


class Violation(str):
    """One reason to refuse, as text (it goes into the event's history as is), with ``rule`` naming the
    guardrail that found it, for ``healloop_agent_refusals_total``."""

    rule: str

    def __new__(cls, text: str, rule: str) -> Violation:
        self = super().__new__(cls, text)
        self.rule = rule
        return self


def rule_of(violation: str) -> str:
    return getattr(violation, "rule", "other")


class Refused(Exception):
    """A guardrail refused an action; ``violations`` says why, ``patch`` is what was refused."""

    def __init__(self, violations: list[str], patch: dict[str, Any]) -> None:
        self.violations = violations
        self.patch = patch
        super().__init__("; ".join(violations))


def is_test_path(path: str, policy: Policy) -> bool:
    p = path.lstrip("./")
    return any(
        fnmatch.fnmatch(p, g) or (g.startswith("**/") and fnmatch.fnmatch(p, g[3:]))
        for g in policy.test_paths
    )


def check_path(path: str, policy: Policy) -> list[str]:
    if not path or path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", path) or ".." in path.split("/"):
        return [Violation(f"path {path!r} is outside the workspace: only relative paths inside it may be "
                          "edited", "outside_workspace")]
    if path.split("/")[0] == ".git":
        return [Violation(f"path {path!r} is inside .git", "git_internals")]
    if not is_test_path(path, policy) and not policy.app_edits:
        return [Violation(
            f"path {path!r} is app code: the node's policy allows edits to test files only "
            f"({', '.join(policy.test_paths)}); set node.policy.app_edits to allow it", "app_code"
        )]
    return []


def _count(pattern: re.Pattern[str], text: str) -> int:
    return len(pattern.findall(text))


def _timeouts_s(text: str) -> list[float]:
    out = []
    for value, unit in TIMEOUT.findall(text):
        v = float(value)
        # No unit: JavaScript APIs take milliseconds, Python ones seconds; numbers over 1000 are ms.
        out.append(v / 1000 if unit == "ms" or (not unit and v >= 1000) else v)
    return out


def check_patch(path: str, old: str, new: str, policy: Policy) -> list[str]:
    """Reasons to refuse replacing ``old`` by ``new`` in ``path``; empty when the patch is acceptable."""
    problems = check_path(path, policy)
    lost = _count(ASSERTION, old) - _count(ASSERTION, new)
    if lost > 0:
        problems.append(Violation(f"removes {lost} assertion(s) (should/expect/assert): tests may not be "
                                  "weakened", "removes_assertion"))
    if _count(SKIP_ONLY, new) > _count(SKIP_ONLY, old):
        problems.append(Violation("adds skip/only/xfail: tests may not be switched off or narrowed",
                                  "skip_only"))
    if _count(FORCE, new) > _count(FORCE, old):
        problems.append(Violation("forces an action (force: true / force=True), which hides a real "
                                  "visibility problem", "force"))
    old_max = max(_timeouts_s(old), default=0.0)
    for t in _timeouts_s(new):
        if t > policy.max_timeout_s and t > old_max:
            problems.append(Violation(
                f"raises a timeout to {t:g} s, over the configured cap of {policy.max_timeout_s:g} s",
                "timeout_cap"))
            break
    # A changed expected value (a total, a text, a count) would make the test agree with a regression.
    lang = "py" if path.endswith(".py") else "js"
    old_expect = sorted(_expectation(ln, lang) for ln in old.splitlines() if ASSERTION.search(ln))
    new_expect = sorted(_expectation(ln, lang) for ln in new.splitlines() if ASSERTION.search(ln))
    if lost <= 0 and old_expect != new_expect:
        changed = [ln.strip() for ln in new.splitlines()
                   if ASSERTION.search(ln) and _expectation(ln, lang) not in old_expect]
        problems.append(Violation(
            "changes what an assertion expects (only selectors may change on an assertion line): "
            f"{(changed or ['?'])[0][:120]!r}", "changes_expectation"
        ))
    old_lines = {ln.strip() for ln in old.splitlines()}
    for line in new.splitlines():
        if line.strip() in old_lines:
            continue
        for strict, loose in _LOOSE:
            if loose in line and any(
                strict in o and loose not in o for o in old_lines if ASSERTION.search(o)
            ):
                if ASSERTION.search(line):
                    problems.append(Violation(f"loosens an assertion ({strict!r} to {loose!r}): "
                                              f"{line.strip()[:120]!r}", "loosens_assertion"))
                break
    return problems


def check_restart(done: int, policy: Policy, service: str) -> list[str]:
    if done >= policy.restarts_per_event:
        return [Violation(
            f"service {service!r} was already restarted {done} time(s) for this event "
            f"(cap node.policy.restarts_per_event = {policy.restarts_per_event})", "restart_cap"
        )]
    return []


def check_revert(done: int, policy: Policy) -> list[str]:
    if not policy.revert:
        return [Violation("reverting commits is off: the node's policy must set node.policy.revert = true",
                          "revert_off")]
    if done >= policy.reverts_per_event:
        return [Violation(f"already reverted {done} commit(s) for this event "
                          f"(cap {policy.reverts_per_event})", "revert_cap")]
    return []
