"""The selector playbook on a Playwright timeout whose locator is only in the stack's call log."""

from __future__ import annotations

from healloop.agent.classify import classify
from healloop.agent.context import Context
from healloop.agent.guardrails import Policy
from healloop.agent.playbooks import selector

SPEC = """test('shows the order total', async ({ page }) => {
  await page.locator('[data-testid="checkout"]').click();
});
"""
DOM = (
    '<html><body><p><button data-testid="checkout-button" onclick="checkout()">Checkout</button>'
    "</p></body></html>"
)
STACK = """Error: locator.click: Test timeout of 15000ms exceeded.
Call log:
  - waiting for locator('[data-testid="checkout"]')

    at /w/e2e/checkout.spec.js:2:52"""


def test_the_selector_is_taken_from_the_stack_when_the_message_has_none() -> None:
    message = "Test timeout of 15000ms exceeded."
    event = {"spec": "e2e/checkout.spec.js", "stack": STACK, "message": message}
    ctx = Context(event=event, info={}, policy=Policy.from_node_info({}), attempt=1, message=message,
                  spec_text=SPEC, dom=DOM, classification=classify(message, STACK, DOM))
    assert ctx.classification.kind == "selector_not_found"
    plan = selector.plan(ctx)
    assert plan is not None and not plan.escalate, plan
    edit = plan.actions[0].args["edits"][0]
    assert edit["new_text"] == """  await page.locator('[data-testid="checkout-button"]').click();\n"""


def test_a_locator_that_resolved_is_not_a_missing_element() -> None:
    message = (
        "Error: expect(locator).toHaveText(expected) failed\n\nLocator:  locator('[data-testid=\"total\"]')\n"
        'Expected: "$30.00"\nReceived: "$30.99"\nTimeout:  5000ms\n\nCall log:\n'
        "  - waiting for locator('[data-testid=\"total\"]')\n"
        '    13 × locator resolved to <strong data-testid="total">$30.99</strong>\n'
        '       - unexpected value "$30.99"'
    )
    assert classify(message).kind == "assertion_timeout"  # a rerun decides: slow or wrong
