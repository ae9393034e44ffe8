"""Words as a person reads them in names and labels."""

from __future__ import annotations

import pytest

from healloop.agent.healing.words import label_words, similarity, text_similarity, words


@pytest.mark.parametrize(
    ("plural", "singular"),
    [("cookies", "cookie"), ("movies", "movie"), ("calories", "calorie"), ("categories", "category"),
     ("replies", "reply"), ("entries", "entry"), ("guests", "guest"), ("addresses", "address"),
     ("series", "series")],
)
def test_plurals_fold_onto_their_singular(plural: str, singular: str) -> None:
    assert words(plural) == (singular,)


def test_a_class_and_a_label_that_say_the_same_words_match() -> None:
    assert similarity("cookie-accept", "Accept all cookies") > 0.5
    assert label_words("Accept all cookies") == {"accept", "cookie"}  # "all" is filler


def test_opposite_actions_never_match() -> None:
    assert similarity("export-csv", "import-csv") == 0.0
    assert text_similarity("Archive project", "Unarchive project") == 0.0


def test_a_name_that_became_one_item_of_several_is_the_same_place() -> None:
    assert text_similarity("Statements", "Statements & documents") >= 0.8
    assert text_similarity("Privacy", "Privacy and security") >= 0.8
    # An action that now does more is not the same action.
    assert text_similarity("Save", "Save and close") < 0.6
    assert text_similarity("Statements", "Download statement (PDF)") < 0.5


def test_what_a_test_types_fits_some_inputs_only() -> None:
    from healloop.agent.healing.words import fits_input

    assert not fits_input("Taxi from the airport", "date")
    assert fits_input("11/03/2025", "date") and fits_input("2025-03-11", "date")
    assert fits_input("42.50", "number") and not fits_input("forty two", "number")
    assert fits_input("jane@example.com", "email") and not fits_input("Jane Doe", "email")
    assert fits_input("anything at all", "text") and fits_input("anything", "")
