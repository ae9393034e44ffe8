"""The healed element outlined in a DOM snapshot, found by the start tag the agent recorded."""

from __future__ import annotations

from healloop.dashboard.snapshot import MARK, highlight

PAGE = (b'<!doctype html><title>shop</title><form><button data-cy="submit-order" class="primary">Pay'
        b'</button><button data-cy="cancel" class="primary">Cancel</button></form>')


def test_the_element_with_the_recorded_tag_and_attributes_is_marked() -> None:
    out, found = highlight(PAGE, '<button data-cy="submit-order" class="primary">Pay</button>')
    assert found == 1
    text = out.decode()
    assert f'data-cy="submit-order" class="primary" {MARK}=""' in text
    assert text.count(MARK) == 2  # the element, and the style that outlines it
    assert "<style>" in text and "Cancel" in text


def test_a_cut_or_unmatched_element_leaves_the_snapshot_as_it_was() -> None:
    # Cut at 120 characters by the agent: the start tag is still whole.
    out, found = highlight(PAGE, '<button data-cy="cancel" class="primary">Canc…')
    assert found == 1 and b'data-cy="cancel" class="primary" data-healloop-healed' in out
    for element_html in ('<button data-cy="gone">', "", "no markup", "<butt"):
        assert highlight(PAGE, element_html) == (PAGE, 0)
