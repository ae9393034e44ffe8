from playwright.sync_api import expect


def test_adds_a_note(notes):
    notes.get_by_test_id("note-input").fill("Buy milk")
    notes.get_by_test_id("add-note").click()
    expect(notes.get_by_test_id("notes")).to_contain_text("Buy milk")
    expect(notes.get_by_test_id("count")).to_have_text("1 note")


def test_clears_every_note(notes):
    notes.get_by_test_id("note-input").fill("Call the plumber")
    notes.get_by_test_id("add-note").click()
    notes.get_by_test_id("clear-notes").click()
    expect(notes.get_by_test_id("count")).to_have_text("0 notes")
