"""Unit tests, no node process: what discard decides for one journaled file, and the journal's own
bookkeeping on a scratch state directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from healloop.errors import FileOwned
from healloop.node import undo
from healloop.node.journal import FileChange, Journal, digest
from healloop.node.workspace import Workspace

ORIG, W1, W2, PERSON, HEAD0 = (digest(x.encode()) for x in ("orig", "w1", "w2", "person", "head0"))


@pytest.mark.parametrize(
    ("change", "current", "head", "expected"),
    [
        (FileChange(ORIG, HEAD0, [W1]), W1, HEAD0, undo.RESTORE),
        (FileChange(ORIG, HEAD0, [W1, W2]), W1, HEAD0, undo.RESTORE),  # killed before writing w2
        (FileChange(ORIG, HEAD0, [W1]), ORIG, HEAD0, undo.UNCHANGED),  # killed before writing w1
        (FileChange(None, None, [W1]), W1, None, undo.REMOVE),
        (FileChange(None, None, [W1]), None, None, undo.UNCHANGED),  # created, then deleted by hand
        (FileChange(ORIG, HEAD0, [W1]), PERSON, HEAD0, undo.CHANGED_SINCE),
        (FileChange(ORIG, HEAD0, [W1]), None, HEAD0, undo.CHANGED_SINCE),  # deleted by a person
        (FileChange(ORIG, HEAD0, [W1, W2], foreign=True), W2, HEAD0, undo.CHANGED_BETWEEN),
        (FileChange(ORIG, HEAD0, [W1]), W1, W1, undo.COMMITTED),  # a pull brought the same change
        (FileChange(None, None, [W1]), W1, W1, undo.COMMITTED),
        # The event's write equals HEAD as it already was (it undid a person's dirty change): restore.
        (FileChange(ORIG, W1, [W1]), W1, W1, undo.RESTORE),
    ],
)
def test_verdict(change, current, head, expected):
    assert undo.verdict(change, current, head) == expected


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    root = tmp_path / "repo"
    root.mkdir()
    heads = {"tracked.txt": b"head\n"}
    return Journal(Workspace(root, tmp_path / "state"), heads.get)


def test_journal_keeps_the_original_of_the_first_write_and_marks_foreign_writes(journal):
    journal.record_write("evt_1", "tracked.txt", b"orig\n", b"w1\n")
    journal.record_write("evt_1", "tracked.txt", b"w1\n", b"w2\n")
    change = journal.load("evt_1").files["tracked.txt"]
    assert journal.original("evt_1", change) == b"orig\n"
    assert change.head == digest(b"head\n") and change.writes == [digest(b"w1\n"), digest(b"w2\n")]
    assert not change.foreign
    journal.record_write("evt_1", "tracked.txt", b"a person's\n", b"w3\n")
    assert journal.load("evt_1").files["tracked.txt"].foreign


def test_journal_records_created_dirs_and_the_first_branch_switch(journal):
    journal.record_write("evt_2", "a/b/new.txt", None, b"x")
    assert journal.load("evt_2").files["a/b/new.txt"].made_dirs == ["a/b", "a"]
    journal.record_switch("evt_2", "main", "healloop/revert-evt_2", created=True)
    journal.record_switch("evt_2", "healloop/revert-evt_2", "healloop/revert-evt_2", created=False)
    head = journal.load("evt_2").head
    assert head is not None and (head.before, head.created) == ("main", True)


def test_ownership_forget_and_ids_that_are_not_file_names(journal):
    journal.record_write("..", "t.txt", b"o", b"n")  # an id that would escape as a directory name
    with pytest.raises(FileOwned, match="event \\.\\."):
        journal.check_owner("t.txt", "evt_other")
    with pytest.raises(FileOwned, match="a call without event_id"):
        journal.check_owner("t.txt", None)
    journal.check_owner("t.txt", "..")  # its owner may go on
    journal.check_owner("other.txt", "evt_other")
    assert [c.event_id for c in journal.pending()] == [".."]
    assert journal.forget_files("..", ["t.txt", "never.txt"]) == ["t.txt"]
    assert journal.pending() == [] and list(journal.dir.iterdir()) == []
    journal.check_owner("t.txt", "evt_other")
