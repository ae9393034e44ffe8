"""Every guardrail refusal names its guardrail (``healloop_agent_refusals_total{guardrail}``) and stays
the same text in the event's history."""

from __future__ import annotations

import json

import pytest

from healloop.agent.guardrails import Policy, check_patch, check_path, check_restart, check_revert, rule_of

POLICY = Policy()


@pytest.mark.parametrize(("old", "new", "rule"), [
    ("expect(a).toBe(1)\nexpect(b).toBe(2)", "expect(a).toBe(1)", "removes_assertion"),
    ("it('pays', () => {})", "it.skip('pays', () => {})", "skip_only"),
    ("cy.get('#pay').click()", "cy.get('#pay').click({ force: true })", "force"),
    ("cy.get('#pay', { timeout: 4000 })", "cy.get('#pay', { timeout: 120000 })", "timeout_cap"),
    ("    assert total([2, 3]) == 5", "    assert total([2, 3]) == 6", "changes_expectation"),
    ("expect(total).toEqual(5)", "expect(total).toBeDefined()", "loosens_assertion"),
])
def test_a_weakening_patch_names_its_guardrail(old: str, new: str, rule: str) -> None:
    problems = check_patch("tests/test_pay.py", old, new, POLICY)
    assert rule in {rule_of(p) for p in problems}, problems
    assert "other" not in {rule_of(p) for p in problems}, problems


def test_paths_and_caps_name_their_guardrails() -> None:
    assert rule_of(check_path("app/pricing.py", POLICY)[0]) == "app_code"
    assert rule_of(check_path("../x/tests/a.py", POLICY)[0]) == "outside_workspace"
    assert rule_of(check_path(".git/config", Policy(app_edits=True))[0]) == "git_internals"
    assert rule_of(check_restart(2, POLICY, "web")[0]) == "restart_cap"
    assert rule_of(check_revert(0, POLICY)[0]) == "revert_off"
    assert rule_of(check_revert(1, Policy(revert=True))[0]) == "revert_cap"


def test_a_violation_is_plain_text_in_json() -> None:
    problem = check_path("app/pricing.py", POLICY)[0]
    assert json.loads(json.dumps({"refused": [problem]})) == {"refused": [str(problem)]}
    assert rule_of("a reason from elsewhere") == "other"
