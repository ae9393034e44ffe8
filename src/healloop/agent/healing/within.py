"""Cypress's ``.within()``: the element a command inside the callback finds is looked for inside the
subject of ``.within`` only, and the failure message prints the inner command alone:

    cy.contains('li.menu-item', 'Margherita').within(() => {
      cy.contains('button', 'Add to order').click();      // "Expected to find content: 'Add to order'"
    });

So the locator that broke is the scope's steps followed by the inner command's, as if the spec had
chained them; the heal then looks inside the scope only, and rewrites the inner command alone.
"""

from __future__ import annotations

from healloop.agent.healing.locators import Step, Use
from healloop.agent.healing.source import Source


def within_scopes(src: Source, uses: list[Use]) -> dict[int, tuple[Step, ...]]:
    """For each use (by its start) inside one or more ``.within()`` callbacks: the steps of their
    subjects, outermost first. A subject the spec builds in a way not read here (a variable, an
    alias) leaves the use out: its scope is unknown, so it is not guessed."""
    by_end = {u.end: u for u in uses}
    blocks: list[tuple[int, int, Use]] = []
    for call in src.calls({"within"}):
        if call.dot < 0 or not call.args:
            continue
        subject = by_end.get(src.skip_ws_back(call.dot))
        body = call.args[-1]
        if subject is not None and ("=>" in body.text or "function" in body.text):
            blocks.append((body.start, body.end, subject))
    out: dict[int, tuple[Step, ...]] = {}
    for use in uses:
        steps: tuple[Step, ...] = ()
        # Outermost first: the blocks holding the use, widest first.
        for start, end, subject in sorted(blocks, key=lambda b: b[0]):
            if start <= use.start < end:
                steps += subject.locator.steps
        if steps:
            out[use.start] = steps
    return out
