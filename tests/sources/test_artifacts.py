"""The run folder: where a run's screenshots and DOM snapshots go, what a report names, what is deleted."""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

import pytest

from healloop.errors import ConfigError
from healloop.sources.artifacts import GITIGNORE, RunFolder
from healloop.sources.failure import Artifact
from healloop.sources.settings import SourceSettings


@pytest.fixture(autouse=True)
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary-folder root of the test's own, so what is left behind can be counted."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def test_in_the_node_folder_each_run_has_its_own_ignored_subfolder(tmp_path: Path) -> None:
    root = tmp_path / "node-artifacts"  # missing: made by the first run that writes
    first, second = RunFolder(root, "a1"), RunFolder(root, "b2")
    shot = first.for_failure("tests/test_ui.py", "test_pay[chromium]") / "shot.png"
    shot.write_bytes(b"png")
    again = second.for_failure("tests/test_ui.py", "test_pay[chromium]") / "shot.png"
    again.write_bytes(b"other")
    assert shot.parent.parent == root / "run-a1" and again.parent.parent == root / "run-b2"
    assert shot.read_bytes() == b"png", "a later run does not overwrite an earlier one"
    assert (root / "run-a1" / ".gitignore").read_text() == GITIGNORE
    assert re.fullmatch(r"run-a1/tests_test_ui\.py -- test_pay_chromium-[0-9a-f]{8}/shot\.png",
                        first.reported_path(shot))
    first.cleanup()
    assert shot.is_file(), "the node reads these after the run"


def test_files_outside_the_node_folder_are_copied_in(tmp_path: Path) -> None:
    root = tmp_path / "node-artifacts"
    results = tmp_path / "test-results" / "login-shows-an-error"
    results.mkdir(parents=True)
    (results / "test-failed-1.png").write_bytes(b"\x89PNG")
    folder = RunFolder(root, "r")
    original = Artifact(results / "test-failed-1.png", "screenshot-test-failed-1.png")
    copy = folder.adopt(original, "e2e/login.spec.js", "login > shows an error")
    assert copy.path.read_bytes() == b"\x89PNG" and copy.path.is_relative_to(root / "run-r")
    assert (copy.name, copy.content_type) == ("screenshot-test-failed-1.png", "image/png")
    assert folder.adopt(copy, "e2e/login.spec.js", "login > shows an error") is copy, "already inside"
    assert folder.reported_path(original.path) == str(original.path), "outside: the path as it is"


def test_a_temporary_folder_is_deleted_at_cleanup(own_tmp: Path) -> None:
    folder = RunFolder(None, "r")
    assert not list(own_tmp.iterdir()), "nothing made before something is written"
    dom = folder.for_failure("t.py", "test_x") / "x.dom.html"
    dom.write_text("<p>")
    assert dom.is_relative_to(own_tmp) and folder.reported_path(dom) == str(dom)
    folder.cleanup()
    assert list(own_tmp.iterdir()) == []


def test_a_run_that_wrote_nothing_leaves_no_folder(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "node-artifacts", "r")
    assert folder.path.is_dir()  # an xdist controller makes it for its workers
    folder.cleanup()
    assert list((tmp_path / "node-artifacts").iterdir()) == []


def test_an_unwritable_node_folder_falls_back_to_a_temporary_one(
        tmp_path: Path, own_tmp: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "a-file").write_text("")
    folder = RunFolder(tmp_path / "a-file" / "artifacts", "r")
    with caplog.at_level(logging.WARNING):
        shot = folder.for_failure("t.py", "test_x") / "x.png"
    assert shot.is_relative_to(own_tmp) and folder.temporary
    assert "cannot write into the artifacts folder" in caplog.text
    folder.cleanup()
    assert list(own_tmp.iterdir()) == []


def test_settings_read_healloop_artifacts_and_refuse_a_file(tmp_path: Path) -> None:
    got = SourceSettings.load({"HEALLOOP_ARTIFACTS": str(tmp_path / "a" / ".." / "b")})
    assert got.artifacts_dir == tmp_path / "b"
    assert SourceSettings.load({}).artifacts_dir is None
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="HEALLOOP_ARTIFACTS must be a folder"):
        SourceSettings.load({"HEALLOOP_ARTIFACTS": str(tmp_path / "f")})
