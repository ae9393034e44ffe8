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


def test_a_word_replaced_by_another_is_another_control() -> None:
    # "failed" gave way to "all": the button re-runs other jobs, not the same ones reworded.
    assert text_similarity("Re-run failed jobs", "Re-run all jobs") < 0.5
    assert text_similarity("Save draft", "Save changes") < 0.5
    # Words only added or only dropped keep the meaning.
    assert text_similarity("Re-run failed jobs", "Re-run failed jobs now") >= 0.8
    assert text_similarity("Download invoice", "Invoice") >= 0.5


def test_a_label_that_gained_a_unit_names_another_quantity() -> None:
    # "Down payment" took an amount; "Down payment (%)" takes a percent of the price.
    assert text_similarity("Down payment", "Down payment (%)") <= 0.5
    assert text_similarity("Weight (kg)", "Weight (lb)") <= 0.5
    assert similarity("downPayment", "downPaymentPct") <= 0.5
    # An amount in a text is not a unit.
    assert text_similarity("Total €31.40", "Total €32.10") > 0.0
    assert text_similarity("Weight (kg)", "Weight (kg)") == 1.0


def test_badges_tags_and_chips_are_one_thing() -> None:
    assert similarity("status-badge", "status-tag") > 0.5


def test_react_ids_are_generated_inside_longer_ids_too() -> None:
    from healloop.agent.healing.words import generated

    assert generated(":r5:-form-item") and generated("field-:rh:") and generated(":r3:")
    assert not generated("radio:red") and not generated("my:route:x")


def test_a_rate_written_with_a_slash_is_the_rate_spelled_out() -> None:
    from healloop.agent.healing.words import spell_rates, text_similarity

    assert spell_rates("flow rate (l/min)") == "flow rate (litre per minute)"
    assert spell_rates("speed (km/h)") == "speed (kilometre per hour)"
    assert spell_rates("either/or") == "either/or"  # not units: left alone
    assert text_similarity("Flow rate (L/min)", "Flow rate (litres per minute)") == 1.0
    assert text_similarity("Speed (km/h)", "Speed (kilometers per hour)") > 0.9
    # The same unit on another setting does not make it the same field.
    assert text_similarity("Flow rate (L/min)", "Low-flow alarm (litres per minute)") < 0.5


def test_ant_design_5s_dangerous_is_its_danger() -> None:
    from healloop.agent.healing.words import tokens

    # ant-btn-danger (Ant Design 3/4) became ant-btn-dangerous (5): the same button kind.
    assert set(tokens("ant-btn-danger")) == set(tokens("ant-btn-dangerous"))
